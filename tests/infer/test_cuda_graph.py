"""CUDA-graph inference (akmamba/infer/cuda_graph.py) against its eager reference, on the GPU.

The graphed forward replays the same kernels as the eager one, so outputs must match; the Predictor with graphs
(``cuda_graphs=True``, the default on CUDA) must give the eager Predictor's probabilities and labels, whole and
tiled. A CPU test checks that the wrapper is a plain pass-through where graphs do not apply.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from akmamba.infer import Predictor
from akmamba.infer.cuda_graph import GraphedForward
from akmamba.nn import build_model

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                   reason="needs a CUDA GPU; torch.cuda.is_available() is False")

SHIPPED_AKMAMBA = {"base_channels": 16, "akconv_levels": [1, 2, 3, 4], "mambaout_levels": [1, 2, 3]}


def test_on_cpu_the_wrapper_is_the_network() -> None:
    torch.manual_seed(0)
    net = build_model("unet", 1, 3, base_channels=8).eval()
    graphed = GraphedForward(net)
    x = torch.randn(1, 1, 64, 48)
    with torch.inference_mode():
        torch.testing.assert_close(graphed(x), net(x), rtol=0, atol=0)
    assert graphed.captured_shapes == []


@pytest.mark.parametrize(("name", "options"), [("unet", {"base_channels": 16}), ("akmamba", SHIPPED_AKMAMBA)])
@pytest.mark.cuda
@requires_cuda
def test_graphed_forward_matches_eager_on_cuda(name: str, options: dict) -> None:
    torch.manual_seed(0)
    net = build_model(name, 3, 2, **options).cuda().eval()
    graphed = GraphedForward(net, max_graphs=2)
    shapes = [(1, 3, 592, 576), (2, 3, 256, 256), (1, 3, 592, 576), (1, 3, 128, 96)]
    with torch.inference_mode():
        for shape in shapes:
            x = torch.randn(*shape, device="cuda")
            reference = net(x)
            out = graphed(x)
            torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-4)
            x.add_(1.0)  # a later input through the same graph gives that input's answer, not a stale one
            torch.testing.assert_close(graphed(x), net(x), rtol=1e-4, atol=1e-4)
    assert len(graphed.captured_shapes) == 2  # the least recently used shapes were dropped
    assert graphed.captured_shapes[-1] == (1, 3, 128, 96)


@pytest.mark.cuda
@requires_cuda
def test_graphs_are_eager_with_autograd_on() -> None:
    net = build_model("unet", 1, 2, base_channels=8).cuda().eval()
    graphed = GraphedForward(net)
    out = graphed(torch.randn(1, 1, 64, 64, device="cuda"))
    assert out.requires_grad
    assert graphed.captured_shapes == []


@pytest.mark.cuda
@requires_cuda
@pytest.mark.parametrize("roi_size", [1024, 256])
def test_predictor_with_graphs_matches_eager_predictor(roi_size: int) -> None:
    rng = np.random.default_rng(0)
    image = (rng.random((584, 565, 3)) * 255).astype(np.uint8)
    graphed = Predictor.from_checkpoint("akmamba-drive", device="cuda", roi_size=roi_size, cuda_graphs=True)
    eager = Predictor.from_checkpoint("akmamba-drive", device="cuda", roi_size=roi_size, cuda_graphs=False)
    assert graphed.cuda_graphs
    assert not eager.cuda_graphs
    for _ in range(2):  # the second call replays the graphs captured by the first
        a, b = graphed.predict(image), eager.predict(image)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-4)
        assert (a.labels == b.labels).mean() > 0.9999
    assert graphed._graphed is not None
    assert graphed._graphed.captured_shapes
