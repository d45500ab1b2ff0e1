"""The ``strong`` training augmentation: nnU-Net's 2-D data augmentation, built from MONAI transforms.

nnU-Net (Isensee et al. 2021, its default trainer) draws, per patch: rotation (p 0.2, any angle in 2-D) and
scaling (p 0.2, 0.7-1.4), Gaussian noise (p 0.1), Gaussian blur (p 0.2), multiplicative brightness (p 0.15),
contrast (p 0.15), low-resolution simulation (p 0.25), gamma (p 0.3) and mirroring on every axis. This module
builds the same list from MONAI's dictionary transforms (``RandAffined``, ``RandGaussianNoised``, ...), so no
augmentation maths is written here; what is ours is the patch cut around the sampled centre, larger than the
patch so that a rotated or shrunk patch has image content in its corners, as nnU-Net does.

Items are reproducible: :meth:`StrongAugment.__call__` seeds every MONAI transform from the caller's generator.
"""

from __future__ import annotations

import math

import numpy as np

from akmamba.data.transforms import random_crop

#: Training augmentations (``TrainConfig.augmentation``, :class:`akmamba.data.dataset.PatchDataset`).
AUGMENTATIONS = ("basic", "strong")


class StrongAugment:
    """nnU-Net-style spatial and intensity augmentation of one sample into a ``patch_size`` patch.

    Args:
        patch_size: output (height, width).
        rotate: allow rotations (any angle) and scaling; False keeps flips and the intensity transforms only.

    Call with an image ``(C, H, W)`` float32 (normalised), a label ``(H, W)`` int64, an optional weight ``(H, W)``
    float32 (spatial transforms only), a generator and the foreground fraction; returns the patch image
    ``(C, h, w)``, label ``(h, w)`` and weight ``(h, w)`` or None.
    """

    def __init__(self, patch_size: tuple[int, int], rotate: bool = True) -> None:
        from monai.transforms import (
            Compose,
            RandAdjustContrastd,
            RandAffined,
            RandFlipd,
            RandGaussianNoised,
            RandGaussianSmoothd,
            RandScaleIntensityd,
            RandScaleIntensityFixedMeand,
            RandSimulateLowResolutiond,
        )

        self.patch_size = (int(patch_size[0]), int(patch_size[1]))
        # a rotated square needs sqrt(2) times its side of content; scaling down by 0.7 needs 1/0.7 (about 1.43)
        self.context = (math.ceil(self.patch_size[0] * 1.45), math.ceil(self.patch_size[1] * 1.45))
        self.spatial = Compose([
            RandAffined(keys=["image", "label", "weight"], prob=0.2 if rotate else 0.0,
                        rotate_range=(math.pi,), scale_range=(0.3, 0.3), spatial_size=self.patch_size,
                        mode=("bilinear", "nearest", "nearest"), padding_mode=("border", "zeros", "border"),
                        allow_missing_keys=True),
            RandFlipd(keys=["image", "label", "weight"], prob=0.5, spatial_axis=0, allow_missing_keys=True),
            RandFlipd(keys=["image", "label", "weight"], prob=0.5, spatial_axis=1, allow_missing_keys=True),
        ])
        self.intensity = Compose([
            RandGaussianNoised(keys="image", prob=0.1, mean=0.0, std=0.1),
            RandGaussianSmoothd(keys="image", prob=0.2, sigma_x=(0.5, 1.0), sigma_y=(0.5, 1.0)),
            RandScaleIntensityd(keys="image", prob=0.15, factors=0.25),
            RandScaleIntensityFixedMeand(keys="image", prob=0.15, factors=0.25, preserve_range=True),
            RandSimulateLowResolutiond(keys="image", prob=0.25, zoom_range=(0.5, 1.0), upsample_mode="bicubic"),
            RandAdjustContrastd(keys="image", prob=0.3, gamma=(0.7, 1.5), retain_stats=True),
        ])

    def __call__(
        self,
        image: np.ndarray,
        label: np.ndarray,
        weight: np.ndarray | None,
        rng: np.random.Generator,
        foreground_fraction: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """One augmented patch (see the class docstring for shapes)."""
        import torch

        seed = int(rng.integers(2**31 - 1))
        self.spatial.set_random_state(seed=seed)
        self.intensity.set_random_state(seed=seed + 1)
        # the context window around the sampled centre: the image padded by a margin on every side (edge values;
        # the label with background) so that a centre near the border stays at the window's centre, where
        # RandAffined then cuts the patch
        my, mx = (self.context[0] - self.patch_size[0]) // 2 + 1, (self.context[1] - self.patch_size[1]) // 2 + 1
        c = image.shape[0]
        stack = image if weight is None else np.concatenate([image, weight[None].astype(image.dtype)], axis=0)
        stack = np.pad(stack, ((0, 0), (my, my), (mx, mx)), mode="edge")
        window, lab_window = random_crop(stack, np.pad(label, ((my, my), (mx, mx))), self.context, rng,
                                         foreground_fraction)
        data = {"image": torch.from_numpy(np.ascontiguousarray(window[:c])),
                "label": torch.from_numpy(lab_window[None].astype(np.float32))}
        if weight is not None:
            data["weight"] = torch.from_numpy(np.ascontiguousarray(window[c:]))
        out = self.intensity(self.spatial(data))
        img = np.asarray(out["image"], dtype=np.float32)
        lab_out = np.rint(np.asarray(out["label"])[0]).astype(np.int64)
        w_out = None if weight is None else np.asarray(out["weight"], dtype=np.float32)[0]
        return np.ascontiguousarray(img), np.ascontiguousarray(lab_out), w_out
