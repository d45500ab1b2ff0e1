"""experiments/nnunet_anchor.py (nnU-Net's raw data, our folds, its predictions scored like ours) and the GPU queue
experiments/gpu_r5.sh (syntax, dataset switch)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
H, W = 40, 36


@pytest.fixture(scope="module")
def anchor(import_experiment):
    return import_experiment("nnunet_anchor")


def _drive_like(root: Path, ids: range = range(21, 27)) -> Path:
    """A DRIVE-like training folder: RGB .tif images, 0/255 .gif labels, 0/255 .gif FOV masks (a centred disc)."""
    rng = np.random.default_rng(0)
    for sub in ("images", "1st_manual", "mask"):
        (root / sub).mkdir(parents=True)
    yy, xx = np.mgrid[:H, :W]
    fov = ((yy - H / 2) ** 2 + (xx - W / 2) ** 2 < (H / 2.3) ** 2).astype(np.uint8) * 255
    for i in ids:
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "images" / f"{i}_training.tif")
        lab = (rng.random((H, W)) < 0.2).astype(np.uint8) * 255
        Image.fromarray(lab).save(root / "1st_manual" / f"{i}_manual1.gif")
        Image.fromarray(fov).save(root / "mask" / f"{i}_training_mask.gif")
    return root


def _evaluate(pred: Path, data: Path, out: Path) -> dict:
    from akmamba.cli import main

    assert main(["evaluate", "--pred", str(pred), "--gt", str(data), "--dataset", "drive", "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_drive_raw_is_one_rgb_png_per_image_and_0_1_labels(anchor, tmp_path) -> None:
    data = _drive_like(tmp_path / "DRIVE" / "training")
    out = tmp_path / "raw" / "Dataset502_DRIVE"
    assert anchor.make_raw_drive(data, out) == 6
    assert sorted(p.name for p in (out / "imagesTr").iterdir())[:2] == ["21_training_0000.png", "22_training_0000.png"]
    img = np.asarray(Image.open(out / "imagesTr" / "23_training_0000.png"))
    np.testing.assert_array_equal(img, np.asarray(Image.open(data / "images" / "23_training.tif")))
    lab = np.asarray(Image.open(out / "labelsTr" / "23_training.png"))
    np.testing.assert_array_equal(lab, np.asarray(Image.open(data / "1st_manual" / "23_manual1.gif")) > 0)
    assert lab.dtype == np.uint8
    assert set(np.unique(lab)) == {0, 1}
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    assert meta["labels"] == {"background": 0, "vessel": 1}
    assert (meta["numTraining"], meta["file_ending"]) == (6, ".png")


def test_drive_raw_refuses_an_output_inside_the_data(anchor, tmp_path) -> None:
    from akmamba.errors import ConfigError

    data = _drive_like(tmp_path / "training")
    with pytest.raises(ConfigError, match="inside the data folder"):
        anchor.make_raw_drive(data, data / "nnunet")
    assert sorted(p.name for p in data.iterdir()) == ["1st_manual", "images", "mask"]


@pytest.mark.slow
def test_drive_raw_on_the_real_training_folder(anchor, shared_data, tmp_path) -> None:
    out = tmp_path / "Dataset502_DRIVE"
    assert anchor.make_raw_drive(shared_data / "DRIVE" / "training", out) == 20
    img = np.asarray(Image.open(out / "imagesTr" / "21_training_0000.png"))
    lab = np.asarray(Image.open(out / "labelsTr" / "21_training.png"))
    assert img.shape == (584, 565, 3)
    assert lab.shape == (584, 565)
    assert set(np.unique(lab)) == {0, 1}


def test_drive_splits_are_the_trainers_folds(anchor, tmp_path) -> None:
    from akmamba.io.dataset import pair_files, resolve_description
    from akmamba.train.config import TrainConfig
    from akmamba.train.engine import split_samples

    data = _drive_like(tmp_path / "training", range(21, 31))
    raw, pre = tmp_path / "raw", tmp_path / "pre"
    anchor.make_raw_drive(data, raw)
    splits = anchor.make_splits_drive(data, raw, pre, 5, 0)
    assert json.loads((pre / "splits_final.json").read_text()) == splits
    samples = pair_files(resolve_description("drive"), data)
    vals = []
    for k, sp in enumerate(splits):
        cfg = TrainConfig(dataset="drive", data_root=str(data), out_dir=str(tmp_path / "run"), folds=5, fold=k)
        train, val = split_samples(cfg, samples)
        assert sp == {"train": [s.image.stem for s in train], "val": [s.image.stem for s in val]}
        assert len(sp["val"]) == 2
        assert not set(sp["val"]) & set(sp["train"])
        vals += sp["val"]
    assert sorted(vals) == sorted(p.name[:-4] for p in (raw / "labelsTr").iterdir())


def test_drive_splits_refuse_a_raw_folder_of_other_images(anchor, tmp_path) -> None:
    from akmamba.errors import ConfigError

    data = _drive_like(tmp_path / "training")
    raw = tmp_path / "raw"
    anchor.make_raw_drive(data, raw)
    (raw / "labelsTr" / "21_training.png").unlink()
    with pytest.raises(ConfigError, match="only in the data: \\['21_training'\\]"):
        anchor.make_splits_drive(data, raw, tmp_path / "pre", 5, 0)
    assert not (tmp_path / "pre" / "splits_final.json").exists()


def test_drive_splits_on_the_real_data_are_the_folds_our_recorded_runs_validated_on(anchor, shared_data) -> None:
    """The recorded 5-fold DRIVE runs (experiments/results/drive-akmamba-f<k>.json, trained on the GPU with
    `akmamba train --folds 5 --fold k --seed 0`) validated on exactly nnU-Net's fold k."""
    folds = anchor.drive_folds(shared_data / "DRIVE" / "training", 5, 0)
    for k, sp in enumerate(folds):
        rec = json.loads((EXPERIMENTS / "results" / f"drive-akmamba-f{k}.json").read_text())
        assert (rec["config"]["folds"], rec["config"]["fold"], rec["config"]["seed"]) == (5, k, 0)
        assert sp["val"] == rec["cases"]
        assert len(sp["train"]) == 16


