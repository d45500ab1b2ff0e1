"""The one image object of akmamba: :class:`Image` (an array plus its geometry).

Axis and geometry convention (used everywhere in ``akmamba.io``):

* **Arrays.** Volumes are ``(Z, Y, X)``. 2-D images are ``(H, W)`` = ``(Y, X)`` for grey, or ``(H, W, C)`` for
  colour (``C`` = 3 for RGB). The colour axis is never a spatial axis and has no geometry.
* **Geometry is listed in array-axis order.** ``spacing[i]`` is the size (mm) of a step along array axis ``i``,
  so a volume's spacing is ``(sz, sy, sx)`` and a 2-D image's ``(sy, sx)``.
* **Physical frame is LPS** (DICOM / ITK / SimpleITK), with its components *also* listed in reversed order:
  ``origin = (S, P, L)`` for a volume, i.e. SimpleITK's ``GetOrigin()`` reversed. ``direction[r, c]`` is the
  component ``r`` (in that reversed order) of the unit vector of array axis ``c``; it is SimpleITK's 3x3
  direction matrix with both rows and columns reversed (``D_itk[::-1, ::-1]``).
* Hence, for an integer index ``idx = (k, j, i)`` into ``array``::

      physical_zyx = origin + direction @ (spacing * idx)

  and ``physical_zyx[::-1]`` is the LPS point SimpleITK's ``TransformIndexToPhysicalPoint((i, j, k))`` returns.
* NIfTI files (RAS+ world) are converted on read and write with ``LPS = diag(-1, -1, 1) @ RAS``, so one volume
  stored as ``.nii.gz`` and as ``.mha`` reads back as identical arrays and geometry (see :func:`ras_affine` and
  :func:`geometry_from_ras_affine`).
* Formats without geometry (PNG, TIFF, ...) get spacing 1, origin 0 and an identity direction.

This module is pure numpy: no file I/O, no SimpleITK, no torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from akmamba.errors import ConfigError, ShapeError

Kind = Literal["2d", "volume"]

#: Tolerance for the orthonormality of a direction matrix.
DIRECTION_ORTHONORMAL_ATOL = 1e-4

# LPS <-> RAS: negate the first two world axes (x, y); in 4x4 homogeneous form.
_LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _frozen_array(values: Any, dtype: Any = np.float64) -> np.ndarray:
    arr = np.array(values, dtype=dtype)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Image:
    """An image or volume with its geometry (see the module docstring for the axis convention).

    Attributes are read-only; ``array`` and ``direction`` are marked non-writeable so a reader's result cannot be
    changed in place by accident. Use :meth:`with_array` to derive an image with the same geometry.

    Args:
        array: ``(Z, Y, X)`` for ``kind="volume"``; ``(H, W)`` grey or ``(H, W, C)`` colour for ``kind="2d"``.
        kind: ``"2d"`` or ``"volume"``; it disambiguates ``(H, W, 3)`` RGB from a 3-slice volume.
        spacing: step size in mm along each spatial array axis, ``(sz, sy, sx)`` or ``(sy, sx)``. Default 1.
        origin: physical position of ``array[0, 0, 0]`` (LPS, reversed order), mm. Default 0.
        direction: ``(3, 3)`` or ``(2, 2)`` orthonormal matrix; column ``c`` is the unit vector of array axis
            ``c``. Default identity.
        path: the file or folder the image came from, if any.
        meta: free-form facts about the source, e.g. ``{"format": "nifti", "dtype": "int16"}``.

    Raises:
        ShapeError: the array rank does not fit ``kind``.
        ConfigError: spacing, origin or direction has the wrong length, is not finite or not positive, or the
            direction is not orthonormal.
    """

    array: np.ndarray
    kind: Kind
    spacing: tuple[float, ...] = ()
    origin: tuple[float, ...] = ()
    direction: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if self.kind not in ("2d", "volume"):
            raise ConfigError(
                f"Image kind must be '2d' or 'volume', got {self.kind!r}.",
                parameter="kind",
                expected=["2d", "volume"],
                got=self.kind,
            )
        if self.kind == "volume" and arr.ndim != 3:
            raise ShapeError(
                f"A volume array must be (Z, Y, X), got shape {arr.shape}. Pass kind='2d' for a 2-D image.",
                path=_str(self.path),
                expected="(Z, Y, X)",
                got=arr.shape,
            )
        if self.kind == "2d" and arr.ndim not in (2, 3):
            raise ShapeError(
                f"A 2-D image array must be (H, W) or (H, W, C), got shape {arr.shape}.",
                path=_str(self.path),
                expected="(H, W) or (H, W, C)",
                got=arr.shape,
            )
        if arr.flags.writeable:
            arr = arr.view()
            arr.setflags(write=False)
        n = 3 if self.kind == "volume" else 2
        spacing = self.spacing if len(self.spacing) else (1.0,) * n
        origin = self.origin if len(self.origin) else (0.0,) * n
        direction = self.direction if np.size(self.direction) else np.eye(n)
        object.__setattr__(self, "array", arr)
        object.__setattr__(self, "spacing", _check_vector(spacing, n, "spacing", self.path, positive=True))
        object.__setattr__(self, "origin", _check_vector(origin, n, "origin", self.path, positive=False))
        object.__setattr__(self, "direction", _check_direction(direction, n, self.path))
        object.__setattr__(self, "path", Path(self.path) if self.path is not None else None)
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def is_volume(self) -> bool:
        """True for a ``(Z, Y, X)`` volume, False for a 2-D image."""
        return self.kind == "volume"

    @property
    def channels(self) -> int:
        """Number of values per pixel: 1 for grey and volumes, ``C`` for ``(H, W, C)`` 2-D images."""
        return int(self.array.shape[2]) if self.kind == "2d" and self.array.ndim == 3 else 1

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """``(Z, Y, X)`` or ``(H, W)``: the array shape without the colour axis."""
        n = 3 if self.is_volume else 2
        return tuple(int(s) for s in self.array.shape[:n])

    def with_array(self, array: np.ndarray, **meta: Any) -> Image:
        """Return a new Image with the same geometry, path and kind, holding ``array``.

        Args:
            array: same spatial shape as ``self.array``; may have a different dtype or no colour axis.
            **meta: entries added to (a copy of) ``meta``.

        Raises:
            ShapeError: the spatial shape differs.
        """
        arr = np.asarray(array)
        n = len(self.spatial_shape)
        if arr.shape[:n] != self.spatial_shape:
            raise ShapeError(
                f"New array spatial shape {arr.shape[:n]} differs from the image's {self.spatial_shape}.",
                path=_str(self.path),
                expected=self.spatial_shape,
                got=arr.shape[:n],
            )
        return dataclasses.replace(self, array=arr, meta={**self.meta, **meta})

    def index_to_physical(self, index: tuple[float, ...] | np.ndarray) -> np.ndarray:
        """Physical position (mm, LPS components in reversed order) of a ``(k, j, i)`` / ``(j, i)`` index."""
        idx = np.asarray(index, dtype=np.float64)
        return np.asarray(self.origin) + self.direction @ (np.asarray(self.spacing) * idx)


def is_volume(image: Image) -> bool:
    """Return True when ``image`` is a ``(Z, Y, X)`` volume, False for a 2-D image."""
    return image.is_volume


def _str(path: Path | str | None) -> str | None:
    return None if path is None else str(path)


def _check_vector(values: Any, n: int, name: str, path: Path | str | None, *, positive: bool) -> tuple[float, ...]:
    vec = np.asarray(values, dtype=np.float64).ravel()
    bad = vec.shape != (n,) or not np.all(np.isfinite(vec)) or (positive and np.any(vec <= 0))
    if bad:
        what = "positive finite" if positive else "finite"
        raise ConfigError(
            f"Image {name} must be {n} {what} numbers in (z, y, x) order, got {tuple(np.ravel(values))}"
            f"{f' for {str(path)!r}' if path else ''}. Check the file header.",
            path=_str(path),
            parameter=name,
            expected=f"{n} {what} numbers",
            got=tuple(np.ravel(values)),
        )
    return tuple(float(v) for v in vec)


def _check_direction(values: Any, n: int, path: Path | str | None) -> np.ndarray:
    mat = np.asarray(values, dtype=np.float64)
    if mat.size == n * n:
        mat = mat.reshape(n, n)
    ok = mat.shape == (n, n) and bool(np.all(np.isfinite(mat)))
    if ok:
        ok = bool(np.allclose(mat.T @ mat, np.eye(n), atol=DIRECTION_ORTHONORMAL_ATOL))
    if not ok:
        raise ConfigError(
            f"Image direction must be an orthonormal {n}x{n} matrix, got {mat.tolist()}"
            f"{f' for {str(path)!r}' if path else ''}. Check the file header (sheared affines are not supported).",
            path=_str(path),
            parameter="direction",
            expected=f"orthonormal {n}x{n}",
            got=mat.tolist(),
        )
    return _frozen_array(mat)


def itk_geometry(image: Image) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """Geometry in SimpleITK's order: ``(spacing_xyz, origin_xyz, direction_flat_row_major)``."""
    direction = np.asarray(image.direction)[::-1, ::-1]
    return (
        tuple(image.spacing[::-1]),
        tuple(image.origin[::-1]),
        tuple(float(v) for v in direction.ravel()),
    )


