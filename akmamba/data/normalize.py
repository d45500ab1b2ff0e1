"""Input normalisation shared by training and inference (numpy only).

The method's name is stored in every checkpoint so that inference normalises exactly as training did.
"""

from __future__ import annotations

import numpy as np

from akmamba.errors import ConfigError, ShapeError

NORMALISATIONS = ("zscore",)


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


def normalise(image: np.ndarray, method: str = "zscore") -> np.ndarray:
    """Normalise a ``(C, H, W)`` float image channel by channel.

    ``zscore``: subtract each channel's mean and divide by its standard deviation (1 where the channel is
    constant), computed over the whole image.

    Returns:
        ``(C, H, W)`` float32.
    """
    if method not in NORMALISATIONS:
        raise ConfigError(
            f"Unknown normalisation {method!r}; valid: {', '.join(NORMALISATIONS)}.",
            parameter="normalisation", expected=list(NORMALISATIONS), got=method,
        )
    x = np.asarray(image, dtype=np.float32)
    mean = x.mean(axis=(-2, -1), keepdims=True, dtype=np.float64)
    std = x.std(axis=(-2, -1), keepdims=True, dtype=np.float64)
    std[std < 1e-6] = 1.0
    return ((x - mean) / std).astype(np.float32)
