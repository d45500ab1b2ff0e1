"""Prompt-aware models: a plain architecture with guidance input channels, built fresh or from a plain checkpoint.

:func:`from_plain` widens a plain model's input convolutions with zero weights for the guidance channels, so the
new model segments exactly like the plain one until it is trained with prompts (with no prompt, always: the
guidance channels are then zero). The checkpoint records the layout as ``model.guidance`` and its origin as
``prompt_init`` (the plain checkpoint's name, version and SHA-256).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from akmamba.errors import CheckpointError, ConfigError
from akmamba.nn import build_model, load_checkpoint, save_checkpoint
from akmamba.nn.guided import widen_input_weights
from akmamba.prompt.layout import GuidanceLayout, layout_of


def label_names_of(metadata: dict[str, Any], num_classes: int) -> dict[int, str]:
    """``{index: name}`` of every class from a checkpoint's ``label_table`` (``label_<k>`` where unnamed)."""
    table = metadata.get("label_table") or []
    names = {int(r["index"]): str(r["name"]) for r in table if "index" in r and "name" in r}
    return {k: names.get(k, "background" if k == 0 else f"label_{k}") for k in range(num_classes)}


def from_plain(model: nn.Module, metadata: dict[str, Any], *, sigma: float = 3.0, guidance_scale: float = 0.0,
               seed: int = 0) -> nn.Module:
    """A prompt-aware copy of a plain model, with zero weights on the guidance channels (or random ones of
    ``guidance_scale`` times the image weights' spread, drawn with ``seed``:
    :func:`akmamba.nn.guided.widen_input_weights`); with no prompt it segments as the plain model either way.

    Args:
        model: a plain network built by :func:`akmamba.nn.build_model` (it carries ``akmamba_config``).
        metadata: its checkpoint metadata (for the label table: one positive, negative and box channel per
            foreground label).
        sigma: the click Gaussian's standard deviation in pixels.
        guidance_scale: 0 (zero guidance weights) or the random guidance weights' scale.
        seed: seeds the random guidance weights.

    Returns:
        The prompt-aware network, in eval mode, on the CPU.

    Raises:
        ConfigError: the model is already prompt-aware.
        CheckpointError: its weights do not widen (an architecture whose input layers are not convolutions).
    """
    cfg = dict(model.akmamba_config)  # type: ignore[arg-type]
    if cfg.get("guidance"):
        raise ConfigError("This model is already prompt-aware; start from a plain model.", parameter="model",
                          expected="a plain model", got="prompt-aware")
    layout = GuidanceLayout.for_labels(label_names_of(metadata, int(cfg["num_classes"])), sigma)
    guided = build_model(cfg["name"], int(cfg["in_channels"]), int(cfg["num_classes"]), guidance=layout.to_dict(),
                         **cfg["options"])
    state = widen_input_weights(model.state_dict(), guided.state_dict(), int(cfg["in_channels"]),
                                guidance_scale=guidance_scale, seed=seed)
    guided.load_state_dict(state, strict=True)
    return guided.eval()


def convert_checkpoint(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, sigma: float = 3.0,
                       name: str | None = None, guidance_scale: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """Write a prompt-aware checkpoint made from the plain checkpoint ``src`` (see :func:`from_plain`; its
    ``sigma``, ``guidance_scale`` and ``seed``).

    The metadata of ``src`` is kept (label table, normalisation, modality, ...), except its training record;
    ``name`` defaults to ``<src name>-prompt`` and ``prompt_init`` records where the weights came from.

    Returns:
        The metadata record written.

    Raises:
        ConfigError: ``dst`` is ``src``.
        CheckpointError: unreadable ``src`` or one that is already prompt-aware.
    """
    from akmamba.reports.report import sha256_file

    src_p, dst_p = Path(src), Path(dst)
    if dst_p.resolve() == src_p.resolve():
        raise ConfigError(f"The output {str(dst_p)!r} is the input checkpoint; choose another file.",
                          parameter="out", expected="a new file", got=str(dst_p))
    model, meta = load_checkpoint(src_p)
    if layout_of(meta, str(src_p)) is not None:
        raise CheckpointError(f"{str(src_p)!r} is already prompt-aware.", path=str(src_p))
    guided = from_plain(model, meta, sigma=sigma, guidance_scale=guidance_scale, seed=seed)
    keep = {k: v for k, v in meta.items()
            if k not in {"model", "weights_sha256", "format_version", "akmamba_version", "created", "metrics"}}
    base = str(meta.get("name") or src_p.stem)
    record = {**keep, "name": name or f"{base}-prompt",
              "prompt_init": {"from": base, "version": meta.get("version"), "sha256": sha256_file(src_p),
                              "how": "plain weights, zero weights on the guidance input channels" if not guidance_scale
                              else f"plain weights, random guidance weights (scale {guidance_scale}, seed {seed})"}}
    return save_checkpoint(guided, dst_p, metadata=record)
