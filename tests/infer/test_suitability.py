"""Which installed model the viewer offers for an image, and why a model does not suit one
(akmamba.infer.suitability)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from akmamba.infer.models import ModelEntry, list_shipped_models
from akmamba.infer.suitability import checkpoint_mismatch, input_mismatch, offer_model
from akmamba.nn import build_model, save_checkpoint


def _entry(name: str, arch: str, channels: int | None, error: str | None = None) -> ModelEntry:
    summary = {"architecture": arch, "in_channels": channels, "modality": f"{name} images"} if channels else {}
    return ModelEntry(name, Path(f"/m/{name}.safetensors"), summary, error)


ENTRIES = [_entry("akmamba-bladder", "akmamba", 1), _entry("akmamba-drive", "akmamba", 3),
           _entry("unet-bladder", "unet", 1), _entry("unet-drive", "unet", 3)]


@pytest.mark.parametrize(("channels", "want"), [(3, "akmamba-drive"), (4, "akmamba-drive"), (1, "akmamba-bladder")])
def test_offer_prefers_a_suitable_akmamba_model(channels: int, want: str) -> None:
    assert offer_model(ENTRIES, channels).name == want
    assert offer_model(ENTRIES, channels, "/m/akmamba-bladder.safetensors").name == want


def test_offer_keeps_a_suitable_choice_and_a_users_own_checkpoint() -> None:
    assert offer_model(ENTRIES, 3, "/m/unet-drive.safetensors").name == "unet-drive"
    assert offer_model(ENTRIES, 3, "/elsewhere/mine.safetensors") is None  # not installed: left to the user
    only_unet = [e for e in ENTRIES if e.summary["architecture"] == "unet"]
    assert offer_model(only_unet, 1).name == "unet-bladder"
    unreadable = [_entry("broken", "akmamba", None, error="bad header"), _entry("silent", "akmamba", None)]
    assert offer_model(unreadable, 3) is None  # nothing says it suits: nothing is offered


def test_mismatch_says_what_the_model_takes_and_what_the_image_is() -> None:
    note = input_mismatch("akmamba-bladder", ENTRIES[0].summary, 3)
    assert note.startswith("akmamba-bladder was trained on grey (1-channel) images: akmamba-bladder images.")
    assert "The image is colour (3-channel)" in note
    assert input_mismatch("akmamba-bladder", ENTRIES[0].summary, 1) is None
    assert input_mismatch("old", {"architecture": "unet"}, 3) is None  # no in_channels recorded: no claim


def test_checkpoint_mismatch_reads_the_metadata(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "grey.safetensors"
    save_checkpoint(build_model("unet", 1, 2, base_channels=4, depth=2), path, metadata={"modality": "T2 MRI"})
    note = checkpoint_mismatch(path, 3)
    assert "grey (1-channel) images: T2 MRI" in note
    assert checkpoint_mismatch(path, 1) is None
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    assert checkpoint_mismatch(bad, 3) is None  # loading it reports the problem


def test_installed_entries_carry_channels_and_modality(tmp_path: Path) -> None:
    torch.manual_seed(0)
    save_checkpoint(build_model("unet", 3, 2, base_channels=4, depth=2), tmp_path / "rgb.safetensors",
                    metadata={"modality": "fundus"})
    (entry,) = list_shipped_models(dirs=[tmp_path])
    assert (entry.summary["in_channels"], entry.summary["modality"]) == (3, "fundus")
    assert offer_model([entry], 3).name == "rgb"
