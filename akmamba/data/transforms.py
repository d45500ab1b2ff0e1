"""Augmentations and crops on numpy arrays: image ``(C, H, W)``, label ``(H, W)`` (pure functions of an rng)."""

from __future__ import annotations

import numpy as np


def pad_to_at_least(image: np.ndarray, label: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pad bottom/right so that H >= size[0] and W >= size[1] (image with its edge values, label with 0)."""
    h, w = label.shape
    ph, pw = max(0, size[0] - h), max(0, size[1] - w)
    if not ph and not pw:
        return image, label
    image = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="edge")
    label = np.pad(label, ((0, ph), (0, pw)))
    return image, label


def random_crop(
    image: np.ndarray, label: np.ndarray, size: tuple[int, int], rng: np.random.Generator,
    foreground_fraction: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """A random ``size`` patch; with probability ``foreground_fraction`` it is centred on a foreground pixel.

    The foreground centre is class-balanced: a class is drawn uniformly among the foreground classes present in
    ``label``, then a pixel of that class, so that a rare class (tumour beside a large wall) is centred as often as
    a common one. With one foreground class this is the same as drawing any labelled pixel.

    Args:
        image: ``(C, H, W)``.
        label: ``(H, W)`` class indices.
        size: patch (height, width).
        rng: random generator.
        foreground_fraction: share of patches centred on a labelled pixel (small structures such as tumours
            are otherwise rarely seen).

    Returns:
        ``(C, ph, pw)`` and ``(ph, pw)``.
    """
    image, label = pad_to_at_least(image, label, size)
    h, w = label.shape
    ph, pw = size
    fg = np.empty(0, dtype=np.int64)
    if rng.random() < foreground_fraction:
        classes = np.unique(label)
        classes = classes[classes > 0]
        if classes.size > 1:
            fg = np.flatnonzero(label == classes[rng.integers(classes.size)])
        elif classes.size == 1:
            fg = np.flatnonzero(label)
    if fg.size:
        cy, cx = divmod(int(fg[rng.integers(fg.size)]), w)
        y0 = int(np.clip(cy - ph // 2, 0, h - ph))
        x0 = int(np.clip(cx - pw // 2, 0, w - pw))
    else:
        y0 = int(rng.integers(0, h - ph + 1))
        x0 = int(rng.integers(0, w - pw + 1))
    return image[:, y0:y0 + ph, x0:x0 + pw], label[y0:y0 + ph, x0:x0 + pw]


def random_flip_rotate(
    image: np.ndarray, label: np.ndarray, rng: np.random.Generator, rotate: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal/vertical flips and, for square patches with ``rotate``, a random multiple of 90 degrees."""
    if rng.random() < 0.5:
        image, label = image[:, :, ::-1], label[:, ::-1]
    if rng.random() < 0.5:
        image, label = image[:, ::-1, :], label[::-1, :]
    if rotate and label.shape[0] == label.shape[1]:
        k = int(rng.integers(4))
        image, label = np.rot90(image, k, axes=(1, 2)), np.rot90(label, k)
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def random_intensity(image: np.ndarray, rng: np.random.Generator, strength: float = 0.1) -> np.ndarray:
    """Random contrast (scale), brightness (shift) and gamma-like change of a normalised ``(C, H, W)`` image."""
    scale = 1.0 + rng.uniform(-strength, strength)
    shift = rng.uniform(-strength, strength)
    out = image * scale + shift
    if rng.random() < 0.3:
        sigma = rng.uniform(0, strength / 2)
        out = out + rng.normal(0.0, sigma, size=out.shape).astype(np.float32)
    return out.astype(np.float32)
