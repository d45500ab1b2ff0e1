"""Input normalisation shared by training and inference.

The method's name is stored in every checkpoint so that inference normalises exactly as training did
(``akmamba train --normalisation`` -> checkpoint metadata ``normalisation`` -> :class:`akmamba.infer.Predictor`,
used by ``akmamba predict``, ``akmamba evaluate``'s callers and the viewer). A method is defined by its name alone:
its constants below must never change; a different setting needs a new name.

* ``zscore`` (numpy only): each channel minus its mean, divided by its standard deviation.
* ``clahe``: contrast-limited adaptive histogram equalisation of each channel inside the image's bright region,
  then z-scoring there (:func:`clahe`; SimpleITK and SciPy, both core dependencies).
"""

from __future__ import annotations

import numpy as np

from akmamba.errors import ConfigError, ShapeError
from akmamba.registry import suggest

NORMALISATIONS = ("zscore", "clahe")

#: ``clahe``: the equalisation window is ``2 r + 1`` pixels on each axis with ``r = round(side * fraction)``, so
#: about 1/8 of the image like scikit-image's default CLAHE tile (DRIVE 565 x 584: 71 x 73).
CLAHE_RADIUS_FRACTION = 1 / 16
#: ``clahe``: SimpleITK's alpha and beta (Stark 2000, see :func:`clahe`). With them and the window above, the
#: output follows scikit-image's ``equalize_adapthist`` at its defaults (clip limit 0.01, 256 bins) on DRIVE:
#: docs/clahe.md gives the calibration.
CLAHE_ALPHA = 0.6
CLAHE_BETA = 0.7
#: ``clahe``: grey levels each channel is quantised to before equalisation (as 8-bit data has).
CLAHE_LEVELS = 256
#: ``clahe``: a pixel whose brightest channel is at most this fraction of the way from the image's darkest to its
#: brightest value is dark; large dark regions touching the image edge are the border (a fundus image's outside of
#: the field of view; :func:`dark_border`). On the 20 DRIVE training images the rest contains every pixel of the
#: provided FOV mask (docs/clahe.md).
BORDER_LEVEL = 0.08
#: ``clahe``: a dark region touching the edge is border only if it covers at least this share of the image.
BORDER_MIN_AREA = 0.01


def to_channels_first(array: np.ndarray, in_channels: int, *, path: str | None = None) -> np.ndarray:
    """Bring a 2-D image to ``(C, H, W)`` float32 with the channel count a model expects.

    Args:
        array: ``(H, W)`` grey or ``(H, W, C)`` colour.
        in_channels: 1 or 3. Grey is repeated to 3 channels; RGB becomes grey by the luminance mean when 1.
        path: the source file, for messages.

    Returns:
        ``(in_channels, H, W)`` float32.
    """
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = a[..., :3]
    elif a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 3:
        a = np.moveaxis(a, -1, 0)
    else:
        where = f" ({path!r})" if path else ""
        raise ShapeError(
            f"Expected a 2-D image (H, W) or (H, W, C){where}; got shape {a.shape}.",
            path=path, expected="(H, W) or (H, W, C)", got=a.shape,
        )
    a = a.astype(np.float32, copy=False)
    if a.shape[0] == in_channels:
        return a
    if in_channels == 3 and a.shape[0] == 1:
        return np.repeat(a, 3, axis=0)
    if in_channels == 1 and a.shape[0] == 3:
        return a.mean(axis=0, keepdims=True)
    raise ShapeError(
        f"Cannot turn an image with {a.shape[0]} channels into the {in_channels} the model expects.",
        path=path, expected=in_channels, got=a.shape[0],
    )


def check_normalisation(method: str, *, path: str | None = None) -> str:
    """Return ``method`` when it is a known normalisation; raise ConfigError naming the valid ones otherwise.

    Args:
        method: the name (from a training option or a checkpoint's metadata).
        path: the checkpoint or config it came from, for the message.
    """
    if method not in NORMALISATIONS:
        where = f" (from {path!r})" if path else ""
        raise ConfigError(
            f"Unknown normalisation {method!r}{where}.{suggest(str(method), list(NORMALISATIONS))} "
            f"Valid: {', '.join(NORMALISATIONS)}.",
            path=path, parameter="normalisation", expected=list(NORMALISATIONS), got=method,
            hint="A checkpoint made by a newer akmamba may use a method this version lacks: update akmamba.",
        )
    return method


def normalise(image: np.ndarray, method: str = "zscore") -> np.ndarray:
    """Normalise a ``(C, H, W)`` float image channel by channel.

    ``zscore``: subtract each channel's mean and divide by its standard deviation (1 where the channel is
    constant), computed over the whole image. ``clahe``: :func:`clahe`.

    Returns:
        ``(C, H, W)`` float32.

    Raises:
        ConfigError: unknown ``method``.
        ShapeError: ``clahe`` of an array that is not ``(C, H, W)``.
    """
    check_normalisation(method)
    if method == "clahe":
        return clahe(image)
    x = np.asarray(image, dtype=np.float32)
    return _zscore(x, None)


def _zscore(x: np.ndarray, inside: np.ndarray | None) -> np.ndarray:
    """Each channel of ``x`` ``(C, H, W)`` minus its mean over ``inside`` (``(H, W)`` bool; None: every pixel),
    divided by its standard deviation there (1 where that is below 1e-6)."""
    values = x if inside is None else x[:, inside][..., None]
    mean = values.mean(axis=(-2, -1), keepdims=True, dtype=np.float64)
    std = values.std(axis=(-2, -1), keepdims=True, dtype=np.float64)
    std[std < 1e-6] = 1.0
    return ((x - mean) / std).astype(np.float32)