def test_drive_paste_of_the_true_labels_scores_dice_1_inside_the_fov(anchor, tmp_path) -> None:
    data = _drive_like(tmp_path / "training")
    raw = tmp_path / "raw"
    anchor.make_raw_drive(data, raw)
    fake = tmp_path / "fold_0" / "validation"  # nnU-Net's validation output: <stem>.png, 0/1
    fake.mkdir(parents=True)
    for stem in ("22_training", "25_training"):
        (fake / f"{stem}.png").write_bytes((raw / "labelsTr" / f"{stem}.png").read_bytes())
    # outside the FOV a wrong prediction is not scored (the corner pixel lies outside the disc)
    wrong = np.asarray(Image.open(fake / "22_training.png")).copy()
    wrong[0, 0] = 1 - wrong[0, 0]
    Image.fromarray(wrong).save(fake / "22_training.png")
    assert anchor.paste_drive(fake, data, tmp_path / "pred") == 2
    report = _evaluate(tmp_path / "pred", data, tmp_path / "eval.json")
    vessel = report["summary"]["vessel"]
    assert vessel["pooled"]["dice"] == 1.0
    assert vessel["per_image_mean"]["dice"] == 1.0
    fov = (np.asarray(Image.open(data / "mask" / "22_training_mask.gif")) > 0).sum()
    c = vessel["counts"]
    assert c["tp"] + c["fp"] + c["fn"] + c["tn"] == 2 * fov < 2 * H * W
    assert [r["case"] for r in report["cases"]] == ["22_training", "25_training"]
    # inside the FOV it is
    wrong[H // 2, W // 2] = 1 - wrong[H // 2, W // 2]
    Image.fromarray(wrong).save(fake / "22_training.png")
    anchor.paste_drive(fake, data, tmp_path / "pred2")
    assert _evaluate(tmp_path / "pred2", data, tmp_path / "eval2.json")["summary"]["vessel"]["pooled"]["dice"] < 1


@pytest.mark.parametrize(("name", "array", "match"), [
    ("99_training.png", np.zeros((H, W), np.uint8), "names no DRIVE image"),
    ("21_training.png", np.zeros((H, W + 1), np.uint8), "expected a \\(40, 36\\) map of 0/1"),
    ("21_training.png", np.full((H, W), 255, np.uint8), "expected a \\(40, 36\\) map of 0/1"),
])
def test_drive_paste_refuses_what_is_not_a_drive_prediction(anchor, tmp_path, name, array, match) -> None:
    from akmamba.errors import ConfigError

    data = _drive_like(tmp_path / "training")
    (tmp_path / "val").mkdir()
    Image.fromarray(array).save(tmp_path / "val" / name)
    with pytest.raises(ConfigError, match=match):
        anchor.paste_drive(tmp_path / "val", data, tmp_path / "pred")
    with pytest.raises(ConfigError, match="is the --pred folder"):
        anchor.paste_drive(tmp_path / "val", data, tmp_path / "val")


def test_cli_reports_bad_input_without_a_traceback(anchor, tmp_path, capsys) -> None:
    data = _drive_like(tmp_path / "training")
    (tmp_path / "empty").mkdir()
    assert anchor.main(["paste", "--dataset", "drive", "--pred", str(tmp_path / "empty"), "--data", str(data),
                        "--out", str(tmp_path / "pred")]) == 2
    assert "No .png predictions" in capsys.readouterr().err


def test_bladder_raw_splits_and_paste_round_trip(anchor, tmp_path) -> None:
    """The bladder path: 512 x 512 slices cropped for nnU-Net, 3 folds by case, pasted back to full size."""
    data = tmp_path / "BladderMRI"
    (data / "Images").mkdir(parents=True)
    (data / "Labels").mkdir()
    rng = np.random.default_rng(1)
    for case in ("1", "2", "3"):
        for n in (1, 2):
            img = rng.integers(0, 256, (512, 512), dtype=np.uint8)
            Image.fromarray(img).save(data / "Images" / f"{case}-IM{n}.png")
            lab = np.zeros((512, 512), np.uint8)
            lab[200:220, 200:240], lab[230:240, 210:220] = 128, 255
            Image.fromarray(lab).save(data / "Labels" / f"{case}-IM{n}.png")
    raw = tmp_path / "Dataset501_BladderCrop"
    assert anchor.make_raw(data, raw) == 6
    lab = np.asarray(Image.open(raw / "labelsTr" / "2_1.png"))
    assert lab.shape == (320, 320)
    assert set(np.unique(lab)) == {0, 1, 2}
    splits = anchor.make_splits(raw, tmp_path / "pre", 3, 0)
    assert sorted(k.split("_")[0] for sp in splits for k in sp["val"]) == ["1", "1", "2", "2", "3", "3"]
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "2_1.png").write_bytes((raw / "labelsTr" / "2_1.png").read_bytes())
    assert anchor.paste(tmp_path / "val", data, tmp_path / "pred") == 1
    truth = np.asarray(Image.open(data / "Labels" / "2-IM1.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "pred" / "2-IM1.png")),
                                  (truth == 128) * 1 + (truth == 255) * 2)


def test_gpu_queue_script_parses_and_refuses_an_unknown_dataset(tmp_path) -> None:
    script = EXPERIMENTS / "gpu_r5.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    env = {"PATH": "/usr/bin:/bin", "RUNS": str(tmp_path / "r"), "XFER": str(tmp_path / "x"), "DATASET": "prostate"}
    res = subprocess.run(["bash", str(script), "queue-env"], capture_output=True, text=True, env=env)
    assert res.returncode == 2
    assert "DATASET must be bladder or drive" in res.stderr


def _queue_env(tmp_path, variables: dict[str, str], first: str = "") -> list[str]:
    """The lines printed by ``gpu_r5.sh queue-env`` sourced with ``variables``: ``first`` (a command), then R5's
    arguments one a line, then ``$NN $NFOLDS $P``."""
    env = {"PATH": "/usr/bin:/bin", "RUNS": str(tmp_path / "r"), "XFER": str(tmp_path / "x"), **variables}
    res = subprocess.run(["bash", "-c", f"source {EXPERIMENTS / 'gpu_r5.sh'} queue-env; {first or ':'}; "
                          'printf "%s\\n" "${R5[@]}"; echo $NN $NFOLDS $P'], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def test_gpu_queue_drive_runs_nnunet_then_ours_for_each_fold(tmp_path) -> None:
    """The DRIVE queue's default steps and the round-5 arguments it passes (sourced, nothing run)."""
    lines = _queue_env(tmp_path, {"DATASET": "drive", "FOLDS": "0 3"}, "echo $QUEUE")
    assert lines[0].split() == ["nnunet:0", "ours:0", "nnunet:3", "ours:3"]
    assert lines[-1] == "Dataset502_DRIVE 5 drive-"
    args = lines[1:-1]
    assert args[args.index("--patch-size") + 1:args.index("--patch-size") + 3] == ["584", "565"]
    assert args[args.index("--dataset") + 1] == "drive"
    assert "--oversample-class" not in args
    assert json.loads(args[args.index("--model-options") + 1])["deep_supervision"] == 2


def test_gpu_queue_drive_with_the_shipped_recipe(tmp_path) -> None:
    """RECIPE=ema-long: the shipped DRIVE recipe's arguments (256 x 256 patches, Adam 5e-4, cosine, EMA, no deep
    supervision) under runs of their own (drive-el-*); an unknown recipe is refused."""
    lines = _queue_env(tmp_path, {"DATASET": "drive", "RECIPE": "ema-long"})
    assert lines[-1] == "Dataset502_DRIVE 5 drive-el-"
    args = lines[:-1]
    assert args[args.index("--patch-size") + 1:args.index("--patch-size") + 3] == ["256", "256"]
    assert args[args.index("--lr") + 1] == "0.0005"
    assert args[args.index("--lr-schedule") + 1] == "cosine"
    assert "--augmentation" not in args
    assert "deep_supervision" not in json.loads(args[args.index("--model-options") + 1])
    env = {"PATH": "/usr/bin:/bin", "RUNS": str(tmp_path / "r"), "XFER": str(tmp_path / "x"), "DATASET": "drive",
           "RECIPE": "long"}
    res = subprocess.run(["bash", str(EXPERIMENTS / "gpu_r5.sh"), "queue-env"], capture_output=True, text=True,
                         env=env)
    assert res.returncode == 2
    assert "RECIPE must be r5 or ema-long" in res.stderr
