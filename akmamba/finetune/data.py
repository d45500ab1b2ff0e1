"""Fine-tuning data: a folder of corrected cases, their correction masks, and the train / held-out split.

Folder layout (the viewer writes it; ``akmamba finetune --data DIR`` reads it). It is the ``akmamba`` training
folder of :func:`akmamba.export.export_training_folder` plus optional evidence of what the user changed::

    DIR/dataset.json              dataset description (akmamba.io.dataset): images/, labels/, label table
    DIR/images/<id>.png           the images (2-D; grey or RGB)
    DIR/labels/<id>.png           the corrected labels (class indices, or values mapped by the label table)
    DIR/edits/<id>.png            optional correction mask: non-zero = a pixel the user edited
    DIR/journals/<id>.akjournal   optional edit journal (akmamba.annotations.journal, base stored): its user edits
    DIR/before/<id>.png           optional labels before correction (the model's mask): changed pixels are edits

A case's correction mask is the union of whichever of the three is present; a case with none has no edits (it
still trains, at weight 1). Any dataset description works in place of ``dataset.json`` with
``--description FILE``; ``<id>`` is then the image file's stem.

The split into training and held-out cases is by case id and *fixed* (:func:`fixed_split`): the registry keeps, per
model line, every case an earlier version was judged on (held out) or trained on; those keep their side, and only
cases never seen before are assigned, in the order of the SHA-1 of their id, to the held-out set until it holds
its share (at least two cases once there are four). The held-out set therefore grows with the corrected cases and
is never re-drawn between versions, and a later fine-tune never trains on a case an earlier one was judged on.
A record of per-image ids (lines fine-tuned before images were grouped into cases) is first regrouped into the
current cases (:func:`regroup_split`); a case held out in part and trained on in part then trains.

numpy only (no torch).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from akmamba.errors import ConfigError, JournalError, ShapeError
from akmamba.io.dataset import DatasetDescription, Sample, case_id_of, load_dataset_description, pair_files
from akmamba.io.image import Image
from akmamba.io.labels import (
    LabelFile,
    default_label_rows,
    read_label_file,
    read_label_table,
    split_name,
    table_path,
)
from akmamba.io.readers import read_image
from akmamba.io.writers import write_image, write_labels

DESCRIPTION = "dataset.json"
EDITS_DIR = "edits"
JOURNALS_DIR = "journals"
BEFORE_DIR = "before"
#: Folder next to a viewer workspace's images that keeps each image's accumulated correction mask.
WORKSPACE_EDITS_DIR = "akmamba_edits"


@dataclass(frozen=True)
class FinetuneCase:
    """One corrected image and the evidence of its corrections (None where absent)."""

    sample: Sample
    edits: Path | None = None
    journal: Path | None = None
    before: Path | None = None

    @property
    def stem(self) -> str:
        """The image file's stem, the key of its companion files."""
        return self.sample.image.stem

    @property
    def case_id(self) -> str:
        """The patient / case id (splits never separate one case's images)."""
        return self.sample.case_id


@dataclass(frozen=True)
class FinetuneData:
    """A fine-tuning folder: its root, dataset description and cases."""

    root: Path
    description: DatasetDescription
    description_path: Path
    cases: tuple[FinetuneCase, ...]

    @property
    def case_ids(self) -> list[str]:
        """Sorted unique case ids."""
        return sorted({c.case_id for c in self.cases})


