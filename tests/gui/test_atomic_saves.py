"""The viewer's own files survive a full disk: the label table sidecar and the case-status file are written
atomically, so a failed save leaves the previous file whole (and no stray temporary file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from akmamba.io import Image, write_image

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]

# In a child process (the file-size limit is per process): save once, then save again with a changed label table
# and case status while files may not grow past the size of the label PNG, as on a disk that is full.
CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pathlib import Path
    from app.cases import CORRECTED, IN_PROGRESS, CaseList
    from app.recovery import JournalStore
    from app.session import Session, load_case

    image = Path(sys.argv[1])
    session = Session(JournalStore(enabled=False))
    session.set_case(load_case(image))
    session.label_map.paint_disc((10, 10), 3, 1)
    session.save()
    cases = CaseList(image.parent)
    cases.set_status(image, IN_PROGRESS)
    session.label_rows = [{**row, "name": row["name"] + "_renamed" * 20} for row in session.label_rows]
    limit = (image.parent / (image.stem + "_labels.png")).stat().st_size + 16  # the label PNG still fits
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    failures = []
    for what, call in (("labels", session.save), ("status", lambda: cases.set_status(image, CORRECTED))):
        try:
            call()
        except OSError as exc:
            failures.append(what)
    print(json.dumps(failures))
    """
)


def test_a_full_disk_leaves_the_previous_sidecar_and_status_whole(tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    folder.mkdir()
    image = folder / f"case01_{'long_name_' * 16}.png"  # a status file longer than the label PNG
    write_image(Image(np.tile(np.arange(40, dtype=np.uint8), (30, 1)), "2d"), image)
    # The limit lets the small label PNG through but not the longer label table or status file.
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(image)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == ["labels", "status"]  # both saves reported the failure
    sidecar = json.loads((folder / f"{image.stem}_labels.json").read_text(encoding="utf-8"))  # still whole: the old one
    assert [row["name"] for row in sidecar["label_table"]][:2] == ["background", "label 1"]
    status = json.loads((folder / "akmamba_cases.json").read_text(encoding="utf-8"))
    assert status == {"status": {image.name: "in progress"}}
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []  # no stray temporary file
