"""LabelMap: the editable label array behind the viewer, with brush, eraser, fills, undo/redo and a journal.

The map wraps the caller's array in place (no copy), so the GUI can show the same memory. Every operation works on
one 2-D plane (``slice_index`` picks it in a ``(Z, Y, X)`` volume), touches only the pixels it covers, records
what it changed for undo, and returns the dirty :class:`BBox` (or ``None`` when nothing changed) so the view
re-renders only that rectangle. The same box is emitted on ``events.changed``.

All stamps between :meth:`LabelMap.begin_stroke` and :meth:`LabelMap.end_stroke` form one undo item (one mouse
drag); an operation called outside a stroke is its own undo item. When a journal is attached, each finished undo
item, undo, redo and history clear is appended to it as it happens (see :mod:`akmamba.annotations.journal`).

Not thread-safe: call it from one thread (the GUI thread), and change the array only through it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from os import PathLike
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from akmamba.annotations import tools
from akmamba.annotations.colors import LabelTable
from akmamba.annotations.history import Atom, History, Region, StrokeRecorder, region_slices
from akmamba.errors import ConfigError, ShapeError

if TYPE_CHECKING:
    from akmamba.annotations.journal import Journal

__all__ = ["BBox", "EventEmitter", "LabelMap", "LabelMapEvents"]

_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


class BBox(NamedTuple):
    """Dirty bounding box, half-open: rows ``y0:y1``, columns ``x0:x1``, and slices ``z0:z1`` in a volume.

    ``z0``/``z1`` are ``None`` for a 2-D map; :attr:`z` gives the slice index when the box lies in one slice.
    """

    y0: int
    y1: int
    x0: int
    x1: int
    z0: int | None = None
    z1: int | None = None

    @property
    def z(self) -> int | None:
        """The slice index when the box covers exactly one slice, else ``None``."""
        return self.z0 if self.z0 is not None and self.z1 == self.z0 + 1 else None

    @classmethod
    def from_region(cls, region: Region) -> BBox:
        """Convert per-axis ``(start, stop)`` pairs (2 or 3 axes, array order) to a box."""
        if len(region) == 3:
            (z0, z1), (y0, y1), (x0, x1) = region
            return cls(y0, y1, x0, x1, z0, z1)
        (y0, y1), (x0, x1) = region
        return cls(y0, y1, x0, x1)


class EventEmitter:
    """A tiny callback list (no Qt): ``connect(cb)``, ``disconnect(cb)``, ``emit(*args)``.

    Callbacks run synchronously in connection order; their exceptions propagate to the caller of ``emit``.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``callback`` (usable as a decorator); returns it."""
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Remove ``callback``; a callback that is not connected is ignored."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        """Call every callback with ``args``."""
        for callback in list(self._callbacks):
            callback(*args)


class LabelMapEvents:
    """Events of a :class:`LabelMap`.

    Attributes:
        changed: emitted with the dirty :class:`BBox` after every change to the array (stamps, fills, undo, redo).
        history: emitted with no argument when undo/redo availability may have changed.
    """

    def __init__(self) -> None:
        self.changed = EventEmitter()
        self.history = EventEmitter()


class LabelMap:
    """Editable label array with undo/redo, optional journal and a label table.

    Args:
        array: writable ``(H, W)`` or ``(Z, Y, X)`` array of uint8 or uint16 labels; edited in place.
        history_depth: undo items kept (default 500).
        label_table: display names and colours (see :mod:`akmamba.annotations.colors`).

    Raises:
        ShapeError: if the array has the wrong rank or dtype, or is read-only.
    """

    def __init__(self, array: np.ndarray, *, history_depth: int = 500, label_table: LabelTable | None = None) -> None:
        if not isinstance(array, np.ndarray) or array.ndim not in (2, 3) or array.dtype not in _DTYPES:
            got = (getattr(array, "shape", None), str(getattr(array, "dtype", type(array).__name__)))
            raise ShapeError(
                f"A label map must be a 2-D (H, W) or 3-D (Z, Y, X) uint8/uint16 numpy array, got shape/dtype {got}.",
                parameter="array",
                expected="(H, W) or (Z, Y, X), uint8 or uint16",
                got=got,
                hint="Convert with labels.astype(np.uint8) (or np.uint16 for more than 255 labels).",
            )
        if not array.flags.writeable:
            raise ShapeError(
                "The label array is read-only; the label map edits it in place.",
                parameter="array",
                hint="Pass a writable copy: np.array(labels).",
            )
        self._array = array
        self.history = History(history_depth)
        self.label_table = label_table if label_table is not None else LabelTable()
        self.events = LabelMapEvents()
        self._recorder = StrokeRecorder()
        self._in_stroke = False
        self._journal: Journal | None = None

    # ------------------------------------------------------------------ properties

    @property
    def array(self) -> np.ndarray:
        """The wrapped label array (the caller's memory); change it only through this object."""
        return self._array

    @property
    def shape(self) -> tuple[int, ...]:
        """``(H, W)`` or ``(Z, Y, X)``."""
        return tuple(self._array.shape)

    @property
    def plane_shape(self) -> tuple[int, int]:
        """``(H, W)`` of one editable plane."""
        return int(self._array.shape[-2]), int(self._array.shape[-1])

    @property
    def max_label(self) -> int:
        """Largest storable label (255 or 65535)."""
        return int(np.iinfo(self._array.dtype).max)

    @property
    def journal(self) -> Journal | None:
        """The attached journal, if any."""
        return self._journal

    @property
    def in_stroke(self) -> bool:
        """Whether a stroke is open."""
        return self._in_stroke

    # ------------------------------------------------------------------ strokes and history

    def begin_stroke(self) -> None:
        """Open a stroke: every change until :meth:`end_stroke` becomes one undo item.

        A stroke still open (a missed mouse release) is finished first.
        """
        if self._in_stroke:
            self.end_stroke()
        self._in_stroke = True

    def end_stroke(self) -> BBox | None:
        """Close the stroke, push it as one undo item and journal it.

        Returns:
            The box of every pixel the stroke changed, or ``None`` if it changed nothing (or none was open).
        """
        if not self._in_stroke:
            return None
        self._in_stroke = False
        return self._commit("user")

    @contextmanager
    def stroke(self) -> Iterator[LabelMap]:
        """``with label_map.stroke(): ...`` wraps :meth:`begin_stroke` / :meth:`end_stroke`."""
        self.begin_stroke()
        try:
            yield self
        finally:
            self.end_stroke()

    def undo(self) -> BBox | None:
        """Revert the newest undo item (finishing an open stroke first).

        Returns:
            The box that changed, or ``None`` when there was nothing to undo.
        """
        self.end_stroke()
        atom = self.history.undo(self._array)
        if atom is None:
            return None
        bbox = BBox.from_region(atom.region)
        self.events.changed.emit(bbox)
        self.events.history.emit()
        if self._journal is not None:
            self._journal.append_undo()
        return bbox

    def redo(self) -> BBox | None:
        """Re-apply the newest undone item; returns the changed box, or ``None`` when there was nothing to redo."""
        self.end_stroke()
        atom = self.history.redo(self._array)
        if atom is None:
            return None
        bbox = BBox.from_region(atom.region)
        self.events.changed.emit(bbox)
        self.events.history.emit()
        if self._journal is not None:
            self._journal.append_redo()
        return bbox

    def clear_history(self) -> None:
        """Forget undo/redo items (the edits stay applied and stay in :meth:`edited_mask`)."""
        self.end_stroke()
        self.history.clear(self.shape)
        self.events.history.emit()
        if self._journal is not None:
            self._journal.append_clear()

    def edited_mask(self, sources: Iterable[str] = ("user",)) -> np.ndarray:
        """Every pixel changed by an edit that is in effect (applied, not undone), e.g. to weight fine-tuning.

        Edits dropped from the bounded history still count. A pixel painted and later painted back to its first
        value by another edit counts too (both edits touched it).

        Args:
            sources: which edits count: ``"user"`` (brush, eraser, fills; the default) and/or ``"model"``
                (:meth:`set_region` predictions).

        Returns:
            Boolean array of the map's shape (an open stroke is not included until it ends).
        """
        return self.history.edited_mask(self.shape, sources)

    # ------------------------------------------------------------------ journal

    def start_journal(
        self,
        path: str | PathLike[str],
        *,
        identity: dict[str, Any] | None = None,
        store_base: bool = False,
        fsync: bool = True,
    ) -> Journal:
        """Create a journal of the current state at ``path`` and attach it (before the first edit).

        Args:
            path: the new journal file (overwritten if present).
            identity: the image the labels belong to, e.g. ``image_identity(image_path)``.
            store_base: also store the current array, so replay needs no base array.
            fsync: flush every record to disk (the crash guarantee; turn off only in tests).

        Returns:
            The open journal.

        Raises:
            ConfigError: if the map already has undo or redo items (replay could not reproduce them).
            JournalError: if the file cannot be written.
        """
        from akmamba.annotations.journal import Journal

        self.end_stroke()
        self._check_no_history()
        journal = Journal.create(
            path, self._array, identity=identity, history_depth=self.history.depth, store_base=store_base, fsync=fsync
        )
        self._journal = journal
        return journal

    def attach_journal(self, journal: Journal, *, resumed: bool = False) -> None:
        """Attach an open journal whose records reproduce this map's state and history.

        Args:
            journal: the journal.
            resumed: the map was rebuilt from this very journal (:func:`journal.restore` does this), so its
                history is allowed to be non-empty.

        Raises:
            ConfigError: if the journal's shape, dtype or undo depth differ from the map's, or the map has history
                that the journal does not hold.
        """
        header = journal.header
        if tuple(header.shape) != self.shape or np.dtype(header.dtype) != self._array.dtype:
            raise ConfigError(
                f"Journal {str(journal.path)!r} is for shape {header.shape} {header.dtype}, "
                f"but the label map is {self.shape} {self._array.dtype}.",
                path=str(journal.path),
                expected=(self.shape, str(self._array.dtype)),
                got=(header.shape, header.dtype),
            )
        if header.history_depth != self.history.depth:
            raise ConfigError(
                f"Journal {str(journal.path)!r} was written with undo depth {header.history_depth}, "
                f"but the label map keeps {self.history.depth}.",
                path=str(journal.path),
                parameter="history_depth",
                expected=header.history_depth,
                got=self.history.depth,
                hint="Create the label map with the journal's history_depth.",
            )
        if not resumed:
            self._check_no_history()
        self._journal = journal

    def detach_journal(self) -> Journal | None:
        """Stop journalling; returns the journal (still open) or ``None``."""
        journal, self._journal = self._journal, None
        return journal

    # ------------------------------------------------------------------ editing

    def paint_disc(
        self,
        center: Sequence[float],
        radius: float,
        label: int,
        *,
        slice_index: int | None = None,
        protect: Collection[int] | None = None,
        protect_others: bool = False,
    ) -> BBox | None:
        """Stamp a disc of ``label``.

        Args:
            center: ``(y, x)`` in pixels; rounded to the nearest pixel.
            radius: pixels whose centre is within ``radius`` are painted (0 paints one pixel).
            label: the value written.
            slice_index: the ``z`` of the plane in a volume; ``None`` for a 2-D map.
            protect: label values that are never overwritten.
            protect_others: protect every label other than background and ``label`` (paint only over background
                and the label itself).

        Returns:
            The dirty box, or ``None`` when no pixel changed.
        """
        return self.paint_line(
            center, center, radius, label, slice_index=slice_index, protect=protect, protect_others=protect_others
        )

    def paint_line(
        self,
        p0: Sequence[float],
        p1: Sequence[float],
        radius: float,
        label: int,
        *,
        slice_index: int | None = None,
        protect: Collection[int] | None = None,
        protect_others: bool = False,
    ) -> BBox | None:
        """Paint every pixel within ``radius`` of the segment ``p0``-``p1`` (a fast mouse move, without gaps).

        Args:
            p0: ``(y, x)`` start (the previous mouse position).
            p1: ``(y, x)`` end (the current one).
            radius: brush radius in pixels.
            label: the value written.
            slice_index: plane in a volume.
            protect: label values that are never overwritten.
            protect_others: see :meth:`paint_disc`.

        Returns:
            The dirty box, or ``None``.
        """
        label = self._check_label(label)
        z = self._check_slice(slice_index)
        hit = tools.capsule_mask(p0, p1, radius, self.plane_shape)
        if hit is None:
            return None
        return self._write(z, hit[0], hit[1], label, self._protected_fn(label, protect, protect_others), "user")

    def erase_disc(
        self,
        center: Sequence[float],
        radius: float,
        *,
        slice_index: int | None = None,
        protect: Collection[int] | None = None,
        only_label: int | None = None,
    ) -> BBox | None:
        """Set a disc to background (0).

        Args:
            center: ``(y, x)``; rounded to the nearest pixel.
            radius: in pixels.
            slice_index: plane in a volume.
            protect: label values that are never erased.
            only_label: erase only this label (the "protect other labels" mode of the eraser).

        Returns:
            The dirty box, or ``None``.
        """
        return self.erase_line(center, center, radius, slice_index=slice_index, protect=protect, only_label=only_label)

    def erase_line(
        self,
        p0: Sequence[float],
        p1: Sequence[float],
        radius: float,
        *,
        slice_index: int | None = None,
        protect: Collection[int] | None = None,
        only_label: int | None = None,
    ) -> BBox | None:
        """Erase (set to 0) every pixel within ``radius`` of the segment; arguments as :meth:`erase_disc`."""
        z = self._check_slice(slice_index)
        hit = tools.capsule_mask(p0, p1, radius, self.plane_shape)
        if hit is None:
            return None
        protected = self._protected_fn(0, protect, False)
        if only_label is not None:
            keep, also = self._check_label(only_label), protected

            def protected(v: np.ndarray) -> np.ndarray:
                return (v != keep) if also is None else (v != keep) | also(v)

        return self._write(z, hit[0], hit[1], 0, protected, "user")

    def flood_fill(
        self,
        seed: Sequence[int],
        label: int,
        *,
        slice_index: int | None = None,
        connectivity: int = 4,
        contiguous: bool = True,
        protect: Collection[int] | None = None,
        protect_others: bool = False,
    ) -> BBox | None:
        """Bucket fill: give ``label`` to the region of the seed pixel's value.

        Args:
            seed: ``(y, x)`` integer pixel inside the plane.
            label: the value written.
            slice_index: plane in a volume.
            connectivity: 4 or 8 (how the region spreads).
            contiguous: only the region connected to the seed (True) or every pixel of the seed's value in the
                plane (False).
            protect: label values that are never overwritten.
            protect_others: see :meth:`paint_disc`.

        Returns:
            The dirty box, or ``None``.

        Raises:
            ConfigError: if the seed is outside the plane or ``connectivity`` is not 4 or 8.
        """
        label = self._check_label(label)
        z = self._check_slice(slice_index)
        y, x = (round(v) for v in seed[:2])
        h, w = self.plane_shape
        if not (0 <= y < h and 0 <= x < w):
            raise ConfigError(
                f"Fill seed {(y, x)} is outside the {h} x {w} plane.", parameter="seed", got=(y, x), expected=(h, w)
            )
        plane = self._array if z is None else self._array[z]
        if connectivity not in (4, 8):
            raise ConfigError(
                f"Fill connectivity must be 4 or 8, got {connectivity!r}.",
                parameter="connectivity",
                expected=(4, 8),
                got=connectivity,
            )
        if plane[y, x] == label:
            return None
        mask = tools.flood_mask(plane, (y, x), connectivity=connectivity, contiguous=contiguous)
        return self._write_mask(z, mask, label, self._protected_fn(label, protect, protect_others), "user")

    def fill_polygon(
        self,
        points: Sequence[Sequence[float]],
        label: int,
        *,
        slice_index: int | None = None,
        protect: Collection[int] | None = None,
        protect_others: bool = False,
    ) -> BBox | None:
        """Fill a closed polygon (inside by the even-odd rule, plus its 1-pixel outline) with ``label``.

        Args:
            points: ``(y, x)`` vertices in order, at least 3; the polygon closes itself.
            label: the value written.
            slice_index: plane in a volume.
            protect: label values that are never overwritten.
            protect_others: see :meth:`paint_disc`.

        Returns:
            The dirty box, or ``None``.
        """
        label = self._check_label(label)
        z = self._check_slice(slice_index)
        hit = tools.polygon_mask(points, self.plane_shape)
        if hit is None:
            return None
        return self._write(z, hit[0], hit[1], label, self._protected_fn(label, protect, protect_others), "user")

    def remove_small_islands(
        self,
        label: int,
        min_size: int,
        connectivity: int = 8,
        *,
        slice_index: int | None = None,
        fill_value: int = 0,
    ) -> BBox | None:
        """Set components of ``label`` smaller than ``min_size`` pixels to ``fill_value``.

        Args:
            label: the label cleaned.
            min_size: components with fewer pixels (voxels) than this are removed.
            connectivity: 4 or 8 in a plane; in a whole volume 4/6 means face neighbours and 8/26 all neighbours.
            slice_index: clean one plane of a volume; ``None`` cleans the whole array (3-D components in a volume).
            fill_value: what removed pixels become (background by default).

        Returns:
            The dirty box (spanning slices for a whole volume), or ``None``.
        """
        label = self._check_label(label)
        fill_value = self._check_label(fill_value)
        if self._array.ndim == 3 and slice_index is None:
            mask = tools.small_islands_mask(self._array, label, min_size, connectivity=connectivity)
            region = _mask_region(mask)
            if region is None:
                return None
            return self._write_region(region, mask[region_slices(region)], fill_value, None, "user")
        z = self._check_slice(slice_index)
        plane = self._array if z is None else self._array[z]
        mask = tools.small_islands_mask(plane, label, min_size, connectivity=connectivity)
        return self._write_mask(z, mask, fill_value, None, "user")

    def set_region(
        self,
        mask_or_bbox: np.ndarray | Sequence[int],
        values: int | np.ndarray,
        *,
        slice_index: int | None = None,
        protect: Collection[int] | None = None,
        source: str = "model",
    ) -> BBox | None:
        """Write values into a region as one undo item (e.g. apply a model prediction).

        An open stroke is finished first; this call is always its own undo item.

        Args:
            mask_or_bbox: a boolean mask of the map's shape (or of one plane with ``slice_index``), or a box
                ``(y0, y1, x0, x1)`` (in plane ``slice_index`` of a volume), or a :class:`BBox` with ``z0``/``z1``.
            values: one label, or an array of the mask's shape (values are taken where the mask is true), or of
                the box's shape.
            slice_index: plane in a volume (with a plane mask or a 4-tuple box).
            protect: label values that are never overwritten.
            source: recorded with the edit; :meth:`edited_mask` counts ``"user"`` edits by default, so a
                prediction applied with ``source="model"`` is not mistaken for a correction.

        Returns:
            The dirty box, or ``None``.

        Raises:
            ShapeError: if the mask, box or values do not fit the map.
            ConfigError: if a value is outside the dtype's range.
        """
        self.end_stroke()
        protected = self._protected_fn(0, protect, False)
        if isinstance(mask_or_bbox, np.ndarray) and mask_or_bbox.dtype == bool:
            mask = mask_or_bbox
            plane_mask = mask.ndim == 2 and self._array.ndim == 3
            z = self._check_slice(slice_index) if plane_mask else None
            want = self.plane_shape if plane_mask else self.shape
            if mask.shape != want:
                raise ShapeError(
                    f"set_region mask shape {mask.shape} does not match the label map's {want}.",
                    parameter="mask_or_bbox",
                    expected=want,
                    got=mask.shape,
                )
            region = _mask_region(mask)
            if region is None:
                return None
            local = region_slices(region)
            vals = self._check_values(values, mask.shape)
            if not np.isscalar(vals):
                vals = vals[local]
            if z is None:
                return self._write_region(region, mask[local], vals, protected, source)
            vals = vals if np.isscalar(vals) else vals[None]
            return self._write_region(((z, z + 1), *region), mask[local][None], vals, protected, source)
        if isinstance(mask_or_bbox, np.ndarray) and mask_or_bbox.ndim > 1:
            raise ShapeError(
                f"set_region mask must be boolean, got dtype {mask_or_bbox.dtype}.",
                parameter="mask_or_bbox",
                hint="Pass prediction > 0 (or == label) as the mask and the prediction as values.",
            )
        full = self._bbox_region(tuple(mask_or_bbox), slice_index)
        shape = tuple(b - a for a, b in full)
        if not np.isscalar(values) and len(shape) == 3 and shape[0] == 1 and np.shape(values) == shape[1:]:
            values = np.asarray(values)[None]
        return self._write_region(full, None, self._check_values(values, shape), protected, source)

    # ------------------------------------------------------------------ internals

    def _check_no_history(self) -> None:
        if self.history.can_undo or self.history.can_redo:
            raise ConfigError(
                "Cannot start a journal on a label map that already has undo/redo items: replay could not "
                "reproduce them.",
                parameter="journal",
                hint="Start the journal before the first edit, or call clear_history() first.",
            )

    def _check_label(self, label: int) -> int:
        value = int(label)
        if value != label or not 0 <= value <= self.max_label:
            raise ConfigError(
                f"Label {label!r} cannot be stored in a {self._array.dtype} map (0-{self.max_label}).",
                parameter="label",
                expected=f"0-{self.max_label}",
                got=label,
            )
        return value

    def _check_values(self, values: int | np.ndarray, shape: tuple[int, ...]) -> Any:
        if np.isscalar(values):
            return self._check_label(int(values))  # type: ignore[arg-type]
        arr = np.asarray(values)
        if arr.shape != tuple(shape):
            raise ShapeError(
                f"set_region values have shape {arr.shape}, expected {tuple(shape)}.",
                parameter="values",
                expected=tuple(shape),
                got=arr.shape,
            )
        if arr.size and (arr.min() < 0 or arr.max() > self.max_label):
            raise ConfigError(
                f"set_region values span {arr.min()}-{arr.max()}, outside 0-{self.max_label} of a "
                f"{self._array.dtype} map.",
                parameter="values",
            )
        return arr.astype(self._array.dtype, copy=False)

    def _check_slice(self, slice_index: int | None) -> int | None:
        if self._array.ndim == 2:
            if slice_index not in (None, 0):
                raise ConfigError(
                    f"slice_index={slice_index!r} given for a 2-D label map; pass None.", parameter="slice_index"
                )
            return None
        n = self._array.shape[0]
        if slice_index is None or not 0 <= int(slice_index) < n:
            raise ConfigError(
                f"A volume edit needs slice_index in 0-{n - 1}, got {slice_index!r}.",
                parameter="slice_index",
                expected=f"0-{n - 1}",
                got=slice_index,
            )
        return int(slice_index)

    def _bbox_region(self, box: Sequence[Any], slice_index: int | None) -> Region:
        if len(box) == 6 and box[4] is not None and self._array.ndim == 3:
            region: Region = ((int(box[4]), int(box[5])), (int(box[0]), int(box[1])), (int(box[2]), int(box[3])))
        elif len(box) == 4 or (len(box) == 6 and box[4] is None):
            z = self._check_slice(slice_index)
            region = ((int(box[0]), int(box[1])), (int(box[2]), int(box[3])))
            if z is not None:
                region = ((z, z + 1), *region)
        else:
            raise ShapeError(f"A box is (y0, y1, x0, x1) or a BBox, got {box!r}.", parameter="mask_or_bbox", got=box)
        if any(not 0 <= a < b <= n for (a, b), n in zip(region, self.shape, strict=True)):
            raise ShapeError(
                f"Box {box!r} is empty or outside the label map of shape {self.shape}.",
                parameter="mask_or_bbox",
                expected=self.shape,
                got=box,
            )
        return region

    @staticmethod
    def _protected_fn(
        label: int, protect: Collection[int] | None, protect_others: bool
    ) -> Callable[[np.ndarray], np.ndarray] | None:
        if protect_others:
            return lambda v: (v != 0) & (v != label)
        if protect is not None and len(protect) > 0:
            values = np.fromiter((int(p) for p in protect), dtype=np.int64)
            if values.size == 1:
                only = values[0]
                return lambda v: v == only
            return lambda v: np.isin(v, values)
        return None

    def _write_mask(
        self,
        z: int | None,
        mask: np.ndarray,
        value: int,
        protected: Callable[[np.ndarray], np.ndarray] | None,
        source: str,
    ) -> BBox | None:
        region = _mask_region(mask)
        if region is None:
            return None
        return self._write(z, region, mask[region_slices(region)], value, protected, source)  # type: ignore[arg-type]

    def _write(
        self,
        z: int | None,
        region2d: tuple[tuple[int, int], tuple[int, int]],
        mask: np.ndarray,
        value: int,
        protected: Callable[[np.ndarray], np.ndarray] | None,
        source: str,
    ) -> BBox | None:
        if z is None:
            return self._write_region(region2d, mask, value, protected, source)
        return self._write_region(((z, z + 1), *region2d), mask[None], value, protected, source)

    def _write_region(
        self,
        region: Region,
        mask: np.ndarray | None,
        values: Any,
        protected: Callable[[np.ndarray], np.ndarray] | None,
        source: str,
    ) -> BBox | None:
        """Write ``values`` where ``mask`` (None = everywhere) allows, record the change, emit the box."""
        view = self._array[region_slices(region)]
        changed = view != values
        if mask is not None:
            changed &= mask
        if protected is not None:
            changed &= ~protected(view)
        if not changed.any():
            return None
        old = view[changed]
        view[changed] = values if np.isscalar(values) else values[changed]
        self._recorder.record(region, changed, old)
        bbox = BBox.from_region(region)
        self.events.changed.emit(bbox)
        if not self._in_stroke:
            self._commit(source)
        return bbox

    def _commit(self, source: str) -> BBox | None:
        atom: Atom | None = self._recorder.finish(self._array, source)
        if atom is None:
            return None
        self.history.push(atom, self.shape)
        self.events.history.emit()
        if self._journal is not None:
            self._journal.append_edit(atom.region, self._array[region_slices(atom.region)], atom.source)
        return BBox.from_region(atom.region)


def _mask_region(mask: np.ndarray) -> Region | None:
    """Bounding box of the true pixels of ``mask`` as per-axis ``(start, stop)`` pairs, or ``None`` if empty."""
    axes = range(mask.ndim)
    out = []
    for d in axes:
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in axes if a != d)))
        if hit.size == 0:
            return None
        out.append((int(hit[0]), int(hit[-1]) + 1))
    return tuple(out)