def load_finetune_folder(root: str | Path, description: str | Path | None = None) -> FinetuneData:
    """Read a fine-tuning folder (layout in the module docstring).

    Args:
        root: the folder.
        description: a dataset description file (default ``root/dataset.json``).

    Raises:
        ConfigError: no description, no images, images without labels, or fewer than two cases.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"Fine-tuning data folder {str(root)!r} does not exist.", path=str(root),
                          parameter="data", expected="a folder", got=str(root))
    desc_path = Path(description) if description is not None else root / DESCRIPTION
    if not os.path.lexists(desc_path):  # a FIFO, folder or link loop is reported by load_dataset_description
        raise ConfigError(
            f"{str(desc_path)!r} is missing: a fine-tuning folder needs a dataset description (images/, labels/, "
            "dataset.json as written by File > Export > Training folder, layout 'akmamba'), or pass --description.",
            path=str(desc_path), parameter="data", expected="DIR/dataset.json", got=None)
    desc = load_dataset_description(desc_path)
    samples = pair_files(desc, root)
    if not samples:
        raise ConfigError(f"No images found in {str(root)!r} for the description {str(desc_path)!r}.",
                          path=str(root), parameter="data", expected="at least two corrected images", got=0)
    unlabelled = [s.image.name for s in samples if s.label is None]
    if unlabelled:
        raise ConfigError(f"Images without a corrected label in {str(root)!r}: {', '.join(unlabelled[:5])}. "
                          "Every image of a fine-tuning folder needs its labels.", path=str(root),
                          parameter="data", expected="a label per image", got=unlabelled[:5])
    cases = []
    for s in samples:
        stem = s.image.stem
        cases.append(FinetuneCase(
            s,
            edits=_existing(root / EDITS_DIR / f"{stem}.png"),
            journal=_existing(root / JOURNALS_DIR / f"{stem}.akjournal"),
            before=_existing(root / BEFORE_DIR / f"{stem}.png"),
        ))
    data = FinetuneData(root, desc, desc_path, tuple(cases))
    if len(data.case_ids) < 2:
        raise ConfigError(f"Fine-tuning needs at least two corrected cases (one to train on, one held out to judge "
                          f"the new model); {str(root)!r} has {len(data.case_ids)}. Correct more cases first.",
                          path=str(root), parameter="data", expected=">= 2 cases", got=len(data.case_ids))
    return data


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


# ---------------------------------------------------------------------------------------------- correction masks


def read_correction_mask(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A correction mask file as bool ``(H, W)`` (any non-zero channel counts as edited).

    Raises:
        VolumeReadError: unreadable file.
        ShapeError: its shape differs from ``shape``.
    """
    image = read_image(path)
    arr = np.asarray(image.array)
    if not image.is_volume and arr.ndim == 3:
        arr = np.asarray(arr.any(axis=-1))
    mask = arr != 0
    if shape is not None and tuple(mask.shape) != tuple(shape):
        raise ShapeError(f"Correction mask {str(path)!r} is {tuple(mask.shape)}; its labels are {tuple(shape)}.",
                         path=str(path), expected=tuple(shape), got=tuple(mask.shape))
    return mask


