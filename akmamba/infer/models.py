"""Shipped (installed) models, addressed by name: the file stem of a ``.safetensors`` checkpoint.

Folders searched, first match wins:

1. a folder passed by the caller (``models_dir=``, ``--models-dir``);
2. ``$AKMAMBA_MODELS_DIR`` when set (an optional override, meant for tests and shared installs);
3. ``akmamba/resources/models`` (the models shipped inside the package, wheel installs included);
4. the user's models folder, ``<user data dir>/models`` (:func:`akmamba.paths.user_models_dir`, e.g.
   ``~/.local/share/akmamba/models`` on Linux).

A checkpoint ``akmamba/resources/models/akmamba-drive.safetensors`` is the model ``akmamba-drive``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from akmamba.errors import AkmambaError, CheckpointError
from akmamba.paths import resources_dir, user_models_dir
from akmamba.registry import suggest

log = logging.getLogger(__name__)

SUFFIX = ".safetensors"
ENV_VAR = "AKMAMBA_MODELS_DIR"


@dataclass(frozen=True)
class ModelEntry:
    """One installed checkpoint.

    Attributes:
        name: the file stem, e.g. ``"akmamba-drive"``.
        path: the ``.safetensors`` file.
        summary: ``architecture``, ``in_channels``, ``modality``, ``version``, ``labels``, ``dataset``,
            ``created``, ``size_mb`` from its metadata (read without loading the weights); empty when unreadable.
        error: why the metadata could not be read, else None.
    """

    name: str
    path: Path
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def default_model_dirs(models_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for named models, in order (see the module docstring).

    Args:
        models_dir: an extra folder searched first.
    """
    dirs = [Path(models_dir)] if models_dir is not None else []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    dirs += [resources_dir() / "models", user_models_dir()]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def list_shipped_models(
    models_dir: str | os.PathLike[str] | None = None, *, dirs: Sequence[str | os.PathLike[str]] | None = None
) -> list[ModelEntry]:
    """Every installed checkpoint, one entry per name (the first folder holding a name wins).

    Args:
        models_dir: an extra folder searched first.
        dirs: search exactly these folders instead of :func:`default_model_dirs`.

    Returns:
        Entries sorted by name. A file whose metadata cannot be read is listed with ``error`` set.
    """
    folders = [Path(d) for d in dirs] if dirs is not None else default_model_dirs(models_dir)
    entries: dict[str, ModelEntry] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            if name in entries:
                log.info("model %s in %s is shadowed by %s", name, path, entries[name].path)
                continue
            entries[name] = _entry(name, path)
    return [entries[k] for k in sorted(entries)]


def _entry(name: str, path: Path) -> ModelEntry:
    from akmamba.nn.checkpoint import read_metadata

    try:
        meta = read_metadata(path)
    except AkmambaError as exc:
        return ModelEntry(name, path, {}, exc.message)
    labels = [row.get("name") for row in meta.get("label_table") or [] if row.get("index", 0) != 0]
    summary = {
        "architecture": (meta.get("model") or {}).get("name"),
        "in_channels": (meta.get("model") or {}).get("in_channels"),
        "modality": meta.get("modality"),
        "version": meta.get("version"),
        "labels": labels,
        "dataset": meta.get("dataset"),
        "created": meta.get("created"),
        "size_mb": round(path.stat().st_size / 1e6, 2),
        **card_summary(meta.get("model_card")),
    }
    return ModelEntry(name, path, summary)


def card_summary(card: Any) -> dict[str, str]:
    """The model card's validation figures and limits in one line each (empty for a checkpoint without a card).

    ``validation``: e.g. ``"Dice vessel 80.1 ± 2.5 (per_image_mean, 5 folds)"``, from the card's
    ``validation.<label>.dice_mean`` / ``dice_sd`` / ``kind`` / ``folds``; ``vs_nnunet``: the card's ``anchor``
    (the recipe's folds against nnU-Net's, experiments/anchor_table.py) as its per-fold differences; ``limits``: the
    card's text as is.
    """
    if not isinstance(card, dict):
        return {}
    out: dict[str, str] = {}
    figures = []
    for label, v in (card.get("validation") or {}).items():
        if isinstance(v, dict) and isinstance(v.get("dice_mean"), (int, float)):
            sd = v.get("dice_sd")
            spread = f" ± {100 * sd:.1f}" if isinstance(sd, (int, float)) else ""
            how = f"({v.get('kind', '?')}, {v.get('folds', '?')} folds)"
            figures.append(f"{label} {100 * v['dice_mean']:.1f}{spread} {how}")
    if figures:
        out["validation"] = "Dice " + "; ".join(figures)
    anchor = card.get("anchor")
    if isinstance(anchor, dict) and anchor.get("folds"):
        diffs = ", ".join(f"{f['difference']:+.1f}" for f in anchor["folds"] if isinstance(f, dict))
        time = "equal GPU time" if anchor.get("equal_gpu_time") else "not at equal GPU time"
        what = anchor.get("what", "mean of wall and tumour per-case Dice")
        out["vs_nnunet"] = (f"this recipe minus {anchor.get('anchor', 'nnU-Net')}, {what} by fold: {diffs} "
                            f"(mean {anchor.get('mean_difference', 0):+.1f}; {time})")
    if card.get("limits"):
        out["limits"] = str(card["limits"])
    return out


def resolve_model(
    name_or_path: str | os.PathLike[str],
    models_dir: str | os.PathLike[str] | None = None,
    *,
    dirs: Sequence[str | os.PathLike[str]] | None = None,
) -> Path:
    """The checkpoint file for a path or an installed model name.

    Args:
        name_or_path: an existing file, or a name from :func:`list_shipped_models` (``.safetensors`` optional).
        models_dir: an extra folder searched first.
        dirs: search exactly these folders instead of :func:`default_model_dirs`.

    Returns:
        The path of the checkpoint.

    Raises:
        CheckpointError: a path that does not exist, or an unknown name (the message lists the installed names
            with a did-you-mean guess, or says that none is installed and where it looked).
    """
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.is_file():
        return path
    looks_like_path = os.sep in text or "/" in text or text.endswith(SUFFIX)
    if looks_like_path and os.path.lexists(path):  # a folder, FIFO or broken link: say so, not "does not exist"
        from akmamba.io.validate import check_input_file

        check_input_file(path, "Checkpoint", CheckpointError, parameter="model")
    if os.sep in text or "/" in text:
        raise CheckpointError(f"Checkpoint {text!r} does not exist. Check the path, or pass an installed model "
                              "name (see `akmamba models`).", path=text, expected="an existing file", got=text)
    name = text[: -len(SUFFIX)] if text.endswith(SUFFIX) else text
    folders = [Path(d) for d in dirs] if dirs is not None else default_model_dirs(models_dir)
    entries = list_shipped_models(dirs=folders)
    for entry in entries:
        if entry.name == name:
            return entry.path
    names = [e.name for e in entries]
    where = ", ".join(repr(str(f)) for f in folders)
    if not names:
        raise CheckpointError(
            f"Model {name!r} is neither a checkpoint file nor an installed model: no models are installed "
            f"(searched {where}). Pass a .safetensors path, or copy a checkpoint into one of those folders.",
            parameter="model", expected="an installed model name or a checkpoint path", got=name,
        )
    raise CheckpointError(
        f"Model {name!r} is neither a checkpoint file nor an installed model.{suggest(name, names)} "
        f"Installed: {', '.join(names)}. Pass one of them or a .safetensors path.",
        parameter="model", expected=names, got=name,
    )
