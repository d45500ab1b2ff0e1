"""The review status of each case of a folder, kept in ``akmamba_cases.json`` there: its schema and its checks.

File format: ``{"status": {"<image file name>": "<status>", ...}}`` with a status from :data:`STATUSES`. Anything
else (not JSON, not an object, ``"status"`` not an object, a status that is not one of those) is reported by
:func:`read_case_status` as a problem naming the file, and the folder opens as if no status were recorded; the
file itself is left as it is until the user sets a status (stdlib only, no Qt).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from akmamba.errors import ConfigError

NOT_STARTED, IN_PROGRESS, CORRECTED, FLAGGED = "not started", "in progress", "corrected", "flagged"
STATUSES = (NOT_STARTED, IN_PROGRESS, CORRECTED, FLAGGED)
STATUS_FILE = "akmamba_cases.json"


@dataclass(frozen=True)
class CaseStatusFile:
    """What :func:`read_case_status` found.

    Attributes:
        statuses: ``{image file name: status}``, the valid entries only.
        problem: a message for the user when the file could not be used in full (it names the file, what was
            wrong and what happens now), else None.
    """

    statuses: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


def read_case_status(folder: str | os.PathLike[str]) -> CaseStatusFile:
    """Read and check ``folder/akmamba_cases.json`` (missing: no statuses, no problem).

    Never raises for the file's content: a damaged file gives its valid entries (none when its shape is wrong)
    and a ``problem`` to show.
    """
    from akmamba.schema import read_json_object, type_problem

    path = Path(folder) / STATUS_FILE
    if not os.path.lexists(path):
        return CaseStatusFile()
    keep = " The cases are shown as not started; the file is left as it is until you set a case status."
    try:
        data = read_json_object(path, "The case-status file", ConfigError)
    except ConfigError as exc:
        return CaseStatusFile({}, exc.message + keep)
    raw = data.get("status", {})
    if not isinstance(raw, dict):
        found = type_problem(raw, dict[str, str]) or ""
        found = found[found.find("found "):] if "found " in found else repr(raw)
        return CaseStatusFile({}, f"The case-status file {str(path)!r}: 'status' must be an object "
                                  f"{{\"image file name\": \"status\"}}; {found}.{keep}")
    good = {k: v for k, v in raw.items() if isinstance(k, str) and v in STATUSES}
    bad = [k for k in raw if k not in good]
    if not bad:
        return CaseStatusFile(good)
    shown = ", ".join(f"{k!r}: {raw[k]!r}" for k in bad[:3]) + (" ..." if len(bad) > 3 else "")
    return CaseStatusFile(good, f"The case-status file {str(path)!r} has {len(bad)} entries whose status is not "
                                f"one of {', '.join(STATUSES)} ({shown}); those cases are shown as not started. The "
                                "file is left as it is until you set a case status.")
