"""CUDA graphs for inference: one captured forward per input shape, replayed instead of launched kernel by kernel.

A batch-1 forward of the shipped Akmamba-Net launches a few hundred small kernels (AKConv's sampling, the fused
scan, norms, projections); on an H100 the GPU finishes each faster than Python can launch the next, so the
forward's time is the launch time. A CUDA graph records the launches once and replays them with one call.

:class:`GraphedForward` wraps a network in eval mode. For each input ``(shape, dtype, device)`` it first runs the
network eagerly on a side stream (warm-up: Triton's compilation, cuDNN's algorithm choice), then captures one
forward into a graph with static input and output buffers; later calls copy the input in, replay, and return a
copy of the output. The eager network is the reference: ``GraphedForward(net)(x)`` equals ``net(x)`` up to
floating-point reordering of identical kernels (tests/infer/test_cuda_graph.py compares them on the GPU).

It falls back to the eager network, per shape and with one warning, when capture fails (an operation that
synchronises with the host or allocates on the CPU inside the forward), and it is eager whenever autograd is on
or the input is not on a CUDA device.
"""

from __future__ import annotations

import logging
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from akmamba.infer.tiling import is_out_of_memory

log = logging.getLogger(__name__)

#: captured shapes kept per wrapped network (each holds its own memory pool); the least recently used goes first
MAX_GRAPHS = 4
WARMUP_RUNS = 3


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    static_in: torch.Tensor
    static_out: torch.Tensor


class GraphedForward:
    """``net`` with its forward replayed from a CUDA graph per input shape.

    Args:
        net: a network in eval mode, ``(B, C, H, W) -> (B, K, H, W)``, on a CUDA device.
        max_graphs: captured shapes kept (least recently used dropped first).

    Calling it with ``x`` ``(B, C, H, W)`` on CUDA, autograd off, returns ``(B, K, H, W)`` like ``net(x)``; the
    result is a fresh tensor (the graph's output buffer is copied), so it stays valid after the next call.
    """

    def __init__(self, net: nn.Module, max_graphs: int = MAX_GRAPHS) -> None:
        self.net = net
        self.max_graphs = max(int(max_graphs), 1)
        self._graphs: OrderedDict[tuple, _Captured] = OrderedDict()
        self._eager: set[tuple] = set()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cuda" or torch.is_grad_enabled():
            return self.net(x)
        key = (tuple(x.shape), x.dtype, x.device, torch.is_autocast_enabled("cuda"))
        if key in self._eager:
            return self.net(x)
        captured = self._graphs.get(key)
        if captured is None:
            captured = self._capture(x, key)
            if captured is None:
                return self.net(x)
        else:
            self._graphs.move_to_end(key)
        captured.static_in.copy_(x)
        captured.graph.replay()
        return captured.static_out.clone()

    def clear(self) -> None:
        """Drop every captured graph (and with it the memory its pool holds)."""
        self._graphs.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @property
    def captured_shapes(self) -> list[tuple[int, ...]]:
        """Input shapes with a graph, least recently used first."""
        return [key[0] for key in self._graphs]

    def _capture(self, x: torch.Tensor, key: tuple) -> _Captured | None:
        static_in = x.clone()
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        try:
            with torch.cuda.stream(side):
                for _ in range(WARMUP_RUNS):
                    self.net(static_in)
            torch.cuda.current_stream(x.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.net(static_in)
        except RuntimeError as exc:  # capture refused: something in the forward syncs or is not capturable
            torch.cuda.synchronize(x.device)
            if is_out_of_memory(exc):  # not a capture problem: free every graph's pool, let the caller retry
                self.clear()
                raise
            self._eager.add(key)
            warnings.warn(f"CUDA graph capture failed for input {tuple(x.shape)} ({str(exc).splitlines()[0]}); "
                          "this shape runs eagerly (same result, more launch time).", RuntimeWarning, stacklevel=3)
            return None
        captured = _Captured(graph, static_in, static_out)
        self._graphs[key] = captured
        while len(self._graphs) > self.max_graphs:
            self._graphs.popitem(last=False)
        log.debug("captured a CUDA graph for input %s", tuple(x.shape))
        return captured
