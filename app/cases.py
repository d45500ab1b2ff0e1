"""A folder opened as a case list, with a review status per case kept in ``akmamba_cases.json`` in that folder
(Qt-free; the cases panel shows it). A data set folder as distributed (DRIVE's ``training/``, the bladder
``Images``/``Labels`` pair, nnU-Net's ``imagesTr``/``labelsTr``: :mod:`akmamba.io.layouts`) lists its images, each
paired with its label and FOV files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from akmamba.annotations.case_status import (  # noqa: F401 - the status names are part of this module's API
    CORRECTED,
    FLAGGED,
    IN_PROGRESS,
    NOT_STARTED,
    STATUS_FILE,
    STATUSES,
    read_case_status,
)
from akmamba.io import atomic_write_text, supported_suffixes
from akmamba.io.dataset import DatasetDescription, Sample
from akmamba.io.labels import LABEL_SUFFIX
from akmamba.io.layouts import DatasetFolder, detect_dataset_folder
from akmamba.io.readers import file_suffix


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def discover_cases(folder: Path) -> list[Path]:
    """Image files in ``folder`` that akmamba.io reads, without label maps (``*_labels.*``), in natural order."""
    suffixes = set(supported_suffixes())
    found = []
    for path in folder.iterdir():
        if not path.is_file() or path.name.startswith("."):
            continue
        suffix = file_suffix(path)
        stem = path.name[: -len(suffix)] if suffix else path.name
        if suffix in suffixes and not stem.endswith(LABEL_SUFFIX):
            found.append(path)
    return sorted(found, key=_natural_key)


class CaseList:
    """The cases of one folder, a current index and their statuses.

    Args:
        folder: the folder; its images become cases.

    Attributes:
        problem: what was wrong with the folder's ``akmamba_cases.json`` (a message naming it, to show the user),
            or None; the valid statuses are kept and the file is not rewritten until a status is set.

    Raises:
        OSError: the folder cannot be listed.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.dataset: DatasetFolder | None = detect_dataset_folder(self.folder)
        if self.dataset is not None:
            self.paths = [s.image for s in self.dataset.samples]
        else:
            self.paths = discover_cases(self.folder)
        self.index = 0
        found = read_case_status(self.folder)
        self._status: dict[str, str] = dict(found.statuses)
        self.problem: str | None = found.problem

    def __len__(self) -> int:
        return len(self.paths)

    def status(self, path: Path) -> str:
        """The review status of a case (``"not started"`` by default)."""
        return self._status.get(path.name, NOT_STARTED)

    def set_status(self, path: Path, status: str) -> None:
        """Set and persist a case status.

        Raises:
            ValueError: unknown status.
            OSError: the status file cannot be written (the status is still kept for this session).
        """
        if status not in STATUSES:
            raise ValueError(f"Case status must be one of {', '.join(STATUSES)}; got {status!r}.")
        self._status[path.name] = status
        atomic_write_text(self.folder / STATUS_FILE, json.dumps({"status": self._status}, indent=1, sort_keys=True))

    def dataset_case(self, path: Path) -> tuple[DatasetDescription, Sample] | None:
        """The data set description and the paired files of an image of a recognised data set folder, or None."""
        if self.dataset is None:
            return None
        sample = self.dataset.sample_for(path)
        return None if sample is None else (self.dataset.description, sample)

    def index_of(self, path: Path) -> int:
        """Index of ``path`` in the list, or -1."""
        resolved = Path(path).resolve()
        for i, p in enumerate(self.paths):
            if p.resolve() == resolved:
                return i
        return -1

    def step(self, delta: int) -> Path | None:
        """Move the current index by ``delta`` (clamped) and return that case, or None when it did not move."""
        new = min(max(self.index + delta, 0), len(self.paths) - 1)
        if not self.paths or new == self.index:
            return None
        self.index = new
        return self.paths[new]
