from __future__ import annotations

import pytest
import torch

from akmamba.errors import ConfigError, OutOfMemoryError
from akmamba.infer.tiling import MemoryFallbackWarning, count_windows, tiled_logits, with_oom_fallback


def test_count_windows_matches_monai_calls(tiny_model) -> None:
    x = torch.randn(1, 1, 150, 170)
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            calls.append(t.shape[0])
            return tiny_model(t)

    tiled_logits(Counting(), x, torch.device("cpu"), roi_size=64, overlap=0.25)
    assert sum(calls) == count_windows((150, 170), (64, 64), 0.25)
    assert count_windows((100, 100), (512, 512), 0.25) == 1


def test_small_image_runs_whole(tiny_model) -> None:
    shapes = []

    def net(t: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(t.shape))
        return tiny_model(t)

    out = tiled_logits(net, torch.randn(1, 1, 40, 60), torch.device("cpu"), roi_size=64)  # type: ignore[arg-type]
    assert shapes == [(1, 1, 40, 60)]
    assert out.shape == (1, 2, 40, 60)


def test_bad_options_raise_config_error(tiny_model) -> None:
    with pytest.raises(ConfigError, match="overlap"):
        tiled_logits(tiny_model, torch.randn(1, 1, 8, 8), torch.device("cpu"), overlap=1.0)


def test_oom_fallback_halves_then_goes_to_cpu() -> None:
    tried = []

    def run(roi: int, device: torch.device) -> str:
        tried.append((roi, device.type))
        if device.type != "cpu":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return "ok"

    with pytest.warns(MemoryFallbackWarning) as record:
        assert with_oom_fallback(run, 512, torch.device("meta")) == "ok"
    assert tried == [(512, "meta"), (256, "meta"), (128, "meta"), (512, "cpu")]
    assert len(record) == 3


def test_oom_on_cpu_at_min_roi_is_raised() -> None:
    def run(roi: int, device: torch.device) -> None:
        raise torch.cuda.OutOfMemoryError("simulated")

    with pytest.warns(MemoryFallbackWarning), pytest.raises(OutOfMemoryError, match="Out of memory while"):
        with_oom_fallback(run, 256, torch.device("cpu"))


def test_a_fundus_sized_image_runs_whole_in_one_forward(tiny_model) -> None:
    shapes = []

    def net(t: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(t.shape))
        return tiny_model(t)

    out = tiled_logits(net, torch.randn(1, 1, 584, 565), torch.device("cpu"))  # type: ignore[arg-type]
    assert shapes == [(1, 1, 584, 565)]  # one pass, not four overlapping 512 tiles
    assert out.shape == (1, 2, 584, 565)
    shapes.clear()
    tiled_logits(net, torch.randn(1, 1, 584, 565), torch.device("cpu"), roi_size=256)  # type: ignore[arg-type]
    assert len(shapes) == count_windows((584, 565), (256, 256), 0.25) > 1  # a shrunk tile (after OOM) tiles
    shapes.clear()
    tiled_logits(net, torch.randn(1, 1, 1100, 1000), torch.device("cpu"))  # type: ignore[arg-type]
    assert len(shapes) > 1  # above WHOLE_MAX_PIXELS: tiled
