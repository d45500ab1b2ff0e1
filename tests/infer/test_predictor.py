from __future__ import annotations

import itertools

import numpy as np
import pytest

from akmamba.errors import CancelledError, ShapeError
from akmamba.infer import Prediction, Predictor
from akmamba.infer.tiling import MemoryFallbackWarning

RNG = np.random.default_rng(0)


def _predictor(model, **kw) -> Predictor:
    return Predictor(model, {"model": model.akmamba_config, "version": "t"}, "cpu", **kw)


def test_probs_sum_to_one_and_shapes(tiny_model) -> None:
    image = RNG.integers(0, 255, (37, 53, 3), dtype=np.uint8)  # RGB into a grey model
    result = _predictor(tiny_model).predict(image)
    assert isinstance(result, Prediction)
    assert result.probs is not None
    assert result.probs.shape == (2, 37, 53)
    assert result.probs.dtype == np.float32
    assert result.labels.shape == (37, 53)
    assert result.labels.dtype == np.uint8
    np.testing.assert_allclose(result.probs.sum(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(result.labels, result.probs.argmax(0))
    assert set(result.model_info) == {"name", "version", "sha256"}


def test_tiled_agrees_with_whole_image(tiny_model) -> None:
    image = RNG.random((150, 170)).astype(np.float32)
    whole = _predictor(tiny_model, roi_size=512).predict(image)
    tiled = _predictor(tiny_model, roi_size=64, overlap=0.25).predict(image)
    assert whole.probs is not None
    assert tiled.probs is not None
    diff = np.abs(whole.probs - tiled.probs)
    # Tiles see zero padding at their borders; Gaussian blending keeps the effect small.
    assert diff.mean() < 2e-3
    assert diff.max() < 0.05
    assert (whole.labels == tiled.labels).mean() > 0.99


def test_progress_is_monotone_and_ends_at_one(tiny_model) -> None:
    seen: list[float] = []
    _predictor(tiny_model, roi_size=64).predict(RNG.random((100, 120)), progress=seen.append)
    assert len(seen) > 2
    assert all(b > a for a, b in itertools.pairwise(seen))
    assert seen[-1] == 1.0
    assert seen[0] >= 0.0


def test_cancel_raises(tiny_model) -> None:
    calls = [0]

    def should_stop() -> bool:
        calls[0] += 1
        return calls[0] > 3

    with pytest.raises(CancelledError):
        _predictor(tiny_model, roi_size=64).predict(RNG.random((150, 150)), should_stop=should_stop)


def test_generator_form_yields_progress_and_returns_result(tiny_model) -> None:
    p = _predictor(tiny_model, roi_size=64)
    image = RNG.random((100, 100))
    gen = p.iter_predict(image)
    fractions = []
    while True:
        try:
            fractions.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert fractions[-1] == 1.0
    assert result.probs is not None
    np.testing.assert_allclose(result.probs, p.predict(image).probs, atol=1e-6)


def test_generator_close_and_should_stop_cancel(tiny_model) -> None:
    p = _predictor(tiny_model, roi_size=64)
    gen = p.iter_predict(RNG.random((150, 150)))
    next(gen)
    gen.close()  # must not hang: the helper thread is stopped and joined
    with pytest.raises(CancelledError):
        list(p.iter_predict(RNG.random((150, 150)), should_stop=lambda: True))


def test_oom_retries_with_smaller_tiles(tiny_model, fail_above) -> None:
    p = _predictor(tiny_model, roi_size=512)
    sizes = fail_above(p.model)
    seen: list[float] = []
    with pytest.warns(MemoryFallbackWarning, match="retrying with"):
        result = p.predict(RNG.random((300, 280)), progress=seen.append)
    assert result.roi_size == 128
    assert result.labels.shape == (300, 280)
    assert sizes[0] == 300
    assert 256 in sizes
    assert all(b > a for a, b in itertools.pairwise(seen))
    assert seen[-1] == 1.0


def test_volume_prediction(tiny_model) -> None:
    vol = RNG.random((4, 30, 40)).astype(np.float32)
    seen: list[float] = []
    p = _predictor(tiny_model)
    result = p.predict_volume(vol, progress=seen.append)
    assert result.labels.shape == (4, 30, 40)
    assert result.labels.dtype == np.uint8
    assert result.probs is not None
    assert result.probs.shape == (2, 4, 30, 40)
    np.testing.assert_allclose(result.probs[:, 2], p.predict(vol[2]).probs, atol=1e-6)
    assert all(b > a for a, b in itertools.pairwise(seen))
    assert seen[-1] == 1.0
    assert p.predict_volume(vol, return_probs=False).probs is None
    with pytest.raises(ShapeError):
        p.predict_volume(vol[0])


def test_from_checkpoint_by_path_and_name(tiny_checkpoint) -> None:
    by_path = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    assert by_path.model_info["name"] == "tiny-vessels"
    assert by_path.model_info["version"] == "0.1-test"
    assert len(by_path.model_info["sha256"]) == 64
    assert by_path.label_names == {0: "background", 1: "vessel"}
    by_name = Predictor.from_checkpoint("tiny-vessels", device="cpu", models_dir=tiny_checkpoint.parent)
    assert by_name.checkpoint == tiny_checkpoint


def test_labels_follow_the_one_rule_for_three_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The predictor's labels are akmamba.decision's: p = (0.45, 0.30, 0.25) is background, as in the viewer."""
    import torch

    from akmamba.decision import labels_from_probs
    from akmamba.nn import build_model

    model = build_model("unet", 1, 3, base_channels=4, depth=2).eval()
    logits = torch.log(torch.tensor([0.45, 0.30, 0.25]))

    def forward(x: torch.Tensor) -> torch.Tensor:
        return logits[None, :, None, None].expand(x.shape[0], 3, *x.shape[-2:]).clone()

    monkeypatch.setattr(model, "forward", forward)
    result = _predictor(model).predict(RNG.random((16, 16)).astype(np.float32))
    assert result.probs is not None
    np.testing.assert_allclose(result.probs[:, 0, 0], [0.45, 0.30, 0.25], atol=1e-5)
    assert not result.labels.any()
    np.testing.assert_array_equal(result.labels, labels_from_probs(result.probs))
