"""Undo/redo history made of small bounding-box deltas (modelled on napari's ``_MaskedPaintAtom``).

An :class:`Atom` is one undo item: the bounding box (``region``) of the pixels an edit changed, which of the
box's pixels changed (a bit-packed mask or a list of flat indices, whichever is smaller), their old values and
their new values (a single value when the edit wrote one label everywhere, as a brush does). Nothing ever stores a
full copy of the label array, so 500 strokes on a 2048 x 2048 map cost a few megabytes.

A :class:`StrokeRecorder` collects the stamps of one mouse drag (each stamp saves the old values of the pixels it
changed) and folds them into a single atom when the drag ends, so one drag is one undo item whatever its number of
stamps.

Regions are per-axis half-open ``(start, stop)`` pairs over the *whole* array: ``((y0, y1), (x0, x1))`` for a 2-D
map and ``((z0, z1), (y0, y1), (x0, x1))`` for a volume.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from akmamba.errors import ConfigError

Region = tuple[tuple[int, int], ...]

__all__ = ["Atom", "History", "Region", "StrokeRecorder", "region_slices", "union_region"]


def region_slices(region: Region) -> tuple[slice, ...]:
    """Turn a region into the tuple of slices that indexes it."""
    return tuple(slice(a, b) for a, b in region)


def union_region(regions: Iterable[Region]) -> Region:
    """Smallest region holding every given region (all of the same rank)."""
    regs = list(regions)
    return tuple((min(r[d][0] for r in regs), max(r[d][1] for r in regs)) for d in range(len(regs[0])))


def _region_shape(region: Region) -> tuple[int, ...]:
    return tuple(b - a for a, b in region)


@dataclass(frozen=True, eq=False)
class Atom:
    """One undo item: the changed pixels of one region with their old and new values.

    Attributes:
        region: bounding box of the changed pixels, one ``(start, stop)`` per array axis.
        positions: where in the region the changed pixels are: ``np.packbits`` of the region's boolean mask when
            ``packed`` is true, otherwise sorted flat (C-order) indices into the region.
        packed: which encoding ``positions`` uses.
        old: ``(n,)`` values before the edit, in C order of the changed pixels.
        new: ``(n,)`` values after the edit, or ``(1,)`` when every changed pixel got the same value.
        source: who made the edit, ``"user"`` for the editing tools and ``"model"`` for an applied prediction.
    """

    region: Region
    positions: np.ndarray
    packed: bool
    old: np.ndarray
    new: np.ndarray
    source: str = "user"

    @classmethod
    def from_change(
        cls, region: Region, changed: np.ndarray, old: np.ndarray, new: np.ndarray, source: str = "user"
    ) -> Atom:
        """Build an atom from a region, its boolean change mask and the changed pixels' values.

        Args:
            region: the region the mask covers.
            changed: boolean mask of the region's shape; at least one pixel true.
            old: ``(n,)`` previous values of the ``n`` true pixels, C order.
            new: ``(n,)`` new values of the same pixels.
            source: ``"user"`` or ``"model"`` (any short string).

        Returns:
            The atom, its region shrunk to the bounding box of ``changed`` and its positions in whichever of the
            two encodings is smaller.
        """
        changed = np.asarray(changed, dtype=bool)
        axes = range(changed.ndim)
        lo_hi = []
        for d in axes:
            hit = np.flatnonzero(changed.any(axis=tuple(a for a in axes if a != d)))
            lo_hi.append((int(hit[0]), int(hit[-1]) + 1))
        if any(lo != 0 or hi != n for (lo, hi), n in zip(lo_hi, changed.shape, strict=True)):
            changed = changed[tuple(slice(lo, hi) for lo, hi in lo_hi)]
            region = tuple((r0 + lo, r0 + hi) for (r0, _), (lo, hi) in zip(region, lo_hi, strict=True))
        n = int(old.size)
        idx_dtype = np.uint16 if changed.size <= 1 << 16 else np.uint32 if changed.size <= 1 << 32 else np.uint64
        if (changed.size + 7) // 8 <= n * np.dtype(idx_dtype).itemsize:
            positions, packed = np.packbits(changed, axis=None), True
        else:
            positions, packed = np.flatnonzero(changed).astype(idx_dtype), False
        new = np.ascontiguousarray(new)
        if new.size > 1 and new.min() == new.max():
            new = new[:1].copy()
        return cls(tuple(region), positions, packed, np.ascontiguousarray(old), new, source)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the region."""
        return _region_shape(self.region)

    @property
    def nbytes(self) -> int:
        """Bytes held by this atom's arrays."""
        return int(self.positions.nbytes + self.old.nbytes + self.new.nbytes)

    def mask(self) -> np.ndarray:
        """Boolean mask of the changed pixels, of the region's shape."""
        size = int(np.prod(self.shape))
        if self.packed:
            flat = np.unpackbits(self.positions, count=size).astype(bool)
        else:
            flat = np.zeros(size, dtype=bool)
            flat[self.positions] = True
        return flat.reshape(self.shape)

    def apply(self, array: np.ndarray, *, undo: bool) -> None:
        """Write the old values (``undo=True``) or the new values (``undo=False``) into ``array`` in place."""
        view = array[region_slices(self.region)]
        view[self.mask()] = self.old if undo else self.new


