"""How a volume's slices are shown on screen: the radiological convention, derived from the direction matrix.

The viewer shows the planes of array axis 0 (the acquired slices, ``array[z]``), each turned and flipped so that
it looks the way 3D Slicer and ITK-SNAP show that kind of plane:

==========  ===========================  ======================  ==================================
plane       (slice axis closest to)      screen up / down        screen left / right
==========  ===========================  ======================  ==================================
axial       S-I                          A (anterior) / P        R (patient right) / L
coronal     A-P                          S / I                   R / L
sagittal    R-L                          S / I                   A / P
==========  ===========================  ======================  ==================================

The in-plane array axes are matched to the screen axes by the direction matrix (columns = unit vectors of the
array axes, see :mod:`akmamba.io.image`), so a transposed (90-degree rotated) or flipped volume is turned back;
an oblique volume gets the nearest of these orientations (as SimpleITK's ``DICOMOrient`` does) and the letters
name the nearest patient direction. The slice order is described by ``flip_slices``: the slider runs towards S
(axial), A (coronal) or R (sagittal), as in Slicer.

Nothing here moves data in the file: the array, the label map and every export keep the source geometry; only
the display is turned. 2-D images and volumes from formats without geometry (PNG, TIFF, ...) are shown as stored
(:data:`AS_STORED`, no letters).

Display coordinates are continuous pixel coordinates ``(x, y)`` with ``x`` to the right and ``y`` down; array
("item") coordinates are ``(x, y) = (column, row)``, pixel ``(i, j)`` covering ``[j, j+1) x [i, i+1)``.
Pure numpy: no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from akmamba.io.image import Image

Plane = Literal["axial", "coronal", "sagittal", "as stored"]

#: Reader formats (``Image.meta["format"]``) that carry no geometry: their identity direction is a default, not a
#: fact, so no patient letters are shown for them.
NO_GEOMETRY_FORMATS = frozenset({"png", "jpeg", "gif", "bmp", "tiff", "tif"})

# Patient axes in the reversed LPS order of akmamba.io.image: component 0 = S, 1 = P, 2 = L. Letter of the
# positive and of the negative direction of each.
_LETTERS = (("S", "I"), ("P", "A"), ("L", "R"))
# For a slice axis closest to component c: (world component, sign) of the screen's +x and +y, and of the
# direction the slice index should run (towards S, A or R).
_TARGETS: dict[int, tuple[Plane, tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    0: ("axial", (2, +1), (1, +1), (0, +1)),  # x -> L (R on the left), y -> P (A up), slices -> S
    1: ("coronal", (2, +1), (0, -1), (1, -1)),  # x -> L, y -> I (S up), slices -> A
    2: ("sagittal", (1, +1), (0, -1), (2, -1)),  # x -> P (A on the left), y -> I, slices -> R
}


@dataclass(frozen=True)
class SliceOrientation:
    """How to turn a plane ``array[z]`` (``(H, W)`` or ``(H, W, C)``) for display.

    The display plane is ``plane`` with rows and columns swapped when ``transpose``, then its rows reversed when
    ``flip_rows`` and its columns when ``flip_cols`` (both flips apply to the *displayed* axes).

    Attributes:
        plane: which kind of plane this is, or ``"as stored"`` (no turning, no letters).
        transpose: swap rows and columns.
        flip_rows: reverse the displayed rows (top <-> bottom).
        flip_cols: reverse the displayed columns (left <-> right).
        flip_slices: the slice index runs away from S / A / R (a slider should run the other way).
        letters: patient direction at the screen's ``(top, bottom, left, right)`` edge, e.g.
            ``("A", "P", "R", "L")``; empty when the image has no geometry.
    """

    plane: Plane = "as stored"
    transpose: bool = False
    flip_rows: bool = False
    flip_cols: bool = False
    flip_slices: bool = False
    letters: tuple[str, ...] = ()

    def to_display(self, plane: np.ndarray) -> np.ndarray:
        """The displayed plane (a numpy view, no copy): ``(H, W[, C])`` -> ``(H', W'[, C])``."""
        out = np.swapaxes(plane, 0, 1) if self.transpose else plane
        if self.flip_rows:
            out = out[::-1]
        if self.flip_cols:
            out = out[:, ::-1]
        return out

    def from_display(self, plane: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_display`: a displayed ``(H', W'[, C])`` plane back in array order (a view)."""
        out = plane
        if self.flip_cols:
            out = out[:, ::-1]
        if self.flip_rows:
            out = out[::-1]
        return np.swapaxes(out, 0, 1) if self.transpose else out

    def display_shape(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """``(H', W')`` of the displayed plane for an array plane of shape ``(H, W, ...)``."""
        h, w = int(shape[0]), int(shape[1])
        return (w, h) if self.transpose else (h, w)

    def affine(self, shape: tuple[int, ...]) -> np.ndarray:
        """``(3, 3)`` homogeneous matrix taking array coordinates ``(x, y, 1)`` to display coordinates.

        Args:
            shape: the array plane's ``(H, W, ...)``.

        Returns:
            ``A`` with ``A @ (x, y, 1) = (x', y', 1)``; pixel ``(i, j)`` of the array lands on the display pixel
            that :meth:`to_display` puts it in.
        """
        dh, dw = self.display_shape(shape)
        swap = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) if self.transpose else np.eye(3)
        flip = np.eye(3)
        if self.flip_cols:
            flip[0, 0], flip[0, 2] = -1.0, float(dw)
        if self.flip_rows:
            flip[1, 1], flip[1, 2] = -1.0, float(dh)
        return flip @ swap

    def to_array(self, x: float, y: float, shape: tuple[int, ...]) -> tuple[float, float]:
        """Array coordinates ``(x, y)`` (column, row; continuous) of display point ``(x, y)``."""
        ax, ay, _ = np.linalg.solve(self.affine(shape), np.array([x, y, 1.0]))
        return float(ax), float(ay)

    def box_to_display(self, box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """A half-open array rectangle ``(y0, y1, x0, x1)`` as the display rectangle it covers."""
        y0, y1, x0, x1 = box
        corners = self.affine(shape) @ np.array([[x0, x1, x0, x1], [y0, y0, y1, y1], [1, 1, 1, 1]], float)
        xs, ys = np.rint(corners[0]).astype(int), np.rint(corners[1]).astype(int)
        return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


#: Shown as stored: 2-D images and volumes without geometry.
AS_STORED = SliceOrientation()


def _letter(vector: np.ndarray) -> str:
    c = int(np.argmax(np.abs(vector)))
    return _LETTERS[c][0 if vector[c] > 0 else 1]


def orientation_from_direction(direction: np.ndarray) -> SliceOrientation:
    """The display orientation of a volume with this direction matrix.

    Args:
        direction: ``(3, 3)`` orthonormal; column ``c`` is the unit vector of array axis ``c`` (``(z, y, x)``
            order) with components in reversed LPS order ``(S, P, L)`` (see :mod:`akmamba.io.image`).

    Returns:
        The orientation (see the module docstring for the convention).
    """
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    slice_world = int(np.argmax(np.abs(d[:, 0])))
    plane, (xw, xs), (yw, ys), (zw, zs) = _TARGETS[slice_world]
    # m[s, a]: how far in-plane array axis a (0 = rows, 1 = columns) goes along screen axis s (0 = x, 1 = y).
    m = np.array([[xs * d[xw, 1], xs * d[xw, 2]], [ys * d[yw, 1], ys * d[yw, 2]]])
    transpose = abs(m[0, 0]) + abs(m[1, 1]) > abs(m[0, 1]) + abs(m[1, 0])
    if transpose:  # displayed columns are the array rows, displayed rows the array columns
        flip_cols, flip_rows = bool(m[0, 0] < 0), bool(m[1, 1] < 0)
    else:
        flip_cols, flip_rows = bool(m[0, 1] < 0), bool(m[1, 0] < 0)
    col_axis, row_axis = (1, 2) if transpose else (2, 1)
    right = d[:, col_axis] * (-1.0 if flip_cols else 1.0)
    down = d[:, row_axis] * (-1.0 if flip_rows else 1.0)
    return SliceOrientation(
        plane=plane,
        transpose=bool(transpose),
        flip_rows=flip_rows,
        flip_cols=flip_cols,
        flip_slices=bool(zs * d[zw, 0] < 0),
        letters=(_letter(-down), _letter(down), _letter(-right), _letter(right)),
    )


def slice_orientation(image: Image) -> SliceOrientation:
    """The display orientation of ``image``: from its direction for a volume with geometry, else
    :data:`AS_STORED` (2-D images, volumes read from formats without geometry)."""
    if not image.is_volume or str(image.meta.get("format", "")).lower() in NO_GEOMETRY_FORMATS:
        return AS_STORED
    return orientation_from_direction(image.direction)
