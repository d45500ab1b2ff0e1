"""Patient-level k-fold splits: every slice of a case lands on the same side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from akmamba.errors import ConfigError

T = TypeVar("T")


def kfold_by_case(
    items: Sequence[T], case_ids: Sequence[str], folds: int, fold: int, seed: int = 0
) -> tuple[list[T], list[T]]:
    """Split ``items`` into (train, validation) for one fold, grouping by case id.

    Cases are shuffled with ``seed`` and dealt round-robin into ``folds`` groups; fold ``fold`` is validation.

    Args:
        items: anything (samples, paths).
        case_ids: the case (patient) of each item.
        folds: number of folds k >= 2 (<= number of cases).
        fold: which fold is validation, 0 <= fold < k.
        seed: shuffling seed.

    Raises:
        ConfigError: bad fold numbers or too few cases.
    """
    if len(items) != len(case_ids):
        raise ConfigError(
            f"kfold_by_case got {len(items)} items but {len(case_ids)} case ids.",
            parameter="case_ids", expected=len(items), got=len(case_ids),
        )
    cases = sorted(set(case_ids))
    if folds < 2 or folds > len(cases):
        raise ConfigError(
            f"folds must be between 2 and the number of cases ({len(cases)}); got {folds}.",
            parameter="folds", expected=f"2..{len(cases)}", got=folds,
        )
    if not 0 <= fold < folds:
        raise ConfigError(f"fold must be in 0..{folds - 1}; got {fold}.", parameter="fold",
                          expected=f"0..{folds - 1}", got=fold)
    order = np.random.default_rng(seed).permutation(len(cases))
    val_cases = {cases[i] for j, i in enumerate(order) if j % folds == fold}
    train = [it for it, c in zip(items, case_ids, strict=True) if c not in val_cases]
    val = [it for it, c in zip(items, case_ids, strict=True) if c in val_cases]
    return train, val