class StrokeRecorder:
    """Collects the stamps of one stroke and folds them into one :class:`Atom`.

    Each stamp reports the region it touched, which pixels of that region it changed, and their values *before*
    the stamp. At the end the recorder rebuilds the pre-stroke state of the union region by writing those old
    values back in reverse order onto a copy of the current state, and keeps only the pixels that differ.
    """

    def __init__(self) -> None:
        self._chunks: list[tuple[Region, np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return len(self._chunks)

    def record(self, region: Region, changed: np.ndarray, old: np.ndarray) -> None:
        """Remember one stamp: ``changed`` is a mask of ``region``'s shape, ``old`` the ``(n,)`` old values."""
        self._chunks.append((region, changed, old))

    def finish(self, array: np.ndarray, source: str = "user") -> Atom | None:
        """Fold the recorded stamps into one atom against the current ``array``; clear the recorder.

        Returns:
            The atom, or ``None`` when the stroke changed nothing overall (or nothing was recorded).
        """
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return None
        if len(chunks) == 1:
            region, changed, old = chunks[0]
            new = array[region_slices(region)][changed]
            return Atom.from_change(region, changed, old, new, source)
        region = union_region(c[0] for c in chunks)
        new_patch = array[region_slices(region)].copy()
        old_patch = new_patch.copy()
        for sub, changed, old in reversed(chunks):
            local = tuple(slice(a - r0, b - r0) for (a, b), (r0, _) in zip(sub, region, strict=True))
            old_patch[local][changed] = old
        changed = old_patch != new_patch
        if not changed.any():
            return None
        return Atom.from_change(region, changed, old_patch[changed], new_patch[changed], source)


class History:
    """Bounded undo and redo stacks of :class:`Atom`.

    Args:
        depth: how many undo items are kept (default 500); the oldest is dropped, and stays applied, when a new
            edit would exceed it.

    Raises:
        ConfigError: if ``depth`` is below 1.
    """

    def __init__(self, depth: int = 500) -> None:
        if int(depth) < 1:
            raise ConfigError(
                f"Undo depth must be at least 1, got {depth}. Pass history_depth=500 (the default).",
                parameter="depth",
                expected=">= 1",
                got=depth,
            )
        self.depth = int(depth)
        self._undo: deque[Atom] = deque()
        self._redo: deque[Atom] = deque()
        # Pixels changed by edits that can no longer be undone (evicted or cleared), per source; allocated lazily.
        self._baked: dict[str, np.ndarray] = {}

    @property
    def n_undo(self) -> int:
        """Number of items that can be undone."""
        return len(self._undo)

    @property
    def n_redo(self) -> int:
        """Number of items that can be redone."""
        return len(self._redo)

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` would do something."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` would do something."""
        return bool(self._redo)

    @property
    def nbytes(self) -> int:
        """Bytes held by the history: every atom plus the edited-pixel bitmaps of items no longer undoable."""
        atoms = sum(a.nbytes for a in self._undo) + sum(a.nbytes for a in self._redo)
        return int(atoms + sum(m.nbytes for m in self._baked.values()))

    def push(self, atom: Atom, shape: tuple[int, ...]) -> None:
        """Add an already-applied edit; clears the redo stack and drops the oldest item beyond ``depth``.

        Args:
            atom: the edit.
            shape: shape of the label array (needed to remember the pixels of a dropped item).
        """
        self._redo.clear()
        self._undo.append(atom)
        while len(self._undo) > self.depth:
            self._bake(self._undo.popleft(), shape)

    def undo(self, array: np.ndarray) -> Atom | None:
        """Revert the newest edit in ``array`` (in place); returns it, or ``None`` when there is nothing to undo."""
        if not self._undo:
            return None
        atom = self._undo.pop()
        atom.apply(array, undo=True)
        self._redo.append(atom)
        return atom

    def redo(self, array: np.ndarray) -> Atom | None:
        """Re-apply the newest undone edit; returns it, or ``None`` when there is nothing to redo."""
        if not self._redo:
            return None
        atom = self._redo.pop()
        atom.apply(array, undo=False)
        self._undo.append(atom)
        return atom

    def clear(self, shape: tuple[int, ...]) -> None:
        """Forget every item; the applied edits stay applied and stay in :meth:`edited_mask`."""
        while self._undo:
            self._bake(self._undo.popleft(), shape)
        self._redo.clear()

    def edited_mask(self, shape: tuple[int, ...], sources: Iterable[str] = ("user",)) -> np.ndarray:
        """Pixels changed by an edit that is in effect (applied and not undone).

        Args:
            shape: shape of the label array.
            sources: which edit sources count (``"user"``, ``"model"``, ...).

        Returns:
            Boolean array of ``shape``.
        """
        wanted = set(sources)
        out = np.zeros(shape, dtype=bool)
        for source, baked in self._baked.items():
            if source in wanted:
                out |= baked
        for atom in self._undo:
            if atom.source in wanted:
                out[region_slices(atom.region)] |= atom.mask()
        return out

    def _bake(self, atom: Atom, shape: tuple[int, ...]) -> None:
        baked = self._baked.get(atom.source)
        if baked is None:
            baked = self._baked[atom.source] = np.zeros(shape, dtype=bool)
        baked[region_slices(atom.region)] |= atom.mask()
