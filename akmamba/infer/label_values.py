"""Which numbers a written label map holds: class indices (0, 1, 2, ...) or the training data's file values.

A checkpoint records the label table of its training data (``value_in_file`` -> ``index``, e.g. the bladder data's
0 / 128 / 255 for background / wall / tumour). ``akmamba predict --label-values file`` writes those values, so a
prediction has the same coding as the user's own label files; ``akmamba evaluate`` reads the mode back from the
prediction folder's ``model.json`` and maps the values to indices again. This module needs no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from akmamba.errors import ConfigError

#: ``--label-values`` choices: ``index`` (class indices, the default) or ``file`` (the label table's file values).
LABEL_VALUE_MODES = ("index", "file")


def check_label_values(mode: str) -> str:
    """``mode`` if it is one of :data:`LABEL_VALUE_MODES`.

    Raises:
        ConfigError: any other value, naming the choices.
    """
    if mode not in LABEL_VALUE_MODES:
        raise ConfigError(f"--label-values {mode!r} is not known: expected 'index' (class indices 0, 1, 2, ...) or "
                          "'file' (the values of the model's training label files).", parameter="label_values",
                          expected=list(LABEL_VALUE_MODES), got=mode)
    return mode


def _rows(table: Sequence[Mapping[str, Any]], num_classes: int, what: str) -> dict[int, int]:
    """``{index: value_in_file}`` of a recorded label table covering every class ``0 .. num_classes - 1``."""
    if not table:
        raise ConfigError(f"{what} records no label table, so its file values are not known. Use --label-values "
                          "index (class indices).", parameter="label_values", expected="a label table", got=None)
    values: dict[int, int] = {}
    for row in table:
        if "value_in_file" not in row:  # a table kept for display only (name, index, colour): no value to give
            continue
        try:
            values[int(row["index"])] = int(row["value_in_file"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{what} has a label-table row without integer 'index' and 'value_in_file': {row!r}.",
                              parameter="label_table", expected="{'index': int, 'value_in_file': int}",
                              got=row) from exc
    missing = [k for k in range(num_classes) if k not in values]
    if missing or not values:
        which = f"class(es) {missing} of its {num_classes}" if missing else "any class"
        raise ConfigError(f"{what}'s label table has no file value for {which}: it does not record the training "
                          "data's label values. Use class indices (--label-values index).",
                          parameter="label_table", expected=list(range(num_classes)), got=sorted(values))
    if len(set(values.values())) != len(values):
        raise ConfigError(f"{what}'s label table gives two classes the same file value: {values}.",
                          parameter="label_table", expected="distinct values", got=values)
    return values


def index_to_file_values(table: Sequence[Mapping[str, Any]], num_classes: int, what: str = "The model") -> np.ndarray:
    """Look-up table ``lut`` with ``lut[index] = value_in_file`` for indices ``0 .. num_classes - 1``.

    Args:
        table: the checkpoint's ``label_table`` rows (``index``, ``value_in_file``, ...).
        num_classes: K, the model's output classes.
        what: names the model in messages.

    Returns:
        ``(K,)`` uint8 when every value fits 0..255 (what a PNG label map can hold), else uint16 or int32.

    Raises:
        ConfigError: no table, a class without a value, two classes with one value.
    """
    values = _rows(table, num_classes, what)
    lut = np.array([values[k] for k in range(num_classes)], dtype=np.int64)
    for dtype in (np.uint8, np.uint16, np.int32):
        info = np.iinfo(dtype)
        if lut.min() >= info.min and lut.max() <= info.max:
            return lut.astype(dtype)
    raise ConfigError(f"{what}'s label table has file values {lut.tolist()} outside the int32 range.",
                      parameter="label_table", got=lut.tolist())


def file_values_to_indices(array: np.ndarray, table: Sequence[Mapping[str, Any]], path: str) -> np.ndarray:
    """Class indices of a label map written with ``--label-values file`` (through
    :func:`akmamba.io.labels.to_class_indices`, as the viewer and a dataset's label files are read).

    Args:
        array: the stored map, any shape.
        table: the label table recorded beside it (``model.json``).
        path: the file, named in messages.

    Raises:
        ConfigError: no table, or values the table does not hold.
    """
    from akmamba.io.labels import to_class_indices

    values = _rows(table, 0, f"The model.json beside {path!r}")
    return to_class_indices(array, [{"index": k, "value_in_file": v} for k, v in values.items()], path, "file")