def geometry_from_itk(
    spacing_xyz: tuple[float, ...], origin_xyz: tuple[float, ...], direction_flat: tuple[float, ...]
) -> tuple[tuple[float, ...], tuple[float, ...], np.ndarray]:
    """Convert SimpleITK's ``GetSpacing/GetOrigin/GetDirection`` to ``(spacing, origin, direction)`` in z,y,x."""
    n = len(spacing_xyz)
    direction = np.asarray(direction_flat, dtype=np.float64).reshape(n, n)[::-1, ::-1]
    return tuple(spacing_xyz[::-1]), tuple(origin_xyz[::-1]), np.ascontiguousarray(direction)


def ras_affine(image: Image) -> np.ndarray:
    """The 4x4 NIfTI (RAS+) affine of a volume, mapping nibabel's ``(i, j, k, 1)`` (x fastest) to RAS mm.

    Args:
        image: a volume.

    Returns:
        ``(4, 4)`` float64 affine.
    """
    spacing_xyz, origin_xyz, direction_flat = itk_geometry(image)
    lps = np.eye(4)
    lps[:3, :3] = np.asarray(direction_flat).reshape(3, 3) * np.asarray(spacing_xyz)[None, :]
    lps[:3, 3] = origin_xyz
    return _LPS_FROM_RAS @ lps


def geometry_from_ras_affine(
    affine: np.ndarray,
) -> tuple[tuple[float, ...], tuple[float, ...], np.ndarray]:
    """Convert a NIfTI (RAS+) 4x4 affine to ``(spacing, origin, direction)`` in the z,y,x / LPS convention.

    Args:
        affine: ``(4, 4)``; column ``c`` of ``affine[:3, :3]`` is the RAS step of nibabel array axis ``c``.

    Returns:
        spacing ``(sz, sy, sx)``, origin (reversed LPS), direction ``(3, 3)``.
    """
    lps = _LPS_FROM_RAS @ np.asarray(affine, dtype=np.float64)
    mat = lps[:3, :3]
    spacing_xyz = np.linalg.norm(mat, axis=0)
    direction_xyz = mat / np.where(spacing_xyz > 0, spacing_xyz, 1.0)[None, :]
    return geometry_from_itk(tuple(spacing_xyz), tuple(lps[:3, 3]), tuple(direction_xyz.ravel()))
