"""Fixtures of the unit tests: the experiment scripts (experiments/*.py, not a package) imported as modules."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="session")
def import_experiment() -> Callable[[str], ModuleType]:
    """``import_experiment("r5_record")``: that script of experiments/ as a module."""

    def load(name: str) -> ModuleType:
        sys.path.insert(0, str(EXPERIMENTS))
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(str(EXPERIMENTS))

    return load