def correction_from_labels(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Pixels whose label differs between the model's mask (``before``) and the corrected labels (``after``).

    Raises:
        ShapeError: shapes differ.
    """
    if before.shape != after.shape:
        raise ShapeError(f"Labels before {before.shape} and after {after.shape} correction differ in shape.",
                         expected=after.shape, got=before.shape)
    return np.asarray(before) != np.asarray(after)


def correction_from_journal(path: str | Path) -> np.ndarray:
    """The union of the regions changed by user edits still in effect in an edit journal (model edits excluded).

    Raises:
        JournalError: unreadable or damaged journal, or one that does not store its starting labels.
    """
    from akmamba.annotations.journal import restore

    try:
        label_map = restore(path, None)
    except JournalError as exc:
        raise JournalError(f"Cannot use edit journal {str(path)!r} for fine-tuning: {exc.message}", path=str(path),
                           hint="Remove it or give an edits/ mask instead.") from exc
    return label_map.edited_mask(("user",))


def case_correction_mask(case: FinetuneCase, label: np.ndarray) -> np.ndarray | None:
    """The union of a case's correction evidence (edits mask, journal, before-labels), or None if it has none.

    Args:
        case: the case.
        label: its corrected labels as read from the file (``before`` is compared in the same value space).
    """
    masks = []
    if case.edits is not None:
        masks.append(read_correction_mask(case.edits, label.shape))
    if case.journal is not None:
        mask = correction_from_journal(case.journal)
        if mask.shape != label.shape:
            raise ShapeError(f"Journal {str(case.journal)!r} covers {mask.shape}; the labels are {label.shape}.",
                             path=str(case.journal), expected=label.shape, got=mask.shape)
        masks.append(mask)
    if case.before is not None:
        before = np.asarray(read_image(case.before).array)
        masks.append(correction_from_labels(before, label))
    if not masks:
        return None
    return np.logical_or.reduce(masks)


def write_mask(mask: np.ndarray, path: str | Path) -> Path:
    """Write a bool mask as a 0/255 grey PNG (atomic, verified; overwrites)."""
    arr = np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8)
    return write_image(Image(arr, "2d"), path, overwrite=True)


def materialise_corrections(data: FinetuneData, out_dir: str | Path) -> dict[str, int]:
    """Write each case's correction mask as ``out_dir/<stem>.png`` (the ``edit_masks`` folder of a TrainConfig).

    Returns:
        ``{stem: edited pixel count}`` for every case (0 = no evidence of edits).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for case in data.cases:
        assert case.sample.label is not None  # checked by load_finetune_folder
        label = np.asarray(read_image(case.sample.label).array)
        if label.ndim == 3 and not read_image(case.sample.label).is_volume:
            label = label[..., 0]
        mask = case_correction_mask(case, label)
        counts[case.stem] = 0 if mask is None else int(mask.sum())
        if mask is not None:
            write_mask(mask, out / f"{case.stem}.png")
    return counts


# ---------------------------------------------------------------------------------------------- viewer workspace


def workspace_edit_mask_path(image_path: str | Path, is_volume: bool = False) -> Path:
    """Where the viewer keeps an image's accumulated correction mask: ``akmamba_edits/<stem>.png`` next to it
    (``.nii.gz`` for volumes). The folder is not a case, so case lists do not show it."""
    p = Path(image_path)
    stem, _ = split_name(p)
    return p.parent / WORKSPACE_EDITS_DIR / f"{stem}{'.nii.gz' if is_volume else '.png'}"


def update_edit_mask(image_path: str | Path, like: Image, edited: np.ndarray) -> Path | None:
    """OR ``edited`` into the image's stored correction mask (creating it); nothing is written for no edits.

    Called when the viewer saves labels: edits of every session on the image accumulate, so a case corrected over
    several sittings keeps all of them.

    Args:
        image_path: the image.
        like: the image (geometry for volumes).
        edited: bool mask of ``like.spatial_shape``, the user-edited pixels of this session.

    Returns:
        The mask file, or None when neither it nor ``edited`` holds an edit.
    """
    path = workspace_edit_mask_path(image_path, like.is_volume)
    mask = np.asarray(edited, dtype=bool)
    if path.is_file():
        with contextlib.suppress(OSError, ValueError):  # an unreadable or stale mask is replaced by these edits
            mask = mask | read_correction_mask(path, mask.shape)
    if not mask.any() and not path.is_file():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    if like.is_volume:
        return write_labels(mask.astype(np.uint8), like=like, path=path, overwrite=True)
    return write_mask(mask, path)


def write_finetune_folder(
    cases: Sequence[tuple[Image, np.ndarray, str, np.ndarray | None]],
    out_dir: str | Path,
    label_table: Any,
    *,
    name: str = "corrected",
    modality: str = "",
    case_id_regex: str | None = None,
) -> Path:
    """Write corrected cases as a fine-tuning folder (layout in the module docstring); verified by reading back.

    Args:
        cases: ``(image, labels, file id, correction mask or None)``; the file id (the image's stem) names its
            files.
        out_dir: a new or empty folder.
        label_table: as for :func:`akmamba.export.export_training_folder`.
        case_id_regex: the case-id pattern that groups the file ids into cases (:func:`case_rule_for`), recorded in
            ``dataset.json`` so the split keeps a patient's images together; None: each image is its own case.

    Returns:
        The folder.
    """
    from akmamba.export import export_training_folder

    out = Path(out_dir)
    export_training_folder([(img, lab, cid) for img, lab, cid, _ in cases], out, label_table, layout="akmamba",
                           name=name, modality=modality, case_id_regex=case_id_regex)
    data = load_finetune_folder(out)
    by_stem = {c.stem: c for c in data.cases}
    from akmamba.export import _safe_id

    for image, _labels, cid, mask in cases:
        if mask is not None and np.asarray(mask).any():
            if image.is_volume:
                raise ShapeError("Fine-tuning uses 2-D images; a volume was given.", expected="2-D image",
                                 got=image.array.shape)
            (out / EDITS_DIR).mkdir(exist_ok=True)
            stem = _safe_id(cid)
            assert stem in by_stem
            write_mask(mask, out / EDITS_DIR / f"{stem}.png")
    return out


@dataclass(frozen=True)
class CaseRule:
    """How the images of a fine-tune group into cases (patients), for the by-case train / held-out split.

    Attributes:
        regex: the dataset's case-id pattern (``case_id.regex`` of its description), applied to the image stems;
            None: no rule applies and every image is its own case (a per-image split).
        case_ids: each image's case id, in the order given.
        note: in words, for the user: the rule and its source, or why the split is per image.
    """

    regex: str | None
    case_ids: list[str]
    note: str

    @property
    def per_image(self) -> bool:
        """Whether the split is per image (no case-id rule applies)."""
        return self.regex is None


def case_rule_for(image_paths: Sequence[str | Path], description: DatasetDescription | None = None) -> CaseRule:
    """The case-id rule of a fine-tune's images: ``description``'s (the dataset the viewer opened them as), else
    the dataset each image belongs to (:func:`akmamba.io.labels.dataset_of`: ``dataset.json`` above its folder or
    a shipped description, e.g. bladder ``Images/5-IM081.png`` -> case ``5``). The rule applies only when one
    case-id pattern covers every image and matches every file id (its stem, as the fine-tuning folder names it);
    otherwise the split is per image and ``note`` says why.
    """
    from akmamba.export import _safe_id
    from akmamba.io.labels import dataset_of

    stems = [_safe_id(split_name(Path(p))[0]) for p in image_paths]
    per_image = "The train / held-out split is per image, so images of one patient can be both trained on and " \
                "held out."
    descs: list[DatasetDescription] = []
    for path in image_paths:
        found = description if description is not None else (dataset_of(path) or (None, None))[0]
        if found is None:
            return CaseRule(None, stems, f"No dataset description names {Path(path).name!r}, so no case-id rule "
                                         f"applies. {per_image}")
        descs.append(found)
    if not descs:
        return CaseRule(None, [], f"No images. {per_image}")
    named = ", ".join(sorted({d.name for d in descs}))
    patterns = {d.case_id_regex for d in descs}
    desc, regex = descs[0], descs[0].case_id_regex
    if len(patterns) != 1 or regex is None:
        why = "have no case-id pattern" if patterns == {None} else "mix different case-id patterns"
        return CaseRule(None, stems, f"The datasets of these images ({named}) {why}. {per_image}")
    try:
        ids = [case_id_of(desc, stem) for stem in stems]
    except ConfigError as exc:
        return CaseRule(None, stems, f"The case-id pattern '{regex}' of {desc.name} does not fit every image "
                                     f"({exc.message}). {per_image}")
    return CaseRule(regex, ids, f"By case: {desc.name}'s case-id pattern '{regex}' groups the {len(stems)} "
                                f"image(s) into {len(set(ids))} case(s); a case's images stay on one side of the "
                                "split.")


def workspace_case(image_path: str | Path, label_path: LabelFile | str | Path | None, *, image: Image | None = None,
                   labels: np.ndarray | None = None, session_edits: np.ndarray | None = None
                   ) -> tuple[Image, np.ndarray, np.ndarray | None] | None:
    """One corrected case of a viewer workspace: the image, its labels (class indices) and its correction mask
    (the stored :func:`workspace_edit_mask_path` OR this session's unsaved ``session_edits``).

    ``image``/``labels`` are used as given (the open case); otherwise they are read from ``image_path`` and
    ``label_path`` (a :class:`akmamba.io.labels.LabelFile` from ``find_label_file``, or a path whose values are
    class indices or the label table's file values), mapped to class indices through the image's label table
    (:func:`akmamba.io.labels.read_label_file`). Returns None when there are no saved labels.

    Raises:
        VolumeReadError, GeometryMismatchError: unreadable or mismatched files. ConfigError: label values the
        table does not hold.
    """
    if image is None or labels is None:
        if label_path is None:
            return None
        image = read_image(image_path)
        if not isinstance(label_path, LabelFile):
            sidecar = table_path(image_path)
            label_path = LabelFile(Path(label_path), "auto", read_label_table(sidecar) if sidecar.is_file() else None)
        labels = read_label_file(image, label_path, default_label_rows())
    mask_file = workspace_edit_mask_path(image_path, image.is_volume)
    masks = [np.asarray(session_edits, dtype=bool)] if session_edits is not None else []
    if mask_file.is_file():
        # a stale mask of another size cannot be placed: the case then trains at weight 1
        with contextlib.suppress(OSError, ValueError):
            masks.append(read_correction_mask(mask_file, tuple(labels.shape)))
    mask = np.logical_or.reduce(masks) if masks else None
    return image, labels, mask


# ---------------------------------------------------------------------------------------------- split


def case_rank(case_id: str) -> float:
    """A stable number in [0, 1) for a case id (SHA-1 of its UTF-8 bytes)."""
    return int(hashlib.sha1(case_id.encode("utf-8")).hexdigest()[:12], 16) / float(16**12)


#: The held-out set holds at least this many cases once there are twice as many cases.
MIN_HELDOUT = 2


@dataclass(frozen=True)
class SplitRegrouping:
    """A line's split record with the per-image ids of earlier versions regrouped into cases by the current rule.

    Lines fine-tuned before the viewer grouped images into cases recorded one id per image (``5-IM081``); a by-case
    run calls that image's case ``5``. Regrouped, a case whose earlier ids were all held out stays held out, one
    whose ids were all trained on stays trained on, and a *mixed* one (some images held out, others trained on)
    trains: it has been trained on, so it can no longer judge a version.

    Attributes:
        record: the split record in case ids (``{"heldout": [...], "train": [...]}``; ids the rule does not map
            are kept as they were); what :func:`fixed_split` takes as ``previous``.
        heldout_ids: ``{earlier held-out id: its case}`` of the ids regrouped.
        train_ids: ``{earlier trained id: its case}`` of the ids regrouped.
        mixed: the cases some of whose earlier ids were held out and others trained on (sorted).
        rule: the case-id pattern that regrouped them (None: none applies, nothing regrouped).
    """

    record: dict[str, list[str]]
    heldout_ids: dict[str, str]
    train_ids: dict[str, str]
    mixed: list[str]
    rule: str | None

    @property
    def changed(self) -> bool:
        """Whether any earlier id was regrouped (or a case found mixed)."""
        return bool(self.heldout_ids or self.train_ids or self.mixed)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready, for ``split.json`` (:meth:`akmamba.finetune.registry.ModelRegistry.add_to_split`) and the
        version record: the rule, ``{old id: case}`` per side and the mixed cases."""
        return {"rule": self.rule, "heldout": dict(sorted(self.heldout_ids.items())),
                "train": dict(sorted(self.train_ids.items())), "mixed": list(self.mixed)}

    def notes(self, present: Collection[str] = ()) -> list[str]:
        """In words, for the plan line and the dialog: what was regrouped, then one sentence per mixed case
        (``present``: this run's case ids; a mixed case among them "trains now")."""
        if not self.changed:
            return []
        regrouped = {**self.heldout_ids, **self.train_ids}
        held = sorted({c for c in self.record["heldout"] if c in regrouped.values()}, key=_natural)
        train = sorted({c for c in self.record["train"] if c in regrouped.values()} - set(self.mixed), key=_natural)
        parts = [f"stay held out (every image held out): {', '.join(held)}" if held else "",
                 f"stay trained on: {', '.join(train)}" if train else "",
                 f"train now (held out in part, trained on in part): {', '.join(self.mixed)}" if self.mixed else ""]
        out = [f"Earlier versions split this line per image; the case-id pattern '{self.rule}' regroups their "
               f"{len(regrouped)} image id(s) into {len(set(regrouped.values()))} case(s): "
               f"{'; '.join(p for p in parts if p)}."]
        for case in self.mixed:
            held_ids = sorted((i for i, c in self.heldout_ids.items() if c == case), key=_natural) or [case]
            now = "so it trains now" if case in present else "so it counts as trained on"
            out.append(f"case {case}: earlier versions held out some of its images ({', '.join(held_ids)}) and "
                       f"trained on others, {now} and cannot judge a version.")
        return out


def _natural(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def regroup_split(previous: dict[str, list[str]] | None, description: DatasetDescription,
                  case_ids: Collection[str] = ()) -> SplitRegrouping:
    """Regroup a line's split record into the cases of ``description``'s case-id pattern (:class:`SplitRegrouping`).

    Each recorded id is read as an image stem and given the case the pattern names
    (:func:`akmamba.io.dataset.case_id_of`); ids it does not match, ids it maps to themselves and ids that are
    already one of this run's ``case_ids`` keep their id. Without a pattern nothing changes.

    Args:
        previous: the split record (``{"heldout": [...], "train": [...]}``, from the registry).
        description: the fine-tuning data's description (its ``case_id_regex``).
        case_ids: this run's case ids (known cases, never regrouped themselves).
    """
    prev_held = list((previous or {}).get("heldout", []))
    prev_train = [c for c in (previous or {}).get("train", []) if c not in set(prev_held)]
    if description.case_id_regex is None:
        return SplitRegrouping({"heldout": prev_held, "train": prev_train}, {}, {}, [], None)
    known = set(case_ids)

    def case_of(rec_id: str) -> str:
        if rec_id in known:
            return rec_id
        try:
            return case_id_of(description, rec_id)
        except ConfigError:  # not an image stem of this pattern: a case id of its own
            return rec_id

    held_of = {i: case_of(i) for i in prev_held}
    train_of = {i: case_of(i) for i in prev_train}
    mixed = sorted(set(held_of.values()) & set(train_of.values()), key=_natural)
    held = sorted(set(held_of.values()) - set(mixed))
    train = sorted(set(train_of.values()) | set(mixed))
    return SplitRegrouping({"heldout": held, "train": train}, {i: c for i, c in held_of.items() if i != c},
                           {i: c for i, c in train_of.items() if i != c}, mixed, description.case_id_regex)


def fixed_split(case_ids: Sequence[str], previous: dict[str, list[str]] | None = None,
                holdout_fraction: float = 0.2) -> tuple[list[str], list[str]]:
    """(training, held-out) case ids, keeping every case of ``previous`` on its side (module docstring).

    Args:
        case_ids: this run's corrected cases.
        previous: the line's split record (``{"heldout": [...], "train": [...]}``, from the registry), in this
            run's case ids (:func:`regroup_split` regroups one recorded per image).
        holdout_fraction: the held-out share the new cases fill up to (ceil), at least :data:`MIN_HELDOUT` cases
            once there are ``2 * MIN_HELDOUT``.

    Raises:
        ConfigError: fewer than two cases, a bad fraction, or no case left to train on or to judge with.
    """
    ids = _checked_ids(case_ids, holdout_fraction)
    prev_held = set((previous or {}).get("heldout", []))
    prev_train = set((previous or {}).get("train", [])) - prev_held
    held = [c for c in ids if c in prev_held]
    train = [c for c in ids if c in prev_train]
    new = sorted((c for c in ids if c not in prev_held and c not in prev_train), key=case_rank)
    target = max(min(MIN_HELDOUT, len(ids) // 2), math.ceil(holdout_fraction * len(ids)))
    for i, case in enumerate(new):
        left_after = len(new) - i - 1
        if len(held) < target and (train or left_after > 0):
            held.append(case)
        else:
            train.append(case)
    if not held:
        earlier = ", ".join(sorted(prev_held))
        raise ConfigError("None of the corrected cases can judge the new version: every one was trained on by an "
                          f"earlier version, and the held-out cases of earlier versions ({earlier}) are not among "
                          "them. Mark those cases (or new ones) corrected too.", parameter="data",
                          expected="a held-out case", got=ids)
    if not train:
        raise ConfigError("Every corrected case is in the fixed held-out set of earlier versions "
                          f"({', '.join(sorted(held))}), so there is nothing new to train on. Correct more cases.",
                          parameter="data", expected="a training case", got=ids)
    return sorted(train), sorted(held)


def _checked_ids(case_ids: Sequence[str], holdout_fraction: float) -> list[str]:
    """The sorted distinct case ids of a split, after checking the fraction and that two cases or more exist.

    Raises:
        ConfigError: ``holdout_fraction`` outside (0, 1), or fewer than two cases.
    """
    if not 0 < holdout_fraction < 1:
        raise ConfigError(f"holdout_fraction must be in (0, 1); got {holdout_fraction!r}.",
                          parameter="holdout_fraction", expected="(0, 1)", got=holdout_fraction)
    ids = sorted(set(case_ids))
    if len(ids) < 2:
        raise ConfigError(f"Need at least two cases to hold one out; got {len(ids)}.", parameter="data",
                          expected=">= 2 cases", got=len(ids))
    return ids


def split_cases(case_ids: Sequence[str], holdout_fraction: float = 0.2) -> tuple[list[str], list[str]]:
    """Frozen split of case ids into (training, held-out); see the module docstring.

    At least one case is held out (the lowest rank) and at least one trains (the highest rank).

    Raises:
        ConfigError: fewer than two cases, or ``holdout_fraction`` outside (0, 1).
    """
    ids = _checked_ids(case_ids, holdout_fraction)
    ranked = sorted(ids, key=case_rank)
    held = [c for c in ranked if case_rank(c) < holdout_fraction] or ranked[:1]
    if len(held) == len(ids):
        held = held[:-1]
    train = [c for c in ids if c not in held]
    return train, sorted(held)
