"""Hostile inputs through the real ``akmamba`` entry points (issue 22): one table of cases, one test.

Each case builds a tree of files in ``tmp_path`` (a hostile input among good ones) and returns the command line
and a text the message must contain (the file or option at fault). The test runs :func:`akmamba.cli.main`
in-process (the same code as the console script, without a second interpreter's torch import) and asserts:

* the exit status (non-zero unless the case says that degrading gracefully is right, e.g. ``models`` listing the
  good models beside a bad file);
* the output names the file or option;
* no traceback, and no exception escapes ``main`` (a subprocess would have printed one);
* every file that existed before the run is byte-identical after it (SHA-256 of the whole tree).

stdout is captured strictly as UTF-8 and stderr with ``backslashreplace``, as Python sets up the real streams, so a
file name that is not valid UTF-8 fails here as it would in a terminal.

To add a case: write ``def _case_x(t: Path, a: Assets) -> tuple[list[str], str]`` (build files under ``t``, return
argv and the text to find) and add a :class:`Hostile` row to ``CASES``. ``fault`` makes writes under ``t / "locked"``
fail with that errno (``EACCES``, ``EROFS``, ``ENOSPC``): a read-only or full disk, also when the tests run as root.
"""

from __future__ import annotations

import builtins
import errno
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import stat
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PILImage

from akmamba.cli import main

LOCKED = "locked"


# --------------------------------------------------------------------------------------------------- assets


@dataclass(frozen=True)
class Assets:
    """Good files made once per module: a tiny checkpoint and a tiny disc data set."""

    checkpoint: bytes
    dataset: Path  # folder with Images/, Labels/, discs.json
    finetune: Path  # a fine-tuning folder (images/, labels/, dataset.json)

    def model(self, t: Path, name: str = "tiny.safetensors") -> Path:
        path = t / "models" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.checkpoint)
        return path

    def data(self, t: Path) -> tuple[Path, Path]:
        """A copy of the data set in ``t / "data"``: (root, description)."""
        shutil.copytree(self.dataset, t / "data")
        return t / "data", t / "data" / "discs.json"

    def ft_folder(self, t: Path) -> Path:
        shutil.copytree(self.finetune, t / "ft")
        return t / "ft"


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    import torch

    from akmamba.nn import build_model, save_checkpoint

    root = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    table = [{"name": "background", "index": 0, "value_in_file": 0, "color": [0, 0, 0]},
             {"name": "disc", "index": 1, "value_in_file": 1, "color": [255, 0, 0]}]
    save_checkpoint(build_model("unet", 1, 2, base_channels=4, depth=2), root / "tiny.safetensors",
                    metadata={"label_table": table, "normalisation": "zscore", "version": "t"})
    ckpt = (root / "tiny.safetensors").read_bytes()
    make_dataset(root / "dataset")
    make_finetune_folder(root / "finetune")
    return Assets(ckpt, root / "dataset", root / "finetune")


