"""The NoC protocol: where the simulated user clicks, when it stops, the region-growing baseline, the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from akmamba.errors import ConfigError
from akmamba.prompt.protocol import RegionGrow, carried, dice, next_click, run_label


def test_click_at_distance_maximum_of_the_largest_error_region() -> None:
    gt = np.zeros((60, 60), bool)
    gt[5:25, 5:45] = True          # missed: 20 x 40 = 800 px
    pred = np.zeros_like(gt)
    pred[40:50, 40:50] = True      # false: 100 px
    y, x, positive = next_click(gt, pred)
    assert positive
    dist = ndi.distance_transform_edt(np.pad(gt & ~pred, 1))[1:-1, 1:-1]
    assert dist[y, x] == dist.max()
    assert 5 <= y < 25
    assert 5 <= x < 45
    # now the false region is the largest error: a negative click inside it, at its centre
    pred2 = gt.copy()
    pred2[30:59, 30:59] = True
    y, x, positive = next_click(gt, pred2)
    assert not positive
    assert (y, x) == (44, 44)
    assert next_click(gt, gt) is None


def test_region_border_counts_image_edge() -> None:
    gt = np.zeros((20, 20), bool)
    gt[:, :6] = True               # touches the image's left edge: its interior is at x = 2 or 3, not 0
    _y, x, _ = next_click(gt, np.zeros_like(gt))
    assert x in (2, 3)


def test_noc_is_limit_plus_one_when_never_reached_and_stops_at_target() -> None:
    gt = np.zeros((30, 30), bool)
    gt[5:20, 5:20] = True
    never = run_label(lambda clicks: np.zeros_like(gt), gt, 1, max_clicks=4, target=0.85)
    assert never.noc == 5
    assert len(never.dice_after) == 5
    assert len(never.clicks) == 4
    calls: list[int] = []

    def answer(clicks: list) -> np.ndarray:  # perfect after the second click
        calls.append(len(clicks))
        return gt if len(clicks) >= 2 else np.zeros_like(gt)

    run = run_label(answer, gt, 1, max_clicks=20, target=0.85)
    assert run.noc == 2
    assert run.dice_after == [0.0, 0.0, 1.0]
    assert calls == [0, 1, 2]
    assert run_label(lambda c: gt, gt, 1).noc == 0
    assert carried([0.1, 0.9], 3) == [0.1, 0.9, 0.9, 0.9]
    with pytest.raises(ConfigError, match="target"):
        run_label(answer, gt, 1, target=1.5)


def test_region_grow_adds_and_removes() -> None:
    img = np.zeros((40, 40), np.float32)
    img[10:20, 10:20] = 10.0
    rg = RegionGrow(tolerance=0.3, radius=40, smooth=0)
    answer = rg.answerer(img, np.zeros((40, 40), bool))
    from akmamba.prompt.encode import Click

    grown = answer([Click(15, 15, 1)])
    assert grown.sum() == 100
    assert grown[10:20, 10:20].all()
    assert answer([Click(15, 15, 1), Click(12, 12, 1, positive=False)]).sum() == 0
    assert dice(grown, img > 5) == 1.0


def _write_case(folder: Path, stem: str, image: np.ndarray, label: np.ndarray) -> None:
    (folder / "Images").mkdir(exist_ok=True)
    (folder / "Labels").mkdir(exist_ok=True)
    Image.fromarray(image).save(folder / "Images" / f"{stem}.png")
    Image.fromarray(label).save(folder / "Labels" / f"{stem}.png")


def test_prompt_eval_cli_report_keys(tmp_path: Path, plain_ckpt: Path, prompt_ckpt: Path) -> None:
    from akmamba.cli import main

    rng = np.random.default_rng(0)
    for i in range(2):
        img = (rng.random((32, 32)) * 40).astype(np.uint8)
        lab = np.zeros((32, 32), np.uint8)
        lab[4:14, 4:14] = 128
        lab[18:26, 18:26 + i] = 255
        img[lab == 255] += 150
        _write_case(tmp_path, f"{i + 1}-IM{i}", img, lab)
    out = tmp_path / "r" / "report.json"
    args = ["prompt-eval", "--images", str(tmp_path / "Images"), "--gt", str(tmp_path / "Labels"),
            "--dataset", "bladder", "--max-clicks", "3", "--target", "0.85", "--out", str(out)]
    assert main([*args, "--model", str(plain_ckpt)]) == 2  # plain model without --baseline: refused
    assert not out.exists()
    assert main([*args, "--model", str(prompt_ckpt)]) == 0
    report = json.loads(out.read_text())
    assert set(report) >= {"protocol", "mode", "model", "model_sha256", "images", "summary", "timing"}
    assert report["mode"] == "prompt"
    assert report["model"]["prompt_aware"] is True
    assert len(report["model_sha256"]) == 64
    assert set(report["summary"]) == {"wall", "tumor"}  # the model's label table names them
    for s in report["summary"].values():
        assert s["n"] == 2
        assert len(s["dice_after"]) == 4
        assert 0 <= s["noc"] <= 4
    row = report["images"][0]["labels"]["tumor"]
    assert {"dice_after", "noc", "clicks"} <= set(row)
    assert report["images"][0]["case"] == "1"
    assert main([*args, "--model", str(plain_ckpt), "--baseline", "region-grow", "--cases", "2"]) == 0
    report = json.loads(out.read_text())
    assert report["mode"] == "region-grow"
    assert [r["case"] for r in report["images"]] == ["2"]
    assert main([*args, "--model", str(plain_ckpt), "--baseline", "region-grow", "--with-label", "tumor",
                 "--every", "2"]) == 0
    assert [r["image"] for r in json.loads(out.read_text())["images"]] == ["1-IM0"]
    # the tumour is bright on a dark image: the clicks' regions grow onto it (the random model starts far off)
    tumour = report["images"][0]["labels"]["tumor"]
    assert tumour["dice_after"][-1] > tumour["dice_after"][0] + 0.3
    assert any(positive for _, _, positive in tumour["clicks"])


def _tiny_drive_root(root: Path) -> Path:
    """A DRIVE-layout root (``images/*_training.tif``, ``1st_manual/*_manual1.gif``, ``mask/*_training_mask.gif``):
    two 40 x 40 RGB images with a bright 'vessel' bar and a round field of view."""
    for folder in ("images", "1st_manual", "mask"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:40, :40]
    fov = ((yy - 20) ** 2 + (xx - 20) ** 2 < 18 ** 2).astype(np.uint8) * 255
    for i, stem in enumerate(("21", "22")):
        lab = np.zeros((40, 40), np.uint8)
        lab[10:30, 18 + i:22 + i] = 255
        lab[0:3, 0:40] = 255  # truth outside the FOV: ignored when scored inside it
        img = np.stack([np.where(lab > 0, 200, 40).astype(np.uint8)] * 3, -1)
        Image.fromarray(img).save(root / "images" / f"{stem}_training.tif")
        Image.fromarray(lab).save(root / "1st_manual" / f"{stem}_manual1.gif")
        Image.fromarray(fov).save(root / "mask" / f"{stem}_training_mask.gif")
    return root


@pytest.fixture
def drive_prompt_ckpt(tmp_path: Path) -> Path:
    import torch

    from akmamba.nn import build_model, save_checkpoint
    from akmamba.prompt.model import convert_checkpoint

    torch.manual_seed(0)
    table = [{"name": "background", "index": 0, "value_in_file": 0, "color": [0, 0, 0]},
             {"name": "vessel", "index": 1, "value_in_file": 255, "color": [0, 220, 255]}]
    plain = tmp_path / "drive-plain.safetensors"
    save_checkpoint(build_model("unet", 3, 2, base_channels=4, depth=2), plain,
                    metadata={"name": "tiny-drive", "label_table": table, "version": "1", "normalisation": "zscore"})
    convert_checkpoint(plain, tmp_path / "drive-prompt.safetensors")
    return tmp_path / "drive-prompt.safetensors"


def test_prompt_eval_pairs_by_the_dataset_description_and_scores_inside_the_fov(
        tmp_path: Path, drive_prompt_ckpt: Path) -> None:
    from akmamba.cli import main

    root = _tiny_drive_root(tmp_path / "training")
    out = tmp_path / "r" / "drive.json"
    base = ["prompt-eval", "--model", str(drive_prompt_ckpt), "--max-clicks", "4", "--out", str(out)]
    assert main([*base, "--data-root", str(root), "--dataset", "drive", "--cases", "22"]) == 0
    report = json.loads(out.read_text())
    assert [(r["image"], r["case"], r["fov"]) for r in report["images"]] == [("22_training", "22", True)]
    assert report["protocol"]["inside_fov"] is True
    assert report["command"]["data_root"] == str(root)
    assert report["command"]["images"] is None
    fov = np.asarray(Image.open(root / "mask" / "22_training_mask.gif")) > 0
    run = report["images"][0]["labels"]["vessel"]
    assert run["clicks"]
    assert all(fov[y, x] for y, x, _ in run["clicks"])  # the simulated user clicks inside the field of view
    # region growing from the clicks finds the bar (80 px inside the FOV); were the 120 px of truth outside the FOV
    # scored (never clicked there, never grown: not connected to the bar), Dice could not pass 2*80/(80+200) = 0.57
    assert main([*base, "--data-root", str(root), "--dataset", "drive", "--baseline", "region-grow"]) == 0
    report = json.loads(out.read_text())
    assert [r["case"] for r in report["images"]] == ["21", "22"]
    assert max(max(r["labels"]["vessel"]["dice_after"]) for r in report["images"]) > 0.7


@pytest.mark.parametrize(("extra", "message"), [
    (["--data-root", "D", "--images", "I"], "not both"),
    (["--data-root", "D"], "--data-root needs --dataset"),
    (["--images", "I"], "Give --images and --gt"),
])
def test_prompt_eval_asks_for_one_source_of_images(tmp_path: Path, prompt_ckpt: Path, extra: list[str],
                                                   message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from akmamba.cli import main

    args = [str(tmp_path / a) if a in {"D", "I"} else a for a in extra]
    assert main(["prompt-eval", "--model", str(prompt_ckpt), "--out", str(tmp_path / "r.json"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_prompt_eval_refuses_a_report_inside_the_data(tmp_path: Path, drive_prompt_ckpt: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from akmamba.cli import main

    root = _tiny_drive_root(tmp_path / "training")
    out = root / "reports" / "r.json"
    assert main(["prompt-eval", "--model", str(drive_prompt_ckpt), "--data-root", str(root), "--dataset", "drive",
                 "--out", str(out)]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert not out.exists()
