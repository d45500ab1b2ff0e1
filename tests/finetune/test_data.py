"""The fine-tuning folder, correction masks from each kind of evidence, and the frozen split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from akmamba.annotations import LabelMap
from akmamba.errors import ConfigError
from akmamba.finetune.data import (
    case_correction_mask,
    correction_from_journal,
    fixed_split,
    load_finetune_folder,
    materialise_corrections,
    read_correction_mask,
    split_cases,
    update_edit_mask,
    workspace_case,
    workspace_edit_mask_path,
)
from akmamba.io import Image, write_image, write_labels

pytestmark = pytest.mark.finetune


def test_folder_layout_and_masks(corrected_folder: Path, tmp_path: Path) -> None:
    data = load_finetune_folder(corrected_folder)
    assert data.case_ids == [f"case{i:02d}" for i in range(1, 6)]
    assert all(c.edits is not None for c in data.cases)
    counts = materialise_corrections(data, tmp_path / "masks")
    assert all(n > 0 for n in counts.values())
    mask = read_correction_mask(tmp_path / "masks" / "case01.png", (32, 32))
    assert mask.dtype == bool
    assert mask.sum() == counts["case01"]


def test_before_labels_give_the_changed_pixels(corrected_folder: Path) -> None:
    data = load_finetune_folder(corrected_folder)
    case = data.cases[0]
    assert case.sample.label is not None
    label = np.asarray(__import__("akmamba.io", fromlist=["read_image"]).read_image(case.sample.label).array)
    before = label.copy()
    before[:4, :4] = 1 - before[:4, :4]
    (corrected_folder / "before").mkdir()
    write_labels(before, like=Image(label, "2d"), path=corrected_folder / "before" / "case01.png")
    (corrected_folder / "edits" / "case01.png").unlink()
    case = load_finetune_folder(corrected_folder).cases[0]
    mask = case_correction_mask(case, label)
    assert mask is not None
    assert mask.sum() == 16
    assert mask[:4, :4].all()


def test_journal_counts_user_edits_not_model_edits(tmp_path: Path) -> None:
    lm = LabelMap(np.zeros((20, 30), np.uint8))
    lm.start_journal(tmp_path / "j.akjournal", store_base=True, fsync=False)
    model = np.zeros((20, 30), np.uint8)
    model[5:10, 5:10] = 1
    lm.set_region(np.ones((20, 30), bool), model, source="model")
    lm.paint_disc((15, 20), 2, 1)
    lm.journal.close()
    mask = correction_from_journal(tmp_path / "j.akjournal")
    assert mask.shape == (20, 30)
    assert mask[15, 20]
    assert not mask[7, 7]
    assert mask.sum() == lm.edited_mask(("user",)).sum()


def test_split_is_frozen_by_case_id() -> None:
    ids = [f"p{i}" for i in range(20)]
    train, held = split_cases(ids, 0.2)
    assert set(train) | set(held) == set(ids)
    assert not set(train) & set(held)
    assert held
    _more_train, more_held = split_cases([*ids, "p20", "p21", "p22"], 0.2)
    assert set(held) <= set(more_held)  # a held-out case stays held out as cases are added
    assert set(more_held) - set(held) <= {"p20", "p21", "p22"}
    assert split_cases(["a", "b"], 0.2)[1]
    assert split_cases(["a", "b"], 0.9)[0]


def test_fixed_split_keeps_every_case_on_its_side_and_grows() -> None:
    ids = [f"c{i}" for i in range(4)]
    train, held = fixed_split(ids)
    assert len(held) == 2  # never judged on one case once there are four
    record = {"heldout": held, "train": train}
    more = [*ids, *(f"n{i}" for i in range(8))]
    train2, held2 = fixed_split(more, record)
    assert set(held) <= set(held2)  # never re-drawn
    assert set(train) <= set(train2)  # a case trained on is never judged on
    assert len(held2) == 3  # grows to its share (20 % of 12, rounded up)
    assert fixed_split(more, {"heldout": held2, "train": train2}) == (train2, held2)
    assert fixed_split(["a", "b"]) in ((["a"], ["b"]), (["b"], ["a"]))


def test_fixed_split_says_when_it_cannot_judge_or_train() -> None:
    with pytest.raises(ConfigError, match="nothing new to train on"):
        fixed_split(["a", "b"], {"heldout": ["a", "b"], "train": []})
    with pytest.raises(ConfigError, match="can judge the new version"):
        fixed_split(["a", "b"], {"heldout": ["z"], "train": ["a", "b"]})


#: A line split per image by an earlier version (what the viewer's fine-tune recorded before case-id patterns):
#: bladder case 5 wholly held out, case 9 wholly trained on, case 7 held out in part and trained on in part.
PER_IMAGE = {"heldout": ["5-IM081", "5-IM082", "7-IM1"], "train": ["7-IM2", "9-IM3", "9-IM4"]}


def test_a_per_image_split_is_regrouped_into_the_patterns_cases() -> None:
    from akmamba.finetune.data import regroup_split
    from akmamba.io.dataset import builtin_description

    cases = ["11", "5", "7", "9"]  # this run, by case; 11 is new
    regrouped = regroup_split(PER_IMAGE, builtin_description("bladder"), cases)
    assert regrouped.record == {"heldout": ["5"], "train": ["7", "9"]}
    assert regrouped.mixed == ["7"]
    assert regrouped.heldout_ids == {"5-IM081": "5", "5-IM082": "5", "7-IM1": "7"}
    assert regrouped.train_ids == {"7-IM2": "7", "9-IM3": "9", "9-IM4": "9"}
    train, held = fixed_split(cases, regrouped.record)
    assert "5" in held  # held out stays held out (the old code saw a new case "5" and drew it by hash: train)
    assert {"7", "9"} <= set(train)  # trained stays trained; mixed trains (the old code held out 9)
    assert fixed_split(cases, PER_IMAGE) != (train, held)  # without regrouping the record says nothing
    notes = regrouped.notes(cases)
    assert "stay held out (every image held out): 5;" in notes[0]
    assert "stay trained on: 9;" in notes[0]
    assert notes[1] == ("case 7: earlier versions held out some of its images (7-IM1) and trained on others, so it "
                        "trains now and cannot judge a version.")
    assert "counts as trained on" in regrouped.notes(["5", "9", "11"])[1]  # case 7 not in this run


def test_regrouping_leaves_case_ids_and_unpatterned_records_alone() -> None:
    from akmamba.finetune.data import regroup_split
    from akmamba.io.dataset import builtin_description, parse_dataset_description

    bladder = builtin_description("bladder")
    by_case = {"heldout": ["5", "own-id"], "train": ["7"]}  # case ids already, and an id the pattern cannot read
    regrouped = regroup_split(by_case, bladder, ["5", "7"])
    assert not regrouped.changed
    assert regrouped.record == by_case
    assert regrouped.notes(["5", "7"]) == []
    no_rule = parse_dataset_description({k: v for k, v in bladder.to_dict().items() if k != "case_id"})
    assert not regroup_split(PER_IMAGE, no_rule, ["5-IM081"]).changed  # per-image run: ids stay per image
    # a recorded id equal to one of this run's case ids is a case, even where the pattern would read it
    loose = parse_dataset_description({**bladder.to_dict(), "case_id": {"regex": r"(\d)"}})
    assert regroup_split({"heldout": ["11"], "train": ["12"]}, loose, ["11", "12"]).record == \
        {"heldout": ["11"], "train": ["12"]}


@pytest.mark.parametrize(("setup", "words"), [
    ("empty", "dataset.json"),
    ("one_case", "at least two corrected cases"),
])
def test_bad_folders_say_what_to_do(tmp_path: Path, setup: str, words: str, folder_factory) -> None:
    root = tmp_path / "d"
    if setup == "empty":
        root.mkdir()
    else:
        folder_factory(root, cases=2)
        data = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
        (root / "labels" / "case02.png").unlink()
        (root / "images" / "case02.png").unlink()
        (root / "dataset.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=words):
        load_finetune_folder(root)


def test_viewer_edit_mask_accumulates(tmp_path: Path) -> None:
    image_path = tmp_path / "img.png"
    image = Image(np.zeros((10, 12), np.uint8), "2d")
    write_image(image, image_path)
    first = np.zeros((10, 12), bool)
    first[1, 1] = True
    second = np.zeros((10, 12), bool)
    second[5, 6] = True
    assert update_edit_mask(image_path, image, np.zeros((10, 12), bool)) is None
    update_edit_mask(image_path, image, first)
    path = update_edit_mask(image_path, image, second)
    assert path == workspace_edit_mask_path(image_path)
    mask = read_correction_mask(path)
    assert mask[1, 1]
    assert mask[5, 6]
    assert mask.sum() == 2
    labels = np.zeros((10, 12), np.uint8)
    write_labels(labels, like=image, path=tmp_path / "img_labels.png")
    _img, lab, m = workspace_case(image_path, tmp_path / "img_labels.png")
    assert m is not None
    assert m.sum() == 2
    assert lab.shape == (10, 12)


def _bladder_layout(root: Path, stems: list[str]) -> list[Path]:
    """A bladder-layout folder (``Images/<case>-IM<n>.png`` + ``Labels/``), tiny grey slices."""
    paths = []
    for folder in ("Images", "Labels"):
        (root / folder).mkdir(parents=True)
    for i, stem in enumerate(stems):
        write_image(Image(np.full((16, 16), 10 * i, np.uint8), "2d"), root / "Images" / f"{stem}.png")
        write_image(Image(np.zeros((16, 16), np.uint8), "2d"), root / "Labels" / f"{stem}.png")
        paths.append(root / "Images" / f"{stem}.png")
    return paths


def test_case_ids_come_from_the_datasets_pattern_and_the_split_keeps_a_patient_together(tmp_path: Path) -> None:
    from akmamba.finetune.data import case_rule_for, write_finetune_folder

    stems = ["5-IM081", "5-IM082", "7-IM1", "7-IM2", "9-IM3", "9-IM4", "11-IM5", "11-IM6"]
    paths = _bladder_layout(tmp_path / "bladder", stems)
    rule = case_rule_for(paths)  # each image's own dataset: the shipped bladder description
    assert rule.case_ids == ["5", "5", "7", "7", "9", "9", "11", "11"]  # "5-IM081.png" -> case "5"
    assert not rule.per_image
    assert "4 case(s)" in rule.note
    table = [{"name": "background", "index": 0, "color": [0, 0, 0]}, {"name": "x", "index": 1, "color": [9, 9, 9]}]
    items = [(Image(np.full((16, 16), i, np.uint8), "2d"), np.zeros((16, 16), np.uint8), s, None)
             for i, s in enumerate(stems)]
    out = write_finetune_folder(items, tmp_path / "ft", table, case_id_regex=rule.regex)
    data = load_finetune_folder(out)
    assert data.case_ids == ["11", "5", "7", "9"]  # was one case per image
    train, held = fixed_split(data.case_ids)
    by_case = {c.stem: c.case_id for c in data.cases}
    assert not {by_case[s] for s in stems if by_case[s] in train} & set(held)  # no patient on both sides


def test_without_a_dataset_the_split_is_per_image_and_says_so(tmp_path: Path) -> None:
    from akmamba.finetune.data import case_rule_for

    folder = tmp_path / "mine"
    folder.mkdir()
    paths = []
    for stem in ("5-IM081", "5-IM082"):
        write_image(Image(np.zeros((8, 8), np.uint8), "2d"), folder / f"{stem}.png")
        paths.append(folder / f"{stem}.png")
    rule = case_rule_for(paths)
    assert rule.per_image
    assert rule.case_ids == ["5-IM081", "5-IM082"]
    assert "per image" in rule.note
    assert "5-IM081.png" in rule.note
