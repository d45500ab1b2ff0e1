"""The library never imports Qt: import every akmamba module with PySide6 and pyqtgraph blocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_akmamba_module_imports_without_qt() -> None:
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("PySide6", "pyqtgraph", "app", "shiboken6"):
                    raise ImportError(f"blocked import of {name}")
                return None

        sys.meta_path.insert(0, Block())
        import akmamba
        names = [m.name for m in pkgutil.walk_packages(akmamba.__path__, "akmamba.") if not m.name.endswith("__main__")]
        optional = {"triton", "mamba_ssm", "selective_scan_cuda"}  # GPU extras, absent on CPU machines
        for name in names:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name.split(".")[0] not in optional:
                    raise
        print(len(names))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip().splitlines()[-1]) >= 10


def test_no_gui_import_statements_in_library() -> None:
    offenders = []
    for path in (ROOT / "akmamba").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            s = line.strip()
            if s.startswith(("import ", "from ")) and any(
                s.split()[1].split(".")[0] == mod for mod in ("PySide6", "pyqtgraph", "app")
            ):
                offenders.append(f"{path}: {s}")
    assert offenders == []
