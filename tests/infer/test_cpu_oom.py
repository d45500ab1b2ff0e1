"""CPU out-of-memory during prediction becomes a message with advice, as the CUDA fallback does (issue 22 item 14).

Memory never runs out for real here: the network (or the tile runner) raises what torch's CPU allocator raises,
and the volume test asks for outputs so large (a zero-stride input view) that numpy refuses at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from akmamba.cli import main
from akmamba.errors import AkmambaError, OutOfMemoryError
from akmamba.infer import Predictor
from akmamba.infer.tiling import MemoryFallbackWarning, is_out_of_memory, with_oom_fallback

CPU_OOM = ("DefaultCPUAllocator: can't allocate memory: you tried to allocate 4294967296 bytes. Error code 12 "
           "(Cannot allocate memory)")


def _predictor(model, **kw) -> Predictor:
    return Predictor(model, {"model": model.akmamba_config, "version": "t"}, "cpu", **kw)


@pytest.mark.parametrize("error", [RuntimeError(CPU_OOM), MemoryError()])
def test_cpu_oom_halves_tiles_then_explains(error: BaseException) -> None:
    tried = []

    def run(roi: int, device: torch.device) -> None:
        tried.append(roi)
        raise error

    with pytest.warns(MemoryFallbackWarning), pytest.raises(OutOfMemoryError) as info:
        with_oom_fallback(run, 512, torch.device("cpu"))
    assert tried == [512, 256, 128]
    message = info.value.message
    assert "Out of memory while segmenting with 128x128 tiles on the CPU" in message
    assert "--roi-size" in message
    assert "--tta none" in message
    assert isinstance(info.value, MemoryError)


def test_other_runtime_errors_are_not_taken_for_oom() -> None:
    def run(roi: int, device: torch.device) -> None:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        with_oom_fallback(run, 512, torch.device("cpu"))
    assert not is_out_of_memory(OutOfMemoryError("already explained"))
    assert is_out_of_memory(RuntimeError(CPU_OOM))


def test_predictor_turns_cpu_allocator_failure_into_advice(tiny_model, monkeypatch) -> None:
    def forward(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError(CPU_OOM)

    p = _predictor(tiny_model)
    monkeypatch.setattr(p.model, "forward", forward)
    with pytest.warns(MemoryFallbackWarning), pytest.raises(OutOfMemoryError, match="Close other programs"):
        p.predict(np.zeros((40, 40), np.float32))


def test_volume_outputs_too_large_for_memory_are_explained(tiny_model) -> None:
    huge = np.broadcast_to(np.zeros(1, np.float32), (100_000, 100_000, 100_000))  # no memory: zero strides
    with pytest.raises(OutOfMemoryError, match="100000x100000x100000 volume") as info:
        _predictor(tiny_model).predict_volume(huge)
    assert "no --probs" in info.value.message


def test_predict_cli_names_the_file_and_gives_advice(tmp_path: Path, tiny_checkpoint: Path, monkeypatch,
                                                     capsys) -> None:
    image = tmp_path / "in" / "case.png"
    image.parent.mkdir()
    PILImage.fromarray(np.zeros((40, 56), np.uint8)).save(image)

    def tiled(*args: object, **kwargs: object) -> None:
        raise RuntimeError(CPU_OOM)

    monkeypatch.setattr("akmamba.infer.predictor.tiled_logits", tiled)
    with pytest.warns(MemoryFallbackWarning):
        code = main(["predict", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "out"), "--device", "cpu",
                     str(image)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert "case.png" in err
    assert "Out of memory while segmenting" in err
    assert not (tmp_path / "out" / "case.png").exists()
    assert issubclass(OutOfMemoryError, AkmambaError)
