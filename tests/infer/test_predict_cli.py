from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image as PILImage

from akmamba.cli import main
from akmamba.io import Image, read_image, write_image

RNG = np.random.default_rng(1)


def make_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"grey": folder / "a.png", "rgb": folder / "b.png", "bad": folder / "c.png", "vol": folder / "v.nii.gz"}
    PILImage.fromarray(RNG.integers(0, 255, (40, 56), dtype=np.uint8)).save(paths["grey"])
    PILImage.fromarray(RNG.integers(0, 255, (33, 47, 3), dtype=np.uint8)).save(paths["rgb"])
    paths["bad"].write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    vol = Image(array=RNG.integers(0, 1000, (3, 20, 24)).astype(np.int16), kind="volume",
                spacing=(3.0, 0.8, 0.7), origin=(-5.0, 12.0, 3.5))
    write_image(vol, paths["vol"])
    return paths


def test_predict_end_to_end(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    paths = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    argv = ["predict", "--model", str(tiny_checkpoint), "--out", str(out), "--device", "cpu", "--probs",
            *(str(p) for p in paths.values())]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "c.png" in err
    assert "Traceback" not in err
    assert sum("c.png" in line for line in err.splitlines()) == 1
    # the 1-channel model on the colour input: a warning for that input only (it still runs)
    warnings = [line for line in err.replace("\r", "\n").splitlines() if "warning:" in line]
    assert len(warnings) == 1
    assert "b.png: warning: tiny-vessels was trained on grey (1-channel) images. The image is colour" in warnings[0]

    for key, shape in (("grey", (40, 56)), ("rgb", (33, 47))):
        stem = paths[key].stem
        mask = np.asarray(PILImage.open(out / f"{stem}.png"))
        assert mask.shape == shape
        assert mask.dtype == np.uint8
        assert mask.max() <= 1
        probs = np.load(out / f"{stem}_probs.npy")
        assert probs.shape == (2, *shape)
        assert probs.dtype == np.float32
        np.testing.assert_array_equal(mask, probs.argmax(0))
    assert not (out / "c.png").exists()

    labels = read_image(out / "v.nii.gz")
    assert labels.is_volume
    assert labels.array.shape == (3, 20, 24)
    assert labels.array.dtype == np.uint8
    np.testing.assert_allclose(nib.load(out / "v.nii.gz").affine, nib.load(paths["vol"]).affine, atol=1e-5)
    assert np.load(out / "v_probs.npy").shape == (2, 3, 20, 24)

    record = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert record["name"] == "tiny-vessels"
    assert record["version"] == "0.1-test"
    assert len(record["sha256"]) == 64
    assert record["checkpoint"].endswith("tiny-vessels.safetensors")
    assert "date" in record

    # Existing outputs are never replaced without --overwrite.
    before = (out / "a.png").read_bytes()
    assert main(["predict", "--model", str(tiny_checkpoint), "--out", str(out), "--device", "cpu",
                 str(paths["grey"])]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "a.png").read_bytes() == before
    assert main(["predict", "--model", str(tiny_checkpoint), "--out", str(out), "--device", "cpu", "--overwrite",
                 str(paths["grey"])]) == 0


def test_bad_inputs_checked_before_model(tmp_path: Path, capsys) -> None:
    # Only bad inputs and a missing model: the inputs are reported and the model is never loaded.
    bad = tmp_path / "x.png"
    bad.write_bytes(b"")
    code = main(["predict", "--model", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "o"), str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert "x.png" in err
    assert "nope.safetensors" not in err


def test_unknown_model_is_one_line(tmp_path: Path, capsys) -> None:
    paths = make_inputs(tmp_path / "in")
    code = main(["predict", "--model", "no-such-model", "--out", str(tmp_path / "o"), str(paths["grey"])])
    err = capsys.readouterr().err
    assert code == 1
    assert "no-such-model" in err
    assert "Traceback" not in err


def _hashes(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_output_never_replaces_an_input_even_with_overwrite(tmp_path: Path, tiny_checkpoint: Path,
                                                               capsys) -> None:
    # --out equal to the inputs' folder: a.png's label map would be a.png itself, x.tif's the input x.png (another
    # input), and h.png's a hard link to the input h.png kept elsewhere.
    folder = tmp_path / "in"
    paths = make_inputs(folder)
    paths["bad"].unlink()
    grey = RNG.integers(0, 255, (40, 56), dtype=np.uint8)
    PILImage.fromarray(grey).save(folder / "x.tif")
    PILImage.fromarray(grey).save(folder / "x.png")
    other = tmp_path / "elsewhere"
    other.mkdir()
    PILImage.fromarray(grey).save(other / "h.png")
    (folder / "h.png").hardlink_to(other / "h.png")
    before = _hashes(folder)
    inputs = [paths["grey"], folder / "x.tif", folder / "x.png", other / "h.png"]
    code = main(["predict", "--model", str(tiny_checkpoint), "--out", str(folder), "--device", "cpu", "--overwrite",
                 *(str(p) for p in inputs)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    for path in (folder / "a.png", folder / "x.png", folder / "h.png"):
        assert any(str(path) in line and "would replace the input" in line for line in err.splitlines()), path
    assert sum("would replace the input" in line for line in err.splitlines()) == 4
    assert "no input can be predicted (4 failed)" in err
    assert _hashes(folder) == before  # nothing replaced, nothing added

    # Into a new folder they are predicted (x.tif and x.png then share an output name: one is refused, as before).
    code = main(["predict", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "out"), "--device", "cpu",
                 *(str(p) for p in inputs)])
    assert code == 2
    assert "would also be written for" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "h.png", "model.json", "x.png"]
