"""Building the `akmamba` parser (done for every command, `akmamba models` and `versions` included) loads no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_building_the_cli_parser_imports_no_torch() -> None:
    code = ("import sys; from akmamba.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'monai', 'numba') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"  # prompt-train's flags live in a torch-free module (akmamba.prompt.train_cli)
