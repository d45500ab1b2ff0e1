"""The open case: image, editable label map (with journal), label table, pending model prediction, slice.

``load_case`` runs in a worker (file reading); everything else runs in the GUI thread. LabelMap events become Qt
signals here, so views redraw just the dirty rectangle.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore

from akmamba import __version__
from akmamba.annotations import BBox, LabelInfo, LabelMap, LabelTable, make_lut
from akmamba.annotations.colors import colors_by_value
from akmamba.decision import labels_from_probs, threshold_applies
from akmamba.display import data_range, green_channel, initial_preset, preset_levels, presets_for
from akmamba.errors import ConfigError
from akmamba.io import (
    DatasetDescription,
    Image,
    Sample,
    atomic_write_text,
    builtin_description,
    read_image,
    write_labels,
)
from akmamba.io.labels import (
    LabelFile,
    label_table_choices,
    labels_for_image,
    read_label_file,
    rows_of,
    saved_label_path,
    split_name,
)
from akmamba.io.layouts import read_reference
from akmamba.io.orientation import AS_STORED, SliceOrientation, slice_orientation
from app.recovery import JournalStore, Leftover

log = logging.getLogger(__name__)

DEFAULT_BRUSH_RADIUS = 6  # pixels, for data whose description names none


def brush_radius_for(image: Image, desc: DatasetDescription | None = None) -> int:
    """The default brush radius: ``desc``'s ``brush_radius``, else that of the shipped description that fits the
    image (DRIVE for colour images, bladder otherwise), else :data:`DEFAULT_BRUSH_RADIUS`."""
    desc = desc or builtin_description("drive" if image.channels in (3, 4) else "bladder")
    return DEFAULT_BRUSH_RADIUS if desc.brush_radius is None else desc.brush_radius


def as_label_array(array: np.ndarray) -> np.ndarray:
    """A writable uint8 (or uint16) copy of integer labels."""
    arr = np.asarray(array)
    if arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise ValueError(f"Label values {arr.min()}..{arr.max()} are outside 0..65535.")
    dtype = np.uint8 if not arr.size or arr.max() <= 255 else np.uint16
    return np.array(arr, dtype=dtype, copy=True)


@dataclass
class LoadedCase:
    """What :func:`load_case` prepared off the UI thread: the image, its labels and label table, the display
    window, and (unless a leftover journal waits for a restore decision) the journalled label map."""

    path: Path
    image: Image
    labels: np.ndarray | None
    label_path: Path
    label_rows: list[dict[str, Any]]
    levels: tuple[float, float] = (0.0, 1.0)
    span: float = 1.0
    label_map: LabelMap | None = None
    leftover: Leftover | None = None
    warnings: list[str] = field(default_factory=list)
    fov: np.ndarray | None = None  # (H, W) bool, True inside the field of view (data sets with FOV masks)
    brush_radius: int = DEFAULT_BRUSH_RADIUS
    label_source: str = ""  # where the label table comes from, in words (akmamba.io.labels.ImageLabels.source)


def load_case(path: Path, journals: JournalStore | None = None,
              dataset: tuple[DatasetDescription, Sample] | None = None) -> LoadedCase:
    """Read an image and its labels as class indices with their label table (:func:`akmamba.io.labels.
    labels_for_image`: the labels saved next to it, else its dataset's label file), compute its display window
    and, with ``journals``, build the label map and start its journal (runs in a worker thread).

    With ``dataset`` (an image of a recognised data set folder, :mod:`akmamba.io.layouts`) its FOV mask and the
    data set's brush radius are used too, and its paired label file (when none was found otherwise: an nnU-Net
    folder) and its label table (also for an image of it without a label file)."""
    image = read_image(path)
    found = labels_for_image(path, image)  # the saved labels, else the dataset's label file, as class indices
    labels, rows, warnings, source = found.labels, found.rows, list(found.warnings), found.source
    fov = None
    if dataset is not None:
        desc, sample = dataset
        reference, fov, notes = read_reference(sample, desc, image, with_labels=found.file is None)
        warnings.extend(notes)
        if found.file is None:
            labels, rows, source = reference, rows_of(desc.label_table), f"dataset {desc.name}"
    presets = presets_for(image.array, image.is_volume)
    lo, hi = data_range(image.array)
    loaded = LoadedCase(path, image, labels, saved_label_path(path, image), rows,
                        preset_levels(image.array, presets[initial_preset(presets)]), hi - lo, warnings=warnings,
                        fov=fov, brush_radius=brush_radius_for(image, dataset[0] if dataset is not None else None),
                        label_source=source)
    if journals is not None:
        loaded.leftover = journals.leftover_for(path)
        array = labels if labels is not None else np.zeros(image.spatial_shape, np.uint8)
        loaded.label_map = LabelMap(array)
        if loaded.leftover is None:  # a leftover keeps its file name; its journal starts after the decision
            journals.start(loaded.label_map, path)
    return loaded


def table_from_rows(rows: list[dict[str, Any]], opacity: float = 0.5) -> LabelTable:
    """A LabelTable (display colours) from label-table rows ``{"name", "index", "color"}``."""
    infos = {int(r["index"]): LabelInfo(int(r["index"]), str(r.get("name", "")), tuple(r.get("color", (255, 0, 0))))
             for r in rows if int(r.get("index", 0)) > 0}
    return LabelTable(infos, opacity)


class Session(QtCore.QObject):
    """State of the open case, shared by the view and the panels."""

    case_changed = QtCore.Signal()
    labels_changed = QtCore.Signal(object)  # BBox, or None for "everything"
    history_changed = QtCore.Signal()
    prediction_changed = QtCore.Signal()
    table_changed = QtCore.Signal()
    slice_changed = QtCore.Signal(int)
    dirty_changed = QtCore.Signal(bool)
    edited = QtCore.Signal()

    def __init__(self, journals: JournalStore, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.journals = journals
        self.path: Path | None = None
        self.image: Image | None = None
        self.label_map: LabelMap | None = None
        self.label_path: Path | None = None
        self.label_rows: list[dict[str, Any]] = []
        self.label_source = ""  # where the label table comes from, in words (shown beside the label list)
        self.table = LabelTable()
        self.z = 0
        self.orientation: SliceOrientation = AS_STORED  # how the view turns the planes (from the direction)
        self.pending: Any = None  # akmamba.infer.Prediction awaiting Accept
        self.preview: tuple[int, np.ndarray] | None = None  # Prompt tool: (slice, labels plane) awaiting Enter
        self.threshold = 0.5
        self.model_info: dict[str, str] | None = None
        self.dirty = False
        self.busy = False  # a case is being loaded: edits wait
        self.display_levels: tuple[float, float] = (0.0, 1.0)  # initial window, computed by load_case
        self.display_span = 1.0
        self.fov: np.ndarray | None = None  # no model label is kept or shown outside it
        self.brush_radius = DEFAULT_BRUSH_RADIUS  # the open case's data set default

    # ------------------------------------------------------------------ case

    @property
    def has_case(self) -> bool:
        """Whether an image is open."""
        return self.image is not None and self.label_map is not None

    @property
    def n_slices(self) -> int:
        """Slices of a volume, 1 for a 2-D image."""
        return int(self.image.array.shape[0]) if self.image is not None and self.image.is_volume else 1

    @property
    def slice_index(self) -> int | None:
        """The edited plane for LabelMap calls (None for 2-D)."""
        return self.z if self.image is not None and self.image.is_volume else None

    def set_case(self, loaded: LoadedCase, restore: Leftover | None = None) -> int:
        """Make ``loaded`` the open case (closing the previous one), with the edits of the leftover journal
        ``restore`` replayed; returns the unsaved edits restored (``restore.edits``, the figure it was offered with)."""
        self.close_case()
        self.path, self.image, self.label_path = loaded.path, loaded.image, loaded.label_path
        self.orientation = slice_orientation(loaded.image)
        self.display_levels, self.display_span = loaded.levels, loaded.span
        self.fov, self.brush_radius = loaded.fov, loaded.brush_radius
        self.label_rows = list(loaded.label_rows)
        self.label_source = loaded.label_source
        self.table = table_from_rows(self.label_rows, self.table.opacity if self.table.labels else 0.5)
        restored = 0
        if restore is not None:
            self.journals.finish(loaded.label_map)
            self.label_map = self.journals.restore(restore.journal, loaded.path)
            restored = restore.edits
        else:
            if loaded.label_map is None:
                labels = loaded.labels if loaded.labels is not None else np.zeros(loaded.image.spatial_shape, np.uint8)
                loaded.label_map = LabelMap(labels)
            self.label_map = loaded.label_map
            if self.label_map.journal is None:
                self.journals.start(self.label_map, loaded.path)
        self.label_map.label_table = self.table
        self.label_map.events.changed.connect(self._on_label_map_changed)
        self.label_map.events.history.connect(self.history_changed.emit)
        self.z = self.n_slices // 2
        self._set_dirty(restored > 0)
        self.case_changed.emit()
        return restored

    def close_case(self) -> None:
        """Forget the open case and delete its journal (call after saving or when discarding)."""
        if self.label_map is not None:
            self.label_map.events.changed.disconnect(self._on_label_map_changed)
            self.journals.finish(self.label_map)
        self.path = self.image = self.label_map = self.label_path = self.pending = self.model_info = None
        self.preview = None
        self._set_dirty(False)

    def _on_label_map_changed(self, bbox: BBox) -> None:
        if not self.dirty:
            self._set_dirty(True)
            self.edited.emit()
        self.labels_changed.emit(bbox)

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.dirty_changed.emit(dirty)

    def set_slice(self, z: int) -> None:
        """Show and edit slice ``z`` (clamped)."""
        z = int(min(max(z, 0), self.n_slices - 1))
        if z != self.z:
            if self.label_map is not None:
                self.label_map.end_stroke()
            self.z = z
            self.slice_changed.emit(z)

    def step_slice(self, steps: int) -> None:
        """Move ``steps`` slices towards S (axial), A (coronal) or R (sagittal) as the slider shows them
        (negative: back), whichever way the file stores its slices."""
        self.set_slice(self.z + (-steps if self.orientation.flip_slices else steps))

    # ------------------------------------------------------------------ planes for the view

    def image_plane(self, green: bool = False) -> np.ndarray | None:
        """The displayed image plane, in array order (the view turns it by :attr:`orientation`): slice ``z`` of a
        volume, or the 2-D image (its green channel if asked)."""
        if self.image is None:
            return None
        arr = self.image.array[self.z] if self.image.is_volume else self.image.array
        return green_channel(arr) if green and arr.ndim == 3 else arr

    def overlay_plane(self) -> np.ndarray | None:
        """Labels of the displayed plane: the pending prediction (:meth:`prediction_labels`), else a live view of
        the map."""
        if self.label_map is None:
            return None
        if self.preview is not None and self.preview[0] == self.z:
            return self.preview[1]
        if self.pending is not None and self.pending.probs is not None:
            probs = self.pending.probs[:, self.z] if self.pending.probs.ndim == 4 else self.pending.probs
            return self._inside_fov(labels_from_probs(probs, self.effective_threshold()))
        arr = self.label_map.array
        plane = arr[self.z] if arr.ndim == 3 else arr
        return plane if plane.dtype == np.uint8 else plane.astype(np.uint8)

    def lut(self) -> np.ndarray:
        """The overlay colour table (256 x RGBA) for the current label table, opacity and visibility."""
        return make_lut(self.table)

    # ------------------------------------------------------------------ label table display

    def set_opacity(self, opacity: float) -> None:
        """Global overlay opacity 0..1."""
        self.table.opacity = float(min(max(opacity, 0.0), 1.0))
        self.table_changed.emit()

    def set_label_visible(self, value: int, visible: bool) -> None:
        """Show or hide one label."""
        self.table = self.table.with_label(value, visible=visible)
        if self.label_map is not None:
            self.label_map.label_table = self.table
        self.table_changed.emit()

    def set_label_rows(self, rows: list[dict[str, Any]], source: str) -> None:
        """Make ``rows`` the label table (display, export, the sidecar on save); ``source`` says where it comes
        from. The label values already in the map must be in the new table.

        Raises:
            ConfigError: the label map holds values the table lacks (the message names them).
        """
        indices = {int(r["index"]) for r in rows}
        if self.label_map is not None:
            arr = self.label_map.array
            used = {int(v) for v in np.unique(arr)} if arr.size and int(arr.max()) > 0 else set()
            missing = sorted(used - indices - {0})
            if missing:
                raise ConfigError(
                    f"The labels hold values {missing}, which the {source} lacks (its values: {sorted(indices)}). "
                    "Choose a table with these labels, or erase them first.", parameter="label_table",
                    expected=sorted(indices), got=missing)
        self.label_rows, self.label_source = [dict(r) for r in rows], source
        self.table = table_from_rows(self.label_rows, self.table.opacity)
        if self.label_map is not None:
            self.label_map.label_table = self.table
        self.table_changed.emit()

    def choose_label_table(self, key: str) -> None:
        """Make the shipped table ``key`` of :func:`akmamba.io.labels.label_table_choices` the label table.

        Raises:
            ConfigError: an unknown key, or labels the table lacks (:meth:`set_label_rows`).
        """
        choices = label_table_choices()
        if key not in choices:
            raise ConfigError(f"No label table {key!r}; the choices are {', '.join(choices)}.",
                              parameter="label_table", expected=list(choices), got=key)
        self.set_label_rows(choices[key], f"{key} table (chosen)")

    def label_names(self) -> dict[int, str]:
        """``{value: name}`` of the foreground labels."""
        return {info.value: info.name or f"label {info.value}" for info in self.table}

    # ------------------------------------------------------------------ prediction

    def set_prediction(self, prediction: Any, label_rows: list[dict[str, Any]] | None = None,
                       source: str = "the model's table") -> None:
        """Hold a model result for review (threshold slider) until :meth:`accept_prediction`; the model's
        ``label_rows`` (from its checkpoint) become the label table, ``source`` naming the model."""
        self.pending = prediction
        if label_rows:
            self.label_rows = label_rows
            self.label_source = source
            self.table = table_from_rows(label_rows, self.table.opacity)
            if self.label_map is not None:
                self.label_map.label_table = self.table
            self.table_changed.emit()
        self.prediction_changed.emit()

    def effective_threshold(self) -> float | None:
        """The slider's threshold when the pending model has one foreground class, else None (the argmax rule of
        :mod:`akmamba.decision`, the same as ``akmamba predict``)."""
        probs = getattr(self.pending, "probs", None)
        return self.threshold if probs is not None and threshold_applies(probs.shape[0]) else None

    def threshold_applies(self) -> bool:
        """Whether the pending result can be thresholded (a model with one foreground class)."""
        probs = getattr(self.pending, "probs", None)
        return probs is not None and threshold_applies(probs.shape[0])

    def prediction_labels(self) -> np.ndarray | None:
        """The pending prediction's label map by the one rule (argmax; the threshold for a binary model), background
        outside the field of view (data sets with a FOV mask)."""
        if self.pending is None:
            return None
        if self.pending.probs is not None:
            return self._inside_fov(labels_from_probs(self.pending.probs, self.effective_threshold()))
        return self._inside_fov(np.asarray(self.pending.labels))

    def set_threshold(self, threshold: float) -> None:
        """Probability threshold of the pending prediction (updates the preview)."""
        self.threshold = float(threshold)
        self.prediction_changed.emit()

    def accept_prediction(self) -> None:
        """Write the prediction's labels (:meth:`prediction_labels`) into the label map as one undoable edit
        (source ``"model"``)."""
        if self.pending is None or self.label_map is None:
            return
        values = self.prediction_labels()
        threshold = self.effective_threshold()
        prediction, self.pending = self.pending, None
        rule = f"{threshold:.2f}" if threshold is not None else "argmax"
        self.model_info = {**prediction.model_info, "threshold": rule, "device": prediction.device}
        self.label_map.set_region(np.ones(self.label_map.shape, dtype=bool), values, source="model")
        self.prediction_changed.emit()

    def _inside_fov(self, labels: np.ndarray) -> np.ndarray:
        """Model labels with everything outside the field of view set to background (2-D images with a FOV)."""
        if self.fov is None or self.fov.shape != labels.shape[-2:]:
            return labels
        return np.where(self.fov, labels, 0).astype(labels.dtype, copy=False)

    def set_preview(self, plane: np.ndarray | None) -> None:
        """Show ``plane`` (``(H, W)`` labels) on the current slice instead of the label map until it is cleared
        (None); the Prompt tool's preview."""
        self.preview = None if plane is None else (self.z, plane)
        self.prediction_changed.emit()

    def discard_prediction(self) -> None:
        """Drop the pending prediction."""
        self.pending = None
        self.prediction_changed.emit()

    # ------------------------------------------------------------------ files

    def _save_edit_mask(self) -> None:
        """Accumulate the pixels the user edited into the image's correction mask (``akmamba_edits/``), which
        fine-tuning weights; a failure is logged and never blocks saving the labels."""
        from akmamba.finetune.data import update_edit_mask

        if self.path is None or self.image is None or self.label_map is None:
            return
        try:
            update_edit_mask(self.path, self.image, self.label_map.edited_mask(("user",)))
        except (OSError, ValueError) as exc:
            log.warning("could not store the correction mask of %s: %s", self.path, exc)

    def import_labels(self, path: Path) -> None:
        """Load a label file over the current labels as one undoable edit (checked against the image; its values
        are class indices or the label table's file values, e.g. a bladder data set's 0/128/255, mapped to
        indices; other values are refused with a ConfigError naming them)."""
        if self.image is None or self.label_map is None:
            return
        values = read_label_file(self.image, LabelFile(Path(path), "auto", None, "imported"), self.label_rows)
        self.label_map.set_region(np.ones(self.label_map.shape, dtype=bool), values, source="import")

    def save(self, path: Path | None = None) -> Path:
        """Write the labels (atomic, verified by akmamba.io) and a JSON sidecar with label table and provenance
        (atomic too: a full disk or a kill leaves the previous sidecar, never a truncated one)."""
        if self.image is None or self.label_map is None or self.label_path is None:
            raise ValueError("No case is open, so there is nothing to save.")
        self.label_map.end_stroke()
        target = Path(path) if path is not None else self.label_path
        written = write_labels(self.label_map.array, like=self.image, path=target, overwrite=True,
                               colors=colors_by_value(self.label_rows))
        stem, _ = split_name(written)
        sidecar = {"label_table": self.label_rows, "image": str(self.path), "model": self.model_info,
                   "viewer_version": __version__, "undo_items": self.label_map.history.n_undo}
        atomic_write_text(written.parent / f"{stem}.json", json.dumps(sidecar, indent=1))  # never a torn table
        self._save_edit_mask()
        self.journals.mark_saved(self.label_map)
        self._set_dirty(False)
        return written
