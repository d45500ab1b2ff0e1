"""Test-time augmentation in the Predictor: equivariant models are unchanged, a toy model matches the average
computed by hand, passes are counted in progress, cancel and the out-of-memory fallback still work."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from akmamba.cli import main
from akmamba.data.normalize import normalise, to_channels_first
from akmamba.errors import CancelledError, ConfigError
from akmamba.infer import Predictor
from akmamba.infer.tiling import MemoryFallbackWarning
from akmamba.infer.tta import TTA_MODES, Dihedral, tta_transforms

RNG = np.random.default_rng(3)


class PixelNet(nn.Module):
    """A 1x1 convolution: every output pixel depends on its own input pixel only, so it commutes with flips and
    rotations (TTA must not change its output)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * 4.0


class SkewNet(nn.Module):
    """A 3x3 convolution with an asymmetric kernel plus a left-to-right ramp: not equivariant to any flip."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(-2.0, 2.0, x.shape[-1])
        out = self.conv(x) * 3.0
        return torch.stack([out[:, 0], out[:, 1] + ramp], 1)


def _predictor(model: nn.Module, classes: int, **kw) -> Predictor:
    meta = {"model": {"name": "toy", "in_channels": 1, "num_classes": classes}, "version": "t"}
    return Predictor(model, meta, "cpu", **kw)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(0, keepdims=True))
    return e / e.sum(0, keepdims=True)


def test_transforms_are_inverted_and_distinct() -> None:
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 2, 3, 5)
    for mode, n in (("none", 1), ("flips", 4), ("d4", 8)):
        ts = tta_transforms(mode)
        assert len(ts) == n
        assert ts[0] == Dihedral()
        outs = {t.apply(x).numpy().tobytes() for t in ts}
        assert len(outs) == n  # no transform repeated
        for t in ts:
            torch.testing.assert_close(t.invert(t.apply(x)), x, rtol=0, atol=0)
    assert {t.name for t in tta_transforms("flips")} == {"identity", "flip", "flip+rot180", "rot180"}
    assert tta_transforms("d4")[1].apply(x).shape == (1, 2, 5, 3)


def test_equivariant_model_gives_the_same_output_with_and_without_tta() -> None:
    image = RNG.random((70, 90)).astype(np.float32)  # larger than the tile: tiling + rotation of a non-square image
    plain = _predictor(PixelNet(), 3, roi_size=32).predict(image)
    for mode in ("flips", "d4"):
        result = _predictor(PixelNet(), 3, roi_size=32, tta=mode).predict(image)
        assert result.tta == mode
        assert result.probs is not None
        assert plain.probs is not None
        np.testing.assert_allclose(result.probs, plain.probs, atol=1e-6)
        np.testing.assert_array_equal(result.labels, plain.labels)


@pytest.mark.parametrize("mode", ["flips", "d4"])
def test_tta_equals_the_hand_computed_average(mode: str) -> None:
    image = RNG.random((24, 37)).astype(np.float32)
    model = SkewNet().eval()
    x = normalise(to_channels_first(image, 1), "zscore")[0]  # what the predictor feeds the network, (H, W)

    def probs_of(view: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = model(torch.from_numpy(np.ascontiguousarray(view))[None, None])[0].numpy()
        return _softmax(logits)

    # the views written out with numpy, independently of akmamba.infer.tta: (forward, inverse on (K, h, w))
    views = [(lambda a: a, lambda p: p),
             (lambda a: a[:, ::-1], lambda p: p[:, :, ::-1]),
             (lambda a: a[::-1, :], lambda p: p[:, ::-1, :]),
             (lambda a: a[::-1, ::-1], lambda p: p[:, ::-1, ::-1])]
    if mode == "d4":
        views += [(lambda a, k=k: np.rot90(a, k), lambda p, k=k: np.rot90(p, -k, axes=(1, 2))) for k in (1, 3)]
        views += [(lambda a, k=k: np.rot90(a[:, ::-1], k), lambda p, k=k: np.rot90(p, -k, axes=(1, 2))[:, :, ::-1])
                  for k in (1, 3)]
    expected = np.mean([inv(probs_of(fwd(x))) for fwd, inv in views], axis=0)

    result = _predictor(model, 2, tta=mode).predict(image)
    plain = _predictor(model, 2).predict(image)
    assert result.probs is not None
    assert plain.probs is not None
    np.testing.assert_allclose(result.probs, expected, atol=1e-5)
    np.testing.assert_array_equal(result.labels, expected.argmax(0))
    assert np.abs(result.probs - plain.probs).max() > 1e-2  # the toy model really is not equivariant


def test_progress_counts_every_pass() -> None:
    image = RNG.random((100, 120))
    plain: list[float] = []
    _predictor(PixelNet(), 3, roi_size=64).predict(image, progress=plain.append)
    for mode, n in (("flips", 4), ("d4", 8)):
        seen: list[float] = []
        _predictor(PixelNet(), 3, roi_size=64, tta=mode).predict(image, progress=seen.append)
        assert len(seen) == n * len(plain)  # every tile of every pass reports (rotations tile 120x100 alike)
        assert all(b > a for a, b in itertools.pairwise(seen))
        assert seen[-1] == 1.0
        assert seen[len(plain) - 1] == pytest.approx(1 / n)  # the first pass fills 1/n of the range


def test_cancel_during_a_later_pass() -> None:
    calls = [0]

    def should_stop() -> bool:
        calls[0] += 1
        return calls[0] > 12

    p = _predictor(PixelNet(), 3, roi_size=64, tta="flips")
    seen: list[float] = []
    with pytest.raises(CancelledError):
        p.predict(RNG.random((100, 120)), progress=seen.append, should_stop=should_stop)
    assert 0.25 < seen[-1] < 1.0  # stopped inside a pass after the first
    with pytest.raises(CancelledError):
        list(p.iter_predict(RNG.random((100, 120)), should_stop=lambda: True))


def test_oom_fallback_happens_once_and_later_passes_keep_the_smaller_tile(fail_above) -> None:
    p = _predictor(PixelNet(), 3, roi_size=512, tta="flips")
    sizes = fail_above(p.model)
    seen: list[float] = []
    with pytest.warns(MemoryFallbackWarning) as record:
        result = p.predict(RNG.random((300, 280)), progress=seen.append)
    assert len(record) == 2  # 512 -> 256 -> 128 in the first pass only
    assert result.roi_size == 128
    assert result.tta == "flips"
    assert result.labels.shape == (300, 280)
    first_ok = sizes.index(128)
    assert all(s <= 128 for s in sizes[first_ok:])
    assert all(b > a for a, b in itertools.pairwise(seen))
    assert seen[-1] == 1.0


def test_volume_slices_with_tta() -> None:
    vol = RNG.random((3, 20, 26)).astype(np.float32)
    p = _predictor(SkewNet().eval(), 2, tta="d4")
    seen: list[float] = []
    result = p.predict_volume(vol, progress=seen.append)
    assert result.tta == "d4"
    assert result.probs is not None
    assert result.probs.shape == (2, 3, 20, 26)
    np.testing.assert_allclose(result.probs[:, 1], p.predict(vol[1]).probs, atol=1e-6)
    assert len(seen) == 3 * 8
    assert all(b > a for a, b in itertools.pairwise(seen))


def test_unknown_mode_names_the_parameter(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match=r"Unknown tta 'flip'\. Did you mean 'flips'") as info:
        _predictor(PixelNet(), 3, tta="flip")
    assert info.value.parameter == "tta"
    assert set(TTA_MODES) <= set(info.value.expected)
    image = tmp_path / "a.npy"
    np.save(image, RNG.random((20, 20)))
    assert main(["predict", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "o"), "--tta", "rot",
                 str(image)]) == 1
    err = capsys.readouterr().err
    assert "Unknown tta 'rot'" in err
    assert "d4, flips, none" in err
    assert "Traceback" not in err


def test_predict_cli_records_tta_and_refuses_to_mix(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    from PIL import Image as PILImage

    image, other = tmp_path / "a.png", tmp_path / "b.png"
    PILImage.fromarray(RNG.integers(0, 255, (30, 44), dtype=np.uint8)).save(image)
    PILImage.fromarray(RNG.integers(0, 255, (30, 44), dtype=np.uint8)).save(other)
    out = tmp_path / "out"
    base = ["predict", "--model", str(tiny_checkpoint), "--out", str(out), "--device", "cpu", "--probs"]
    assert main([*base, "--tta", "flips", str(image)]) == 0
    record = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert record["tta"] == "flips"
    assert record["tta_passes"] == 4
    assert "test-time augmentation flips" in capsys.readouterr().err
    expected = Predictor.from_checkpoint(tiny_checkpoint, "cpu", tta="flips").predict(np.asarray(
        PILImage.open(image))).probs
    np.testing.assert_allclose(np.load(out / "a_probs.npy"), expected, atol=1e-6)
    # another TTA mode into the same folder is refused (without --overwrite), and says why
    assert main([*base, str(other)]) == 1
    assert "test-time augmentation 'flips'" in capsys.readouterr().err
    assert not (out / "b.png").exists()
    assert main([*base, "--overwrite", str(other)]) == 0
    assert json.loads((out / "model.json").read_text(encoding="utf-8"))["tta"] == "none"


def test_evaluate_report_names_the_tta_of_the_predictions(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    from PIL import Image as PILImage

    (tmp_path / "gt").mkdir()
    image = tmp_path / "a.png"
    PILImage.fromarray(RNG.integers(0, 255, (30, 44), dtype=np.uint8)).save(image)
    PILImage.fromarray((RNG.random((30, 44)) > 0.5).astype(np.uint8) * 255).save(tmp_path / "gt" / "a.png")
    pred = tmp_path / "pred"
    assert main(["predict", "--model", str(tiny_checkpoint), "--out", str(pred), "--device", "cpu", "--tta", "d4",
                 str(image)]) == 0
    report = tmp_path / "report.json"
    assert main(["evaluate", "--pred", str(pred), "--gt", str(tmp_path / "gt"), "--out", str(report)]) == 0
    assert json.loads(report.read_text(encoding="utf-8"))["model"]["tta"] == "d4"
    capsys.readouterr()
