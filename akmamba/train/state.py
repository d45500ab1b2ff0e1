"""Resume state: optimiser tensors and random generator states in safetensors plus JSON records (nothing is
pickled), and the check that a run folder is new or resumed with its own settings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from akmamba.errors import CheckpointError, ConfigError
from akmamba.io.atomic import atomic_write

#: Files whose presence marks a folder as holding a run (``check_run_folder``).
RUN_FILES = ("best.safetensors", "last.safetensors", "config.json", "events.jsonl")


def check_run_folder(out: Path, resume: bool, config: Mapping[str, Any], fixed: Sequence[str], continue_hint: str,
                     resume_hint: str) -> None:
    """Refuse a run folder that already holds a run unless resuming it (user data is never replaced), and a resume
    whose settings named in ``fixed`` differ from the run's ``out/config.json``.

    Args:
        out: the run folder.
        resume: the run is to be continued.
        config: this run's settings (JSON-ready, as written to ``config.json``).
        fixed: the settings a resumed run must keep.
        continue_hint: how to continue the run (e.g. "`akmamba train --resume RUN`"), for the message.
        resume_hint: how to resume with the run's own settings, for the message.

    Raises:
        ConfigError: naming the folder and the files it holds, or the changed settings (before -> now).
    """
    held = [n for n in RUN_FILES if (out / n).exists()]
    if held and not resume:
        raise ConfigError(f"The run folder {str(out)!r} already holds a run ({', '.join(held)}); training into it "
                          f"would replace that run's checkpoints. Continue it with {continue_hint}, or give a new "
                          "--out folder.", path=str(out), parameter="out_dir",
                          expected="a new or empty folder (or --resume)", got=held)
    if resume and (out / "config.json").is_file():
        try:
            before = json.loads((out / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        changed = [k for k in fixed if k in before and before[k] != config.get(k)]
        if changed:
            raise ConfigError(f"Cannot resume {str(out)!r} with other settings than it was started with: "
                              + ", ".join(f"{k} {before[k]!r} -> {config.get(k)!r}" for k in changed)
                              + f". Resume with {resume_hint}, or start a new run.", path=str(out),
                              parameter=changed[0], expected=before[changed[0]], got=config.get(changed[0]))


def save_rng(path: Path, generators: Mapping[str, np.random.RandomState], record: dict[str, Any]) -> None:
    """Write torch's CPU generator state (and each initialised CUDA device's) and the states of ``generators``
    (numpy ``RandomState``, e.g. MONAI's ``Randomizable.R``) to ``path`` (.safetensors), with ``record`` and the
    generators' scalar fields in ``path.json``."""
    tensors = {"torch.cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors.update({f"torch.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    scalars = {}
    for name, gen in generators.items():
        kind, key, pos, has_gauss, cached = gen.get_state(legacy=True)  # type: ignore[misc]
        tensors[f"numpy.{name}"] = torch.from_numpy(np.asarray(key, dtype=np.int64))
        scalars[name] = {"kind": str(kind), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}
    meta = {"record": record, "numpy": scalars}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))
    json_path = path.with_suffix(".json")
    atomic_write(json_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8"))


def load_rng(path: Path, generators: Mapping[str, np.random.RandomState]) -> dict[str, Any]:
    """Restore the states written by :func:`save_rng` into torch and ``generators``; returns the saved record.

    CUDA states are restored where this machine has as many CUDA devices as the saving one (a run saved on a GPU
    and resumed on the CPU keeps its CPU and numpy streams).

    Raises:
        CheckpointError: unreadable files, or a generator missing from them.
    """
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        tensors = load_file(str(path))
        torch.set_rng_state(tensors["torch.cpu"])
        for name, gen in generators.items():
            s = meta["numpy"][name]
            key = tensors[f"numpy.{name}"].numpy().astype(np.uint32)
            gen.set_state((s["kind"], key, s["pos"], s["has_gauss"], s["cached"]))
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"Cannot read the random generator state {str(path)!r}: {exc!r}. The run folder is "
                              "incomplete; start a new run into a new --out folder.", path=str(path)) from exc
    cuda = [tensors[f"torch.cuda.{i}"] for i in range(sum(k.startswith("torch.cuda.") for k in tensors))]
    if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(cuda)
    return dict(meta["record"])


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
