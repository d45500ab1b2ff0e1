"""Self-describing checkpoints: one ``.safetensors`` file holding the weights and a JSON metadata record.

The metadata (stored in the safetensors header under the key ``"akmamba"``) carries ``format_version``, the model
``name``, ``in_channels``, ``num_classes`` and ``options`` (enough to rebuild the network through the registry),
a SHA-256 of the weights, and any extra fields the caller adds (label table, normalisation, training config,
metrics, version, parent). Loading never unpickles anything.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from akmamba import __version__
from akmamba.errors import CheckpointError, ConfigError
from akmamba.io.atomic import atomic_write
from akmamba.nn.build import build_model

FORMAT_VERSION = 1
_META_KEY = "akmamba"


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over tensor names, dtypes, shapes and bytes, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_checkpoint(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    metadata: dict[str, Any] | None = None,
    half: bool = False,
) -> dict[str, Any]:
    """Write ``model`` to ``path`` atomically (temporary file + rename), never overwriting a file half-way.

    Args:
        model: a network from :func:`akmamba.nn.build_model` (it carries ``akmamba_config``).
        path: destination ``.safetensors`` file.
        metadata: extra JSON-serialisable fields stored with the weights.
        half: store floating-point weights as float16 (half the size); they are cast back to float32 on load.

    Returns:
        The metadata record written.

    Raises:
        CheckpointError: the model was not built by ``build_model`` or the metadata is not JSON-serialisable.
    """
    config = getattr(model, "akmamba_config", None)
    if config is None:
        raise CheckpointError(
            f"Cannot save {type(model).__name__}: it has no akmamba_config. Build it with akmamba.nn.build_model.",
            path=str(path),
        )
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    record = {
        **(metadata or {}),
        "format_version": FORMAT_VERSION,
        "model": config,
        "weights_sha256": weights_sha256(state),
        "akmamba_version": __version__,
        "created": (metadata or {}).get("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")),
    }
    try:
        header = {_META_KEY: json.dumps(record, sort_keys=True)}
    except TypeError as exc:
        raise CheckpointError(f"Checkpoint metadata is not JSON-serialisable: {exc}", path=str(path)) from exc
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, lambda tmp: save_file(state, str(tmp), metadata=header))
    return record


#: Types of the metadata fields the code relies on (:func:`read_metadata` checks them; other fields are free).
METADATA_TYPES: dict[str, Any] = {
    "format_version": int,
    "model": dict[str, Any],
    "weights_sha256": str,
    "label_table": list[dict[str, Any]] | None,
    "normalisation": str | None,
    "name": str | None,
    "modality": str | None,
    "model_card": dict[str, Any] | None,
    "ema": dict[str, Any] | None,
}
#: Types of the ``model`` entry (what :func:`akmamba.nn.build_model` is called with).
MODEL_TYPES: dict[str, Any] = {"name": str, "in_channels": int, "num_classes": int, "options": dict[str, Any]}
#: Types of a ``label_table`` row's fields, where present.
LABEL_ROW_TYPES: dict[str, Any] = {"index": int, "name": str, "value_in_file": int | float}


def check_metadata(record: Any, path: str) -> dict[str, Any]:
    """Check the types of a checkpoint's metadata record (parsed JSON) and return it.

    Raises:
        CheckpointError: the record is not an object, or a field the code uses (``format_version``, ``model`` and
            its ``name`` / ``in_channels`` / ``num_classes`` / ``options``, ``label_table`` rows, ...) has the wrong
            type; the message names the file and the field.
    """
    from akmamba.schema import check_type, type_problem

    what = "The akmamba metadata of checkpoint"
    if not isinstance(record, dict):
        problem = type_problem(record, dict[str, Any])
        raise CheckpointError(f"{what} {path!r} must be a JSON object; {problem}. The file was not written by "
                              "akmamba.nn.save_checkpoint or was edited; use another checkpoint.", path=path,
                              expected="a JSON object", got=type(record).__name__)
    for key, hint in METADATA_TYPES.items():
        if key in record:
            check_type(record[key], hint, key=key, source=path, what=what, error=CheckpointError)
    for key, hint in MODEL_TYPES.items():
        if key not in record.get("model", {}) and key != "options":
            raise CheckpointError(f"{what} {path!r} has no model.{key}; it cannot be rebuilt. Use another "
                                  "checkpoint.", path=path, parameter=f"model.{key}", expected=key, got=None)
        if key in record.get("model", {}):
            check_type(record["model"][key], hint, key=f"model.{key}", source=path, what=what,
                       error=CheckpointError)
    for i, row in enumerate(record.get("label_table") or []):
        for key, hint in LABEL_ROW_TYPES.items():
            if key in row:
                check_type(row[key], hint, key=f"label_table[{i}].{key}", source=path, what=what,
                           error=CheckpointError)
    return record


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read only the metadata record of a checkpoint (no weights are loaded), with its types checked.

    Raises:
        CheckpointError: missing file or not a regular file, not a safetensors file, no akmamba metadata, or
            metadata of the wrong shape (:func:`check_metadata`).
    """
    from safetensors import safe_open

    from akmamba.io.validate import check_input_file

    p = check_input_file(path, "Checkpoint", CheckpointError)
    try:
        with safe_open(str(p), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{str(p)!r} is not a readable safetensors checkpoint ({exc}). It may be truncated or of another format.",
            path=str(p),
        ) from exc
    if _META_KEY not in header:
        raise CheckpointError(
            f"{str(p)!r} has no akmamba metadata; it was not written by akmamba.nn.save_checkpoint.", path=str(p)
        )
    try:
        record = json.loads(header[_META_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"The metadata of {str(p)!r} is not valid JSON ({exc}).", path=str(p)) from exc
    version = record.get("format_version") if isinstance(record, dict) else None
    if isinstance(record, dict) and version != FORMAT_VERSION:
        raise CheckpointError(
            f"{str(p)!r} has checkpoint format {version!r}; this akmamba reads format {FORMAT_VERSION}. "
            "Upgrade akmamba or re-export the checkpoint.",
            path=str(p), expected=FORMAT_VERSION, got=version,
        )
    return check_metadata(record, str(p))


def load_checkpoint(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu", **override_options: Any
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a network from a checkpoint, verify its weights, and load them.

    Args:
        path: a file written by :func:`save_checkpoint`.
        device: where to put the model.
        **override_options: options that change how the model runs, not its weights (e.g. ``scan_backend``).

    Returns:
        ``(model, metadata)``; the model is in eval mode, float32.

    Raises:
        CheckpointError: unreadable file, checksum mismatch, or weights that do not fit the recorded model.
    """
    record = read_metadata(path)
    cfg = record.get("model") or {}
    try:
        options = {**cfg.get("options", {}), **override_options}
        model = build_model(cfg["name"], cfg["in_channels"], cfg["num_classes"], guidance=cfg.get("guidance"),
                            **options)
    except (KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"The model recorded in {str(path)!r} cannot be rebuilt: {exc}", path=str(path)) from exc
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"The weights of {str(path)!r} cannot be read ({exc}). The file is truncated or damaged; use another "
            "copy of the model.",
            path=str(path),
        ) from exc
    digest = weights_sha256(state)
    if digest != record.get("weights_sha256"):
        raise CheckpointError(
            f"Weights of {str(path)!r} do not match their recorded SHA-256 (got {digest[:12]}..., expected "
            f"{str(record.get('weights_sha256'))[:12]}...). The file is corrupt or was modified.",
            path=str(path), expected=record.get("weights_sha256"), got=digest,
        )
    expected = model.state_dict()
    problems = _state_problems(expected, state)
    if problems:
        raise CheckpointError(
            f"Weights of {str(path)!r} do not fit model {cfg['name']!r}: {'; '.join(problems[:5])}.",
            path=str(path),
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    return model.to(device).eval(), record


def verify_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check that a checkpoint is usable as it is: readable metadata, weights matching their recorded
    ``weights_sha256``, and weights that fit the recorded model (it is rebuilt and loaded on the CPU).

    Returns:
        The metadata record.

    Raises:
        CheckpointError: naming the file and what is wrong with it.
    """
    _, record = load_checkpoint(path, device="cpu")
    return record


def _state_problems(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> list[str]:
    problems = [f"missing {k}" for k in expected if k not in got]
    problems += [f"unexpected {k}" for k in got if k not in expected]
    problems += [
        f"{k} has shape {tuple(got[k].shape)}, expected {tuple(v.shape)}"
        for k, v in expected.items()
        if k in got and got[k].shape != v.shape
    ]
    return problems