def _discs(n: int, size: int = 32) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` (grey uint8 image, bool disc mask) pairs."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for _ in range(n):
        cy, cx = rng.integers(10, size - 10, 2).tolist()
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < 36
        out.append(((60 + 120 * disc + rng.normal(0, 10, disc.shape)).clip(0, 255).astype(np.uint8), disc))
    return out


def make_dataset(root: Path) -> None:
    """Two cases ``<n>-IM.png`` with 0/255 labels and their description ``discs.json``."""
    for i, (img, disc) in enumerate(_discs(2), 1):
        png(root / "Images" / f"{i}-IM.png", img)
        png(root / "Labels" / f"{i}-IM.png", (disc * 255).astype(np.uint8))
    desc = {"format_version": 1, "name": "discs", "modality": "synthetic grey",
            "images": {"folder": "Images", "glob": "*.png"},
            "labels": {"folder": "Labels", "pattern": "{stem}.png", "required": True},
            "case_id": {"regex": r"^(\d+)-"},
            "label_table": [{"name": "background", "value_in_file": 0, "index": 0, "color": [0, 0, 0]},
                            {"name": "disc", "value_in_file": 255, "index": 1, "color": [255, 0, 0]}]}
    write(root / "discs.json", json.dumps(desc))


def make_finetune_folder(root: Path) -> None:
    """A three-case fine-tuning folder (``akmamba.finetune.data.write_finetune_folder``)."""
    from akmamba.finetune.data import write_finetune_folder
    from akmamba.io import Image

    table = [{"name": "background", "index": 0, "color": [0, 0, 0]}, {"name": "disc", "index": 1,
                                                                      "color": [255, 0, 0]}]
    items = [(Image(img, "2d"), disc.astype(np.uint8), f"case{i}", disc) for i, (img, disc) in enumerate(_discs(3))]
    write_finetune_folder(items, root, table, name="discs")


# --------------------------------------------------------------------------------------------------- file makers


def png(path: Path, arr: np.ndarray | None = None, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8) if arr is None else arr
    PILImage.fromarray(arr, mode=mode).save(path)
    return path


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def nifti(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(arr, np.eye(4)), str(path))
    return path


def tiff(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(arr).save(path, format="TIFF")
    return path


def huge_png_header(path: Path, width: int, height: int) -> Path:
    """A valid PNG signature and IHDR claiming ``width x height`` grey pixels, with one tiny IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return write(path, data)


def safetensors_with(path: Path, meta: object, raw: str | None = None) -> Path:
    """A valid safetensors file (one tiny tensor) whose ``akmamba`` metadata is ``meta`` as JSON (or ``raw``)."""
    import torch
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"w": torch.zeros(2)}, str(path), metadata={"akmamba": raw if raw is not None else json.dumps(meta)})
    return path


def checkpoint_meta(assets: Assets, t: Path, **changes: object) -> Path:
    """The good checkpoint's metadata with ``changes`` applied, re-saved with its weights as ``odd.safetensors``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    good = assets.model(t / "src")
    with safe_open(str(good), framework="pt") as f:
        meta = json.loads(f.metadata()["akmamba"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    meta.update(changes)
    path = t / "models" / "odd.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"akmamba": json.dumps(meta)})
    shutil.rmtree(t / "src")
    return path


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def symlink_loop(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    other = path.with_name(path.name + ".loop")
    os.symlink(other.name, path)
    os.symlink(path.name, other)
    return path


def predict(t: Path, a: Assets, *inputs: Path | str, extra: tuple[str, ...] = ()) -> list[str]:
    return ["predict", *map(str, inputs), "--model", str(a.model(t)), "--out", str(t / "out"), "--device", "cpu",
            *extra]


def train(t: Path, a: Assets, *extra: str, out: Path | None = None) -> list[str]:
    root, desc = a.data(t)
    return ["train", "--dataset", str(desc), "--data-root", str(root), "--out", str(out or t / "run"), "--model",
            "unet", "--model-options", '{"base_channels": 4, "depth": 2}', "--batch-size", "1", "--patch-size",
            "16", "16", "--folds", "0", "--max-steps", "1", "--epochs", "1", "--device", "cpu", "--no-augment",
            *extra]


def train_config(t: Path, a: Assets, **changes: object) -> list[str]:
    root, desc = a.data(t)
    cfg = {"dataset": str(desc), "data_root": str(root), "out_dir": str(t / "run"), "model": "unet",
           "model_options": {"base_channels": 4, "depth": 2}, "epochs": 1, "max_steps": 1, "batch_size": 1,
           "patch_size": [16, 16], "folds": 0, "device": "cpu", **changes}
    write(t / "cfg.json", json.dumps(cfg))
    return ["train", "--config", str(t / "cfg.json")]


def finetune(t: Path, a: Assets, *extra: str, registry: Path | None = None, model: Path | None = None) -> list[str]:
    data = a.ft_folder(t)
    return ["finetune", "--model", str(model or a.model(t)), "--data", str(data), "--registry",
            str(registry or t / "registry"), "--device", "cpu", "--max-steps", "1", "--no-baseline",
            "--patch-size", "16", "16", "--batch-size", "1", *extra]


def predictions(t: Path, model_json: str | bytes | None = None, pred: np.ndarray | None = None) -> tuple[Path, Path]:
    """A predictions folder (``a.png``, optional ``model.json``) and a ground-truth folder (``a.png``)."""
    mask = np.zeros((16, 16), np.uint8)
    mask[4:9, 4:9] = 1
    png(t / "pred" / "a.png", mask if pred is None else pred)
    png(t / "gt" / "a.png", mask)
    if model_json is not None:
        write(t / "pred" / "model.json", model_json)
    return t / "pred", t / "gt"


def evaluate(t: Path, *extra: str, model_json: str | bytes | None = None, out: Path | None = None) -> list[str]:
    pred, gt = predictions(t, model_json)
    return ["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(out or t / "report.json"), *extra]


# --------------------------------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Hostile:
    """One hostile input: ``build(t, assets) -> (argv, text)``; the output must contain ``text`` (the file or option
    at fault), or every text of a tuple (e.g. the file and what is wrong with it)."""

    id: str
    build: Callable[[Path, Assets], tuple[list[str], str | tuple[str, ...]]]
    code: int | None = None  # None: any non-zero exit status
    fault: int | None = None  # writes under t/"locked" fail with this errno


def _bad_image(name: str, make: Callable[[Path], object], why: str = "") -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], tuple[str, ...]]:
        path = t / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        make(path)
        return predict(t, a, path), (name, why)

    return build


def saying(build: Callable, why: str) -> Callable:
    """``build`` whose output must also say ``why`` (what is wrong, e.g. ``"read-only"``)."""

    def wrapped(t: Path, a: Assets) -> tuple[list[str], tuple[str, ...]]:
        argv, text = build(t, a)
        return argv, (*((text,) if isinstance(text, str) else text), why)

    return wrapped


_RNG = np.random.default_rng(1)
_GOOD_PNG = io.BytesIO()
PILImage.fromarray(_RNG.integers(0, 256, (32, 32), dtype=np.uint8)).save(_GOOD_PNG, format="PNG")
_GOOD_TIF = io.BytesIO()
PILImage.fromarray(_RNG.integers(0, 256, (32, 32), dtype=np.uint8)).save(_GOOD_TIF, format="TIFF")
_GOOD_NII = gzip.compress(nib.Nifti1Image(np.zeros((8, 8, 4), np.int16), np.eye(4)).to_bytes())


IMAGE_CASES = [
    Hostile("png-empty", _bad_image("e.png", lambda p: write(p, b""), "empty")),
    Hostile("png-truncated", _bad_image("t.png", lambda p: write(p, _GOOD_PNG.getvalue()[:60]))),
    Hostile("png-garbage", _bad_image("g.png", lambda p: write(p, _RNG.bytes(500)))),
    Hostile("png-is-text", _bad_image("txt.png", lambda p: write(p, "hello, not an image\n"))),
    Hostile("png-1x1", _bad_image("one.png", lambda p: png(p, np.zeros((1, 1), np.uint8)), "1x1")),
    Hostile("png-1xN", _bad_image("line.png", lambda p: png(p, np.zeros((1, 40), np.uint8)))),
    Hostile("png-huge-declared", _bad_image("huge.png", lambda p: huge_png_header(p, 60000, 60000))),
    Hostile("tif-empty", _bad_image("e.tif", lambda p: write(p, b""))),
    Hostile("tif-truncated", _bad_image("t.tif", lambda p: write(p, _GOOD_TIF.getvalue()[:200]))),
    Hostile("tif-garbage", _bad_image("g.tif", lambda p: write(p, b"II*\0" + _RNG.bytes(300)))),
    Hostile("tif-bad-header", _bad_image("c.tif", lambda p: write(p, _GOOD_TIF.getvalue()[:8] + b"\xff" * 64))),
    Hostile("tif-nan", _bad_image("nan.tif", lambda p: tiff(p, np.full((16, 16), np.nan, np.float32)))),
    Hostile("nii-empty", _bad_image("e.nii.gz", lambda p: write(p, b""))),
    Hostile("nii-garbage", _bad_image("g.nii", lambda p: write(p, _RNG.bytes(400)))),
    Hostile("nii-truncated", _bad_image("t.nii.gz", lambda p: write(p, _GOOD_NII[: len(_GOOD_NII) // 2]))),
    Hostile("nii-gz-bomb", _bad_image("bomb.nii.gz", lambda p: write(p, gzip.compress(b"\0" * 20_000_000, 9)))),
    Hostile("nii-gz-of-text", _bad_image("txt.nii.gz", lambda p: write(p, gzip.compress(b"not a nifti")))),
    Hostile("nii-4d", _bad_image("4d.nii.gz", lambda p: nifti(p, np.zeros((4, 4, 4, 3), np.int16)))),
    Hostile("nii-nan", _bad_image("nan.nii.gz", lambda p: nifti(p, np.full((8, 8, 3), np.nan, np.float32)), "NaN")),
    Hostile("nii-complex", _bad_image("cx.nii.gz", lambda p: nifti(p, np.zeros((8, 8, 3), np.complex64)), "complex")),
    Hostile("mha-garbage", _bad_image("g.mha", lambda p: write(p, "ObjectType = Image\nNDims = 3\n"))),
    Hostile("unknown-suffix", _bad_image("x.jpgx", lambda p: write(p, _GOOD_PNG.getvalue()))),
    Hostile("no-suffix", _bad_image("noext", lambda p: write(p, _GOOD_PNG.getvalue()))),
    Hostile("fifo", _bad_image("pipe.png", fifo, "named pipe (FIFO)")),
    Hostile("symlink-loop", _bad_image("loop.png", symlink_loop, "symbolic link loop")),
    Hostile("dangling-symlink", _bad_image("gone.png", lambda p: os.symlink("nowhere.png", p), "nowhere.png")),
    Hostile("directory-as-image", _bad_image("dir.png", lambda p: p.mkdir())),
    Hostile("missing-input", _bad_image("absent.png", lambda p: None)),
]


def _non_utf8_name(t: Path, a: Assets) -> tuple[list[str], str]:
    folder = os.fsencode(t / "in")
    os.makedirs(folder)
    name = folder + b"/caf\xe9.png"
    with open(name, "wb") as f:
        f.write(b"garbage")
    return predict(t, a, os.fsdecode(name)), "caf"


def _output_is_input(t: Path, a: Assets) -> tuple[list[str], str]:
    src = png(t / "out" / "x.png")
    return predict(t, a, src), "x.png"


def _out_is_file(t: Path, a: Assets) -> tuple[list[str], str]:
    src = png(t / "in" / "x.png")
    write(t / "out", "a file where the output folder should be")
    return predict(t, a, src), "out"


def _predict_out_locked(t: Path, a: Assets) -> tuple[list[str], str]:
    src = png(t / "in" / "x.png")
    return [*predict(t, a, src)[:-4], "--out", str(t / LOCKED / "out"), "--device", "cpu"], LOCKED


def _predict_model(make: Callable[[Path, Assets], Path], text: str = "odd.safetensors") -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        src = png(t / "in" / "x.png")
        model = make(t, a)
        return ["predict", str(src), "--model", str(model), "--out", str(t / "out"), "--device", "cpu"], text

    return build


def _predict_named_bad(t: Path, a: Assets) -> tuple[list[str], str]:
    """``predict --model NAME`` resolves NAME in a folder that also holds a broken file."""
    src = png(t / "in" / "x.png")
    a.model(t, "good.safetensors")
    safetensors_with(t / "models" / "broken.safetensors", [1, 2, 3])
    return ["predict", str(src), "--model", "good", "--models-dir", str(t / "models"), "--out", str(t / "out"),
            "--device", "cpu"], "wrote 1 of 1"


def _predict_flag(*flags: str, text: str) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        return predict(t, a, png(t / "in" / "x.png"), extra=flags), text

    return build


def _predict_out_record(t: Path, a: Assets) -> tuple[list[str], tuple[str, ...]]:
    """An output folder whose ``model.json`` (the record of earlier predictions) is damaged."""
    write(t / "out" / "model.json", "{half a record")
    return predict(t, a, png(t / "in" / "x.png")), ("model.json", "--overwrite")


PREDICT_CASES = [
    Hostile("predict-out-record-garbage", _predict_out_record),
    Hostile("non-utf8-name", _non_utf8_name),
    Hostile("predict-output-is-input", _output_is_input),
    Hostile("predict-out-is-a-file", _out_is_file),
    Hostile("predict-out-read-only", saying(_predict_out_locked, "read-only"), fault=errno.EROFS),
    Hostile("predict-out-no-permission", saying(_predict_out_locked, "permission denied"), fault=errno.EACCES),
    Hostile("predict-out-disk-full", saying(_predict_out_locked, "disk is full"), fault=errno.ENOSPC),
    Hostile("model-garbage", _predict_model(lambda t, a: write(t / "models" / "odd.safetensors", _RNG.bytes(300)))),
    Hostile("model-truncated", _predict_model(lambda t, a: write(t / "models" / "odd.safetensors",
                                                                 a.checkpoint[: len(a.checkpoint) // 2]))),
    Hostile("model-empty", _predict_model(lambda t, a: write(t / "models" / "odd.safetensors", b""))),
    Hostile("model-meta-list", _predict_model(lambda t, a: safetensors_with(t / "models" / "odd.safetensors",
                                                                            [1, 2]))),
    Hostile("model-meta-not-json", _predict_model(lambda t, a: safetensors_with(t / "models" / "odd.safetensors",
                                                                                None, raw="{nope"))),
    Hostile("model-entry-string", _predict_model(lambda t, a: checkpoint_meta(a, t, model="unet"))),
    Hostile("model-name-number", _predict_model(lambda t, a: checkpoint_meta(
        a, t, model={"name": 5, "in_channels": 1, "num_classes": 2, "options": {}}))),
    Hostile("model-options-list", _predict_model(lambda t, a: checkpoint_meta(
        a, t, model={"name": "unet", "in_channels": 1, "num_classes": 2, "options": [4, 2]}))),
    Hostile("model-channels-string", _predict_model(lambda t, a: checkpoint_meta(
        a, t, model={"name": "unet", "in_channels": "one", "num_classes": 2, "options": {}}))),
    Hostile("model-label-table-string", _predict_model(lambda t, a: checkpoint_meta(a, t, label_table="bg,disc"))),
    Hostile("model-format-string", _predict_model(lambda t, a: checkpoint_meta(a, t, format_version="1"))),
    Hostile("model-weights-tampered", _predict_model(lambda t, a: checkpoint_meta(a, t, weights_sha256="0" * 64))),
    Hostile("model-is-directory", saying(_predict_model(lambda t, a: (t / "models" / "odd.safetensors").mkdir(
        parents=True) or t / "models" / "odd.safetensors"), "folder")),
    Hostile("model-fifo", saying(_predict_model(lambda t, a: fifo(t / "models" / "odd.safetensors")), "FIFO")),
    Hostile("model-symlink-loop", saying(_predict_model(lambda t, a: symlink_loop(t / "models" / "odd.safetensors")),
                                         "symbolic link loop")),
    Hostile("model-unknown-name", _predict_model(lambda t, a: Path("no-such-model"), text="no-such-model")),
    Hostile("model-named-beside-broken", _predict_named_bad, code=0),
    Hostile("predict-tta-bogus", _predict_flag("--tta", "sideways", text="tta 'sideways'")),
    Hostile("predict-label-values-bogus", _predict_flag("--label-values", "raw", text="label")),
    Hostile("predict-roi-negative", _predict_flag("--roi-size", "-5", text="roi")),
    Hostile("predict-overlap-two", _predict_flag("--overlap", "2", text="overlap")),
    Hostile("predict-device-bogus", _predict_flag("--device", "gpu7", text="device")),
]


def _models_dir_with(make: Callable[[Path], object], *extra: str) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        a.model(t, "good.safetensors")
        make(t / "models" / "bad.safetensors")
        return ["models", "--models-dir", str(t / "models"), *extra], "bad.safetensors"

    return build


def _models_dir_file(t: Path, a: Assets) -> tuple[list[str], str]:
    write(t / "models", "not a folder")
    return ["models", "--models-dir", str(t / "models")], "models"


MODELS_CASES = [
    Hostile("models-meta-list", _models_dir_with(lambda p: safetensors_with(p, [1, 2])), code=0),
    Hostile("models-meta-list-json", _models_dir_with(lambda p: safetensors_with(p, [1, 2]), "--json"), code=0),
    Hostile("models-model-string", _models_dir_with(lambda p: safetensors_with(
        p, {"format_version": 1, "model": "unet"})), code=0),
    Hostile("models-label-table-dict", _models_dir_with(lambda p: safetensors_with(
        p, {"format_version": 1, "model": {"name": "unet"}, "label_table": {"a": 1}})), code=0),
    Hostile("models-garbage", _models_dir_with(lambda p: write(p, b"\xff" * 40)), code=0),
    Hostile("models-fifo", saying(_models_dir_with(fifo), "FIFO"), code=0),
    Hostile("models-dir-is-file", saying(_models_dir_file, "--models-dir")),
]


def _eval_model_json(text: str | bytes) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        return evaluate(t, model_json=text), "model.json"

    return build


def _eval_label(make: Callable[[Path], object], name: str) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        argv = evaluate(t)
        for old in (t / "gt").iterdir():
            old.unlink()
        make(t / "gt" / name)
        return argv, name

    return build


def _eval_out(out: Callable[[Path], Path], text: str) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        return evaluate(t, out=out(t)), text

    return build


def _eval_dataset(desc: str) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        write(t / "desc.json", desc)
        return evaluate(t, "--dataset", str(t / "desc.json")), "desc.json"

    return build


def _eval_pred_missing(t: Path, a: Assets) -> tuple[list[str], str]:
    argv = evaluate(t)
    shutil.rmtree(t / "pred")
    return argv, "pred"


EVALUATE_CASES = [
    Hostile("eval-model-json-garbage", _eval_model_json("{not json")),
    Hostile("eval-model-json-list", _eval_model_json("[1, 2, 3]")),
    Hostile("eval-model-json-table-strings", _eval_model_json('{"label_table": ["bg", "fg"]}')),
    Hostile("eval-model-json-table-index-text", _eval_model_json('{"label_table": [{"index": "one", "name": "x"}]}')),
    Hostile("eval-model-json-values-file-no-table", _eval_model_json('{"label_values": "file", "label_table": 7}')),
    Hostile("eval-model-json-non-utf8", _eval_model_json(b'{"name": "caf\xe9"}')),
    Hostile("eval-gt-float-tif", saying(_eval_label(lambda p: tiff(p, np.full((16, 16), 0.6, np.float32)),
                                                    "a.tif"), "float32")),
    Hostile("eval-gt-float-nifti", _eval_label(lambda p: nifti(p, np.full((16, 16, 1), 0.6, np.float32)),
                                               "a.nii.gz")),
    Hostile("eval-gt-garbage", _eval_label(lambda p: write(p, b"\x00garbage"), "a.png")),
    Hostile("eval-gt-fifo", _eval_label(fifo, "a.png")),
    Hostile("eval-out-read-only", saying(_eval_out(lambda t: t / LOCKED / "r.json", LOCKED), "read-only"),
            fault=errno.EROFS),
    Hostile("eval-out-disk-full", saying(_eval_out(lambda t: t / LOCKED / "r.json", LOCKED), "disk is full"),
            fault=errno.ENOSPC),
    Hostile("eval-out-html-read-only", saying(_eval_out(lambda t: t / LOCKED / "r.html", LOCKED), "permission denied"),
            fault=errno.EACCES),
    Hostile("eval-out-is-directory", _eval_out(lambda t: (t / "r.json").mkdir() or t / "r.json", "r.json")),
    Hostile("eval-out-under-a-file", lambda t, a: (evaluate(t, out=write(t / "f", "x") / "r.json"), f"{t / 'f'}'")),
    Hostile("eval-out-bad-suffix", _eval_out(lambda t: t / "r.docx", "r.docx")),
    Hostile("eval-pred-missing", _eval_pred_missing),
    Hostile("eval-model-json-fifo", lambda t, a: (evaluate(t), ("model.json", "FIFO"))
            if fifo(t / "pred" / "model.json") else ([], "")),
    Hostile("eval-dataset-fifo", lambda t, a: (evaluate(t, "--dataset", str(fifo(t / "d.json"))), ("d.json", "FIFO"))),
    Hostile("eval-dataset-garbage", _eval_dataset("{oops")),
    Hostile("eval-dataset-table-string", _eval_dataset(json.dumps({"format_version": 1, "name": "d", "images": {
        "folder": "x"}, "label_table": "bg"}))),
]


def _train_out(t: Path, a: Assets) -> tuple[list[str], str]:
    return train(t, a, out=t / LOCKED / "run"), LOCKED


def _train_config_raw(text: str) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        write(t / "cfg.json", text)
        return ["train", "--config", str(t / "cfg.json")], "cfg.json"

    return build


def _train_typed(text: str, **changes: object) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        return train_config(t, a, **changes), text

    return build


def _train_config_path(make: Callable[[Path], object]) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        make(t / "cfg.json")
        return ["train", "--config", str(t / "cfg.json")], "cfg.json"

    return build


def _train_float_labels(t: Path, a: Assets) -> tuple[list[str], str]:
    """Labels stored as float TIFFs; one holds 0.6 where a class index is expected."""
    argv = train(t, a)
    labels = sorted((t / "data" / "Labels").glob("*.png"))
    for label in labels:
        tiff(label.with_suffix(".tif"), np.asarray(PILImage.open(label), np.float32))
        label.unlink()
    tiff(labels[0].with_suffix(".tif"), np.full((32, 32), 0.6, np.float32))
    desc = json.loads((t / "data" / "discs.json").read_text())
    desc["labels"]["pattern"] = "{stem}.tif"
    write(t / "data" / "discs.json", json.dumps(desc))
    return argv, labels[0].with_suffix(".tif").name


def _train_label_out_of_table(t: Path, a: Assets) -> tuple[list[str], str]:
    argv = train(t, a)
    label = next((t / "data" / "Labels").glob("*.png"))
    png(label, np.full((32, 32), 77, np.uint8))
    return argv, label.name


TRAIN_CASES = [
    Hostile("train-out-read-only", saying(_train_out, "read-only"), fault=errno.EROFS),
    Hostile("train-out-no-permission", saying(_train_out, "permission denied"), fault=errno.EACCES),
    Hostile("train-out-disk-full", saying(_train_out, "disk is full"), fault=errno.ENOSPC),
    Hostile("train-out-is-file", lambda t, a: (train(t, a, out=write(t / "run", "x")), "run")),
    Hostile("train-config-garbage", _train_config_raw("{epochs: 3")),
    Hostile("train-config-list", _train_config_raw("[1, 2]")),
    Hostile("train-config-fifo", saying(_train_config_path(fifo), "FIFO")),
    Hostile("train-config-symlink-loop", saying(_train_config_path(symlink_loop), "loop")),
    Hostile("train-config-directory", saying(_train_config_path(lambda p: p.mkdir()), "folder")),
    Hostile("train-config-missing", _train_config_path(lambda p: None)),
    Hostile("train-epochs-string", _train_typed("epochs", epochs="ten")),
    Hostile("train-lr-string", _train_typed("lr", lr="fast")),
    Hostile("train-batch-float", _train_typed("batch_size", batch_size=1.5)),
    Hostile("train-patch-string", _train_typed("patch_size", patch_size="big")),
    Hostile("train-patch-three", _train_typed("patch_size", patch_size=[16, 16, 16])),
    Hostile("train-options-list", _train_typed("model_options", model_options=[4, 2])),
    Hostile("train-amp-string", _train_typed("amp", amp="no")),
    Hostile("train-val-cases-string", _train_typed("val_cases", val_cases="2,3")),
    Hostile("train-model-number", _train_typed("model", model=7)),
    Hostile("train-folds-null", _train_typed("folds", folds=None)),
    Hostile("train-init-from-corrupt", lambda t, a: (train(t, a, "--init-from", str(write(
        t / "init.safetensors", b"\x00" * 64))), "init.safetensors")),
    Hostile("train-label-float", saying(_train_float_labels, "0.6")),
    Hostile("train-label-out-of-table", _train_label_out_of_table),
    Hostile("train-dataset-fifo", lambda t, a: (_swap(train(t, a), "--dataset", str(fifo(t / "d.json"))),
                                                ("d.json", "FIFO"))),
    Hostile("train-options-flag-bad-json", lambda t, a: (train(t, a, "--model-options", "{4"), "--model-options")),
]


def _swap(argv: list[str], flag: str, value: str) -> list[str]:
    """``argv`` with the value of ``flag`` replaced."""
    i = argv.index(flag)
    return [*argv[: i + 1], value, *argv[i + 2:]]


def _ft_registry_locked(t: Path, a: Assets) -> tuple[list[str], str]:
    return finetune(t, a, registry=t / LOCKED / "reg"), LOCKED


def _ft_model(make: Callable[[Path, Assets], Path], text: str) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        return finetune(t, a, model=make(t, a)), text

    return build


def _ft_description(text: str) -> Callable:
    def build(t: Path, a: Assets) -> tuple[list[str], str]:
        argv = finetune(t, a)
        write(t / "ft" / "dataset.json", text)
        return argv, "dataset.json"

    return build


FINETUNE_CASES = [
    Hostile("ft-registry-read-only", saying(_ft_registry_locked, "read-only"), fault=errno.EROFS),
    Hostile("ft-registry-disk-full", saying(_ft_registry_locked, "disk is full"), fault=errno.ENOSPC),
    Hostile("ft-registry-is-file", saying(lambda t, a: (finetune(t, a, registry=write(t / "reg", "x")), "reg"),
                                          "not a folder")),
    Hostile("ft-model-meta-list", _ft_model(lambda t, a: safetensors_with(t / "m" / "odd.safetensors", [1]),
                                            "odd.safetensors")),
    Hostile("ft-model-entry-string", _ft_model(lambda t, a: checkpoint_meta(a, t, model="unet"), "odd.safetensors")),
    Hostile("ft-data-missing", lambda t, a: (_swap(finetune(t, a), "--data", str(t / "nodata")), "nodata")),
    Hostile("ft-description-garbage", _ft_description("{x")),
    Hostile("ft-description-list", _ft_description("[]")),
    Hostile("ft-description-symlink-loop", lambda t, a: (finetune(t, a, "--description", str(symlink_loop(
        t / "d.json"))), ("d.json", "loop"))),
    Hostile("ft-holdout-two", lambda t, a: (finetune(t, a, "--holdout", "2"), "holdout")),
]


def _versions_registry(t: Path, a: Assets) -> tuple[list[str], str]:
    write(t / "reg", "a file")
    return ["versions", "--registry", str(t / "reg"), "list"], "reg"


def _versions_active_garbage(t: Path, a: Assets) -> tuple[list[str], str]:
    write(t / "reg" / "line" / "active.json", "{broken")
    return ["versions", "--registry", str(t / "reg"), "list", "line"], "active.json"


VERSIONS_CASES = [
    Hostile("versions-registry-is-file", saying(_versions_registry, "not a folder")),
    Hostile("versions-active-garbage", _versions_active_garbage),
    Hostile("versions-unknown-line", lambda t, a: (["versions", "--registry", str(t / "reg"), "activate", "nope",
                                                    "v1"], "nope")),
]

def _huge_nifti(path: Path) -> None:
    """A 4-KB ``.nii`` whose header claims 30000 x 30000 x 30000 voxels."""
    raw = bytearray(nib.Nifti1Image(np.zeros((8, 8, 8), np.uint8), np.eye(4)).to_bytes())
    raw[42:48] = struct.pack("<3h", 30000, 30000, 30000)  # dim[1..3] of the NIfTI-1 header
    write(path, bytes(raw[:4096]))


def _train_out_used(t: Path, a: Assets) -> tuple[list[str], str]:
    """``--out`` already holds a finished run (its checkpoint and config)."""
    write(t / "run" / "config.json", "{}")
    write(t / "run" / "best.safetensors", a.checkpoint)
    return train(t, a), "run"


# Other parts of issue 22 (items 2, 3, 4, 6, 14), kept here as hostile inputs too.
OTHER_CASES = [
    Hostile("predict-overwrite-into-inputs", lambda t, a: (
        _swap(predict(t, a, png(t / "in" / "x.png"), extra=("--overwrite",)), "--out", str(t / "in")), "x.png")),
    Hostile("eval-out-existing", lambda t, a: (evaluate(t, out=write(t / "dataset.json", "{}")), "dataset.json")),
    Hostile("ft-model-weights-tampered", lambda t, a: (finetune(t, a, model=checkpoint_meta(
        a, t, weights_sha256="0" * 64)), "odd.safetensors")),
    Hostile("nii-huge-declared", _bad_image("huge.nii", _huge_nifti)),
    Hostile("train-out-used", _train_out_used),
]

CASES = (OTHER_CASES + IMAGE_CASES + PREDICT_CASES + MODELS_CASES + EVALUATE_CASES + TRAIN_CASES + FINETUNE_CASES
         + VERSIONS_CASES)


# --------------------------------------------------------------------------------------------------- machinery


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``root`` (FIFOs, links and folders are not read)."""
    out = {}
    for dirpath, _dirs, files in os.walk(os.fsencode(root)):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    out[os.fsdecode(path)] = hashlib.sha256(f.read()).hexdigest()
    return out


def deny_writes(monkeypatch: pytest.MonkeyPatch, folder: Path, code: int) -> None:
    """Make every create/write/rename under ``folder`` fail with ``OSError(code)``, as a read-only file system, a
    folder without write permission or a full disk do (chmod cannot do it for root)."""
    prefix = os.fspath(folder)

    def hit(path: object) -> bool:
        try:
            p = os.fsdecode(os.fspath(path))  # type: ignore[arg-type]
        except TypeError:
            return False
        return os.path.abspath(p).startswith(prefix)

    def fail(path: object) -> OSError:
        return OSError(code, os.strerror(code), os.fsdecode(os.fspath(path)))  # type: ignore[arg-type]

    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir
    real_replace, real_rename = os.replace, os.rename

    def open_(file, mode="r", *args, **kwargs):
        if hit(file) and any(c in mode for c in "wax+"):
            raise fail(file)
        return real_open(file, mode, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if hit(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise fail(path)
        return real_os_open(path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if hit(path) and not os.path.isdir(path):
            raise fail(path)
        return real_mkdir(path, *args, **kwargs)

    def move(real: Callable) -> Callable:
        def wrapped(src, dst, *args, **kwargs):
            if hit(dst):
                raise fail(dst)
            return real(src, dst, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "replace", move(real_replace))
    monkeypatch.setattr(os, "rename", move(real_rename))


class Hung(BaseException):
    """Raised by the alarm in :func:`run_main`: the command blocked (e.g. reading a FIFO)."""


def _hung(signum: int, frame: object) -> None:
    raise Hung("the command did not finish within the time limit (blocked on a read?)")


def run_main(argv: list[str], monkeypatch: pytest.MonkeyPatch, limit_s: int = 60) -> tuple[int, str]:
    """``akmamba.cli.main(argv)`` with stdout (strict UTF-8) and stderr (backslashreplace) captured; a command
    still running after ``limit_s`` seconds is interrupted (:class:`Hung`)."""
    out_buf, err_buf = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_buf, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_buf, encoding="utf-8", errors="backslashreplace", write_through=True)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(limit_s)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    text = out_buf.getvalue().decode("utf-8", "replace") + err_buf.getvalue().decode("utf-8", "replace")
    return code, text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Hostile, tmp_path: Path, assets: Assets, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKMAMBA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AKMAMBA_MODELS_DIR", str(tmp_path / "no-models"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    argv, must_name = case.build(tmp_path, assets)
    before = tree_hashes(tmp_path)
    if case.fault is not None:
        deny_writes(monkeypatch, tmp_path / LOCKED, case.fault)
    code, text = run_main(argv, monkeypatch)
    monkeypatch.undo()
    assert "Traceback" not in text, text
    if case.code is None:
        assert code != 0, text
    else:
        assert code == case.code, text
    for needed in (must_name,) if isinstance(must_name, str) else must_name:
        assert needed in text, f"{needed!r} not in:\n{text}"
    after = tree_hashes(tmp_path)
    changed = [p for p, h in before.items() if after.get(p) != h]
    assert not changed, f"pre-existing files changed or removed: {changed}"
