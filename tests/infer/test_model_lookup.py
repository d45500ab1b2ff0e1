from __future__ import annotations

import json
from pathlib import Path

import pytest

from akmamba.cli import main
from akmamba.errors import CheckpointError
from akmamba.infer import models
from akmamba.infer.models import list_shipped_models, resolve_model


def test_list_and_resolve(tiny_checkpoint: Path, tmp_path: Path) -> None:
    (tiny_checkpoint.parent / "broken.safetensors").write_bytes(b"not a checkpoint")
    entries = list_shipped_models(dirs=[tiny_checkpoint.parent])
    assert [e.name for e in entries] == ["broken", "tiny-vessels"]
    assert entries[0].error
    assert entries[1].error is None
    assert entries[1].summary["architecture"] == "unet"
    assert entries[1].summary["labels"] == ["vessel"]
    assert resolve_model("tiny-vessels", dirs=[tiny_checkpoint.parent]) == tiny_checkpoint
    assert resolve_model(tiny_checkpoint) == tiny_checkpoint


def test_unknown_name_suggests(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="Did you mean 'tiny-vessels'"):
        resolve_model("tiny-vessel", dirs=[tiny_checkpoint.parent])
    with pytest.raises(CheckpointError, match="no models are installed"):
        resolve_model("akmamba-drive", dirs=[tmp_path / "empty"])
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_model(str(tmp_path / "missing.safetensors"))


def test_env_override(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKMAMBA_MODELS_DIR", str(tiny_checkpoint.parent))
    assert "tiny-vessels" in [e.name for e in list_shipped_models()]


def test_models_command_without_and_with_models(tiny_checkpoint: Path, tmp_path: Path, capsys,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AKMAMBA_MODELS_DIR", raising=False)
    monkeypatch.setattr(models, "default_model_dirs", lambda d=None: [Path(d)] if d else [tmp_path / "none"])
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "Installed models: none" in out
    assert "unet" in out
    assert main(["models", "--models-dir", str(tiny_checkpoint.parent), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    installed = [r for r in rows if r["kind"] == "installed"]
    assert [r["name"] for r in installed] == ["tiny-vessels"]
    assert {"akmamba", "unet"} <= {r["name"] for r in rows if r["kind"] == "architecture"}


def test_model_card_validation_and_limits_are_listed(capsys) -> None:
    card = {"limits": "EXPERIMENTAL: misses tumour", "validation": {
        "how": "3 folds by case", "tumor": {"dice_mean": 0.3215, "dice_sd": 0.0911, "kind": "pooled", "folds": 3},
        "wall": {"dice_mean": 0.7657, "kind": "pooled", "folds": 3}}}
    summary = models.card_summary(card)
    assert summary["validation"] == "Dice tumor 32.1 ± 9.1 (pooled, 3 folds); wall 76.6 (pooled, 3 folds)"
    assert summary["limits"] == "EXPERIMENTAL: misses tumour"
    anchor = {"anchor": "nnU-Net v2 2d, 240 s", "equal_gpu_time": False, "mean_difference": 4.93,
              "folds": [{"fold": 0, "difference": -1.24}, {"fold": 1, "difference": 11.12}]}
    assert models.card_summary({**card, "anchor": anchor})["vs_nnunet"] == (
        "this recipe minus nnU-Net v2 2d, 240 s, mean of wall and tumour per-case Dice by fold: -1.2, +11.1 "
        "(mean +4.9; not at equal GPU time)")
    assert "vs_nnunet" not in summary
    assert models.card_summary(None) == {}
    assert models.card_summary({"validation": {"how": "x"}}) == {}


def test_shipped_models_carry_their_card_to_the_listing(capsys) -> None:
    shipped = {e.name: e for e in list_shipped_models()}
    if "akmamba-bladder" not in shipped:
        pytest.skip("the shipped models are not installed here")
    for name, entry in shipped.items():
        assert entry.summary.get("validation", "").startswith("Dice "), name
        assert entry.summary.get("limits"), name
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "limits: EXPERIMENTAL" in out
