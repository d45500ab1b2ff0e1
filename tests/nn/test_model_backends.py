"""Akmamba-Net gives the same logits with every available scan backend (catches SS2D misusing a kernel)."""

from __future__ import annotations

import pytest
import torch

from akmamba.nn import build_model
from akmamba.nn.blocks.ss2d import SS2D
from akmamba.ops import available_backends


def _logits(backend: str, device: str, x: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    model = build_model("akmamba", 1, 3, base_channels=4, depth=2, scan_backend="torch")
    # one training forward on the CPU so that BatchNorm statistics are not at their initial values
    model.train()
    model(x.to("cpu")).sum().backward()
    model.eval()
    for module in model.modules():
        if isinstance(module, SS2D):
            module.scan_backend = backend
    with torch.no_grad():
        return model.to(device)(x.to(device)).cpu()


@pytest.mark.slow
def test_torch_and_reference_backends_agree_in_model() -> None:
    x = torch.randn(1, 1, 13, 21)
    torch.testing.assert_close(_logits("torch", "cpu", x), _logits("reference", "cpu", x), atol=1e-4, rtol=1e-4)


_cuda_backends = [b.name for b in available_backends() if b.name != "reference"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
@pytest.mark.parametrize("backend", _cuda_backends)
def test_cuda_backends_agree_with_cpu_reference(backend: str) -> None:
    info = {b.name: b for b in available_backends(torch.device("cuda"))}[backend]
    if not info.available:
        pytest.skip(info.reason)
    x = torch.randn(2, 1, 37, 53)
    torch.testing.assert_close(_logits(backend, "cuda", x), _logits("reference", "cpu", x), atol=2e-3, rtol=2e-3)