def dark_border(image: np.ndarray) -> np.ndarray:
    """The dark border of a ``(C, H, W)`` image: ``(H, W)`` bool, True outside a fundus image's field of view.

    A pixel is dark when its brightest channel is at most :data:`BORDER_LEVEL` of the way from the image's
    darkest to its brightest value (8-bit DRIVE: 0.08 x 255 = 20.4; the black surround is about 8 with noise up
    to 20, the field of view >= 21; a bright halo just outside it joins the inside). The border is every
    4-connected region of dark pixels that touches the image edge and covers at least :data:`BORDER_MIN_AREA` of
    the image: dark spots enclosed by brighter tissue, and the few darkest pixels of a textured image that happen
    to lie on its edge, are not border. An image with nothing but dark pixels has no border.
    """
    from scipy import ndimage

    brightest = np.asarray(image, dtype=np.float64).max(axis=0)
    lo, hi = float(brightest.min()), float(brightest.max())
    dark = brightest <= lo + BORDER_LEVEL * (hi - lo)
    labels, _ = ndimage.label(dark)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    area = np.bincount(labels.ravel())
    keep = [k for k in edge if k and area[k] >= BORDER_MIN_AREA * labels.size]
    border = np.isin(labels, keep)
    return np.zeros_like(dark) if border.all() else border


def clahe(image: np.ndarray) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of each channel, then z-scoring (method ``clahe``).

    Per channel, on the pixels outside :func:`dark_border` ("inside"):

    1. scale the inside's minimum..maximum to :data:`CLAHE_LEVELS` grey levels in 0..1 (so 8-bit and float
       inputs, and any gain and offset, give the same result; a constant channel becomes 0);
    2. give every border pixel the value of its nearest inside pixel, so that the black surround does not take
       up the local histograms of windows near the edge of the field of view (it would otherwise be a large
       spike at 0 in every window there, and set the mapping of the rim);
    3. equalise with SimpleITK's ``AdaptiveHistogramEqualization``: radius ``round(side *``
       :data:`CLAHE_RADIUS_FRACTION` ``)`` per axis, :data:`CLAHE_ALPHA`, :data:`CLAHE_BETA`; output clipped to 0..1;
    4. set the border to 0 (darkest) and z-score with the inside's mean and standard deviation, so the border
       is a constant no higher than any inside value and the statistics do not depend on how much border there
       is.

    SimpleITK's filter is J. A. Stark's generalised adaptive histogram equalisation (IEEE TIP 9(5), 2000):
    each output is the mean over a sliding ``(2 r + 1)^2`` window of ``q(u - v)`` (``u`` the pixel, ``v`` each
    window pixel, in ``[-0.5, 0.5]``), ``q(d) = 0.5 sign(d) |2d|^alpha + beta v``. ``alpha = beta = 0`` is plain
    adaptive histogram equalisation (the local rank); ``alpha`` > 0 limits the contrast gain, as CLAHE's clip
    limit does (``alpha = 1``: local mean subtraction); ``beta`` adds back that share of the local mean (``alpha
    = beta = 1``: the input). It is not Zuiderveld's tiled CLAHE (clip, redistribute, bilinear interpolation
    of tile mappings; scikit-image, OpenCV), which is not a dependency here; :data:`CLAHE_ALPHA` and
    :data:`CLAHE_BETA` were chosen, without labels, so that its detail and its large-scale brightness follow
    scikit-image's defaults on DRIVE (docs/clahe.md). The result does not depend on SimpleITK's thread count.

    Why every channel and not the green one repeated: this function knows nothing of the modality (it also
    serves grey images and the bladder MRI), each channel equalised on its own keeps ``in_channels = 3`` models
    and their first layer's choice of channels, and the ablation changes one thing only (the equalisation, not
    which channels the network sees). Green is where fundus vessels have most contrast; a green-only method would
    be a separate name and a separate row.

    Args:
        image: ``(C, H, W)`` float (:func:`to_channels_first`'s output); any range.

    Returns:
        ``(C, H, W)`` float32: inside, each channel has mean 0 and standard deviation 1 (unless constant);
        the border holds one value per channel, no higher than any inside value.

    Raises:
        ShapeError: ``image`` is not ``(C, H, W)``.
    """
    import SimpleITK as sitk
    from scipy import ndimage

    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 3:
        raise ShapeError(f"clahe normalises a (C, H, W) image; got shape {x.shape}.",
                         parameter="image", expected="(C, H, W)", got=x.shape)
    border = dark_border(x)
    inside = ~border
    nearest = None
    if border.any():
        nearest = tuple(ndimage.distance_transform_edt(border, return_distances=False, return_indices=True))
    height, width = x.shape[-2:]
    radius = [max(1, round(width * CLAHE_RADIUS_FRACTION)), max(1, round(height * CLAHE_RADIUS_FRACTION))]  # x, y
    out = np.zeros(x.shape, np.float32)
    for c, channel in enumerate(x.astype(np.float64)):
        lo, hi = channel[inside].min(), channel[inside].max()
        if hi - lo <= 0:
            continue  # a constant channel: all zeros
        levels = np.rint(np.clip((channel - lo) / (hi - lo), 0, 1) * (CLAHE_LEVELS - 1)) / (CLAHE_LEVELS - 1)
        if nearest is not None:
            levels = levels[nearest]
        equalised = sitk.GetArrayFromImage(sitk.AdaptiveHistogramEqualization(
            sitk.GetImageFromArray(levels.astype(np.float32)), radius, CLAHE_ALPHA, CLAHE_BETA))
        out[c] = np.clip(equalised, 0, 1)
    out[:, border] = 0
    return _zscore(out, inside)
