"""Resume state: optimiser tensors in safetensors plus a JSON record (nothing is pickled)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from akmamba.errors import CheckpointError
from akmamba.io.atomic import atomic_write


def save_optimizer(optimizer: torch.optim.Optimizer, path: Path, record: dict[str, Any]) -> None:
    """Write the optimiser's tensors to ``path`` (.safetensors) and ``record`` + param groups to ``path.json``."""
    sd = optimizer.state_dict()
    tensors = {
        f"{pid}.{key}": value.detach().cpu().contiguous()
        for pid, st in sd["state"].items()
        for key, value in st.items()
        if isinstance(value, torch.Tensor)
    }
    scalars = {
        f"{pid}.{key}": value for pid, st in sd["state"].items() for key, value in st.items()
        if not isinstance(value, torch.Tensor)
    }
    meta = {"record": record, "param_groups": sd["param_groups"], "scalars": scalars}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))
    json_path = path.with_suffix(".json")
    atomic_write(json_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8"))


def load_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> dict[str, Any]:
    """Restore an optimiser saved by :func:`save_optimizer`; returns the saved record."""
    json_path = path.with_suffix(".json")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        tensors = load_file(str(path))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"Cannot read resume state {str(path)!r}: {exc}. Start without --resume.",
                              path=str(path)) from exc
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    for name, value in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return dict(meta["record"])
