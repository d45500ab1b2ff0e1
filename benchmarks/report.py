"""What the benchmark scripts do with a finished (or partial) markdown report: print it and write ``--out``.

    from report import publish
    publish(text, args.out)                 # print, then write OUT atomically (its folder made if missing)
    publish(text, args.out, echo=False)     # a partial report after every row: written, not printed
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from akmamba.io.atomic import atomic_write_text


def publish(text: str, out: Path | None, echo: bool = True) -> None:
    """Print ``text`` (when ``echo``) and write it to ``out`` (when given) atomically: a run killed mid-write, as
    a device call's time limit does, leaves the previous report whole rather than a truncated one."""
    if echo:
        print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text)
