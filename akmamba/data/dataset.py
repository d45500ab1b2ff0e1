"""A torch Dataset of (image, label) patches built from :mod:`akmamba.io` samples."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from akmamba.data.augment import AUGMENTATIONS
from akmamba.data.normalize import normalise, to_channels_first
from akmamba.data.transforms import random_crop, random_flip_rotate, random_intensity
from akmamba.errors import ConfigError, ShapeError
from akmamba.io.dataset import DatasetDescription, Sample, load_sample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedSample:
    """One 2-D training case in memory: normalised image ``(C, H, W)``, labels ``(H, W)``, FOV ``(H, W)``, and an
    optional per-pixel loss weight ``(H, W)`` float32 (fine-tuning on corrections; None: every pixel weighs 1)."""

    image: np.ndarray
    label: np.ndarray
    fov: np.ndarray | None
    case_id: str
    name: str
    weight: np.ndarray | None = None


def load_samples(
    samples: Sequence[Sample], desc: DatasetDescription, in_channels: int, normalisation: str = "zscore"
) -> list[LoadedSample]:
    """Read, check and normalise labelled 2-D samples (volumes are not training inputs yet).

    Raises:
        ShapeError: a sample has no label or is a volume.
        VolumeReadError, GeometryMismatchError, ConfigError: from :func:`akmamba.io.dataset.load_sample`.
    """
    out = []
    for s in samples:
        image, label, fov = load_sample(s, desc)
        if label is None:
            raise ShapeError(f"Training sample {str(s.image)!r} has no label file.", path=str(s.image),
                             expected="a label file", got=None)
        if image.is_volume:
            raise ShapeError(f"Training uses 2-D images; {str(s.image)!r} is a volume of shape "
                             f"{image.array.shape}.", path=str(s.image), expected="2-D image", got=image.array.shape)
        x = normalise(to_channels_first(image.array, in_channels, path=str(s.image)), normalisation)
        out.append(LoadedSample(x, np.ascontiguousarray(label, dtype=np.int64), fov, s.case_id, s.image.stem))
    return out


def class_repeats(samples: Sequence[LoadedSample], class_index: int, factor: int) -> list[int]:
    """Slice-level oversampling: ``factor`` for each sample whose label holds ``class_index``, 1 for the rest.

    Passed to :class:`PatchDataset` as ``repeats``, a sample holding the class is drawn ``factor`` times as often
    as one without it (e.g. bladder slices with tumour, class 2).

    Raises:
        ConfigError: ``factor`` < 1 or ``class_index`` < 1 (background cannot be oversampled).
    """
    if factor < 1 or class_index < 1:
        raise ConfigError(f"Oversampling needs a foreground class >= 1 and a factor >= 1; got class {class_index}, "
                          f"factor {factor}.", parameter="oversample_factor", expected=">= 1",
                          got=(class_index, factor))
    return [factor if bool((s.label == class_index).any()) else 1 for s in samples]


class PatchDataset(Dataset):
    """Random augmented patches; item ``i`` of epoch ``e`` is reproducible from ``(seed, e, i)``.

    Which sample item ``i`` of epoch ``e`` comes from: the samples form a cycle (each listed ``repeats[k]`` times
    in a row, in the given order) and epoch ``e`` takes the ``length`` positions after the ``e * length`` taken
    by earlier epochs, wrapping around. So every sample is drawn, equally often up to one draw (or in proportion
    to ``repeats``), even when ``length`` is smaller than the cycle; when ``length`` is a multiple of the cycle
    (e.g. the default, one item per sample), item ``i`` is sample ``i mod len(samples)`` in every epoch.

    Args:
        samples: loaded cases.
        patch_size: (height, width), or None for whole images (they must share one size). A patch as large as
            the images (e.g. 512 x 512 bladder slices) is the whole image, with 90-degree rotations if square.
        length: items per epoch (default: one per sample).
        seed: base seed.
        augment: flips / 90-degree rotations / intensity jitter.
        foreground_fraction: share of patches centred on a labelled pixel.
        repeats: how many times each sample appears in the cycle (default: once each); see
            :func:`class_repeats`.
        augmentation: with ``augment``, ``basic`` (flips, 90-degree rotations, intensity jitter) or ``strong``
            (nnU-Net's augmentation from MONAI transforms: :class:`akmamba.data.augment.StrongAugment`).

    Items are ``(image, label)``; when any sample carries a ``weight`` map they are ``(image, label, weight)``
    (samples without one get ones), the weight cropped, flipped and rotated with the label. The random stream is
    the same either way, so adding weights does not change which patches are drawn.
    """

    def __init__(
        self,
        samples: Sequence[LoadedSample],
        patch_size: tuple[int, int] | None,
        length: int | None = None,
        seed: int = 0,
        augment: bool = True,
        foreground_fraction: float = 0.5,
        repeats: Sequence[int] | None = None,
        augmentation: str = "basic",
    ) -> None:
        self.samples = list(samples)
        if augmentation not in AUGMENTATIONS:
            raise ConfigError(f"Unknown augmentation {augmentation!r}; valid: {', '.join(AUGMENTATIONS)}.",
                              parameter="augmentation", expected=list(AUGMENTATIONS), got=augmentation)
        if repeats is None:
            repeats = [1] * len(self.samples)
        if len(repeats) != len(self.samples) or any(int(r) < 1 for r in repeats):
            raise ConfigError(f"repeats needs one integer >= 1 per sample ({len(self.samples)}); got {list(repeats)}.",
                              parameter="repeats", expected=f"{len(self.samples)} integers >= 1",
                              got=list(repeats))
        self.cycle = np.repeat(np.arange(len(self.samples)), [int(r) for r in repeats])
        self.patch_size = patch_size
        self.length = length or len(self.samples)
        self.seed = seed
        self.augment = augment
        self.foreground_fraction = foreground_fraction
        self.epoch = 0
        self.weighted = any(s.weight is not None for s in self.samples)
        if patch_size is None and len({s.label.shape for s in self.samples}) > 1:
            raise ShapeError(
                "Whole-image training needs images of one size; set patch_size.",
                parameter="patch_size", expected="images of one size", got=sorted({s.label.shape for s in samples}),
            )
        self.strong = None
        if augment and augmentation == "strong":
            from akmamba.data.augment import StrongAugment

            size = patch_size if patch_size is not None else self.samples[0].label.shape
            self.strong = StrongAugment((int(size[0]), int(size[1])))

    def set_epoch(self, epoch: int) -> None:
        """Change the random stream (call once per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def sample_index(self, index: int) -> int:
        """The sample that item ``index`` of the current epoch is cut from (see the class docstring)."""
        return int(self.cycle[(self.epoch * self.length + index) % self.cycle.size])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        """Returns image ``(C, h, w)`` float32, label ``(h, w)`` int64 and, for weighted sets, weight ``(h, w)``."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        s = self.samples[self.sample_index(index)]
        if self.strong is not None:
            weight = s.weight if s.weight is not None or not self.weighted else np.ones(s.label.shape, np.float32)
            img, lab, w = self.strong(s.image, s.label, weight, rng, self.foreground_fraction)
            strong_out = (torch.from_numpy(img), torch.from_numpy(lab))
            return strong_out if w is None else (*strong_out, torch.from_numpy(w))
        image, label = s.image, s.label
        if self.weighted:  # the weight rides along as an extra image channel through crops, flips and rotations
            weight = s.weight if s.weight is not None else np.ones(label.shape, np.float32)
            image = np.concatenate([image, weight[None].astype(image.dtype)], axis=0)
        if self.patch_size is not None:
            image, label = random_crop(image, label, self.patch_size, rng, self.foreground_fraction)
        if self.augment:
            image, label = random_flip_rotate(image, label, rng, rotate=self.patch_size is not None)
        weight_patch = None
        if self.weighted:
            image, weight_patch = image[:-1], image[-1]
        if self.augment:
            image = random_intensity(image, rng)
        out = (torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(np.ascontiguousarray(label)))
        if weight_patch is not None:
            return (*out, torch.from_numpy(np.ascontiguousarray(weight_patch, dtype=np.float32)))
        return out
