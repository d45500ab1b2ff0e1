"""The training batches of ``akmamba prompt-train`` as one endless, seekable stream, so a resumed run draws exactly
the batches an uninterrupted one would have drawn next.

The stream is cut into epochs of ``epoch_len`` items (one pass over the :class:`~akmamba.data.dataset.PatchDataset`
cycle, oversampled images included). Epoch ``e`` visits its items in the order of a permutation drawn from a
generator seeded with ``(seed, e)``; item ``i`` of epoch ``e`` is the patch :class:`PatchDataset` cuts for
``(seed, e, i)``. So batch ``k`` depends on ``(seed, k)`` only, and a run resumed at step ``k`` starts the sampler
there, without loading the skipped batches. The DataLoader keeps one iterator (its workers) for the whole session.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, Sampler

from akmamba.data.dataset import PatchDataset


class EpochItems(Dataset):
    """``dataset`` addressed by stream position: index ``e * len(dataset) + i`` is item ``i`` of epoch ``e``.

    Sets the dataset's epoch before each item (each DataLoader worker holds its own copy, so this is safe with
    ``num_workers`` > 0).
    """

    def __init__(self, dataset: PatchDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        """Image ``(C, h, w)`` float32 and label ``(h, w)`` int64 (see :meth:`PatchDataset.__getitem__`)."""
        epoch, item = divmod(int(index), len(self.dataset))
        self.dataset.set_epoch(epoch)
        return self.dataset[item]


class StepSampler(Sampler[int]):
    """Stream indices (for :class:`EpochItems`) of the batches of steps ``start`` .. ``stop - 1``.

    Args:
        epoch_len: items per epoch (``len(dataset)``).
        batch_size: items per step.
        seed: seeds each epoch's permutation (with the epoch index).
        start: the first step to draw (the step a resumed run continues from).
        stop: the step to stop before.
    """

    def __init__(self, epoch_len: int, batch_size: int, seed: int, start: int, stop: int) -> None:
        self.epoch_len, self.batch_size, self.seed = int(epoch_len), int(batch_size), int(seed)
        self.start, self.stop = int(start), max(int(start), int(stop))

    def __len__(self) -> int:
        return (self.stop - self.start) * self.batch_size

    def permutation(self, epoch: int) -> torch.Tensor:
        """``(epoch_len,)`` int64: the order epoch ``epoch`` visits its items in."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch * 1009)
        return torch.randperm(self.epoch_len, generator=gen)

    def __iter__(self) -> Iterator[int]:
        epoch, perm = -1, torch.empty(0, dtype=torch.int64)
        for pos in range(self.start * self.batch_size, self.stop * self.batch_size):
            e, j = divmod(pos, self.epoch_len)
            if e != epoch:
                epoch, perm = e, self.permutation(e)
            yield e * self.epoch_len + int(perm[j])
