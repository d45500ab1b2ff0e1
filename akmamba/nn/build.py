"""Model registry: ``build_model(name, in_channels, num_classes, **options)`` and ``list_models()``.

Builders are plain functions ``(in_channels, num_classes, *, option=default, ...) -> nn.Module`` registered with
``@MODELS.register(name)``. Every sizing decision lives in the builder's keyword arguments, never inside blocks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from akmamba.errors import ConfigError
from akmamba.registry import Registry, suggest

Builder = Callable[..., nn.Module]
MODELS: Registry[Builder] = Registry("model")


def list_models() -> list[str]:
    """Names of every registered architecture, in registration order."""
    _ensure_registered()
    return MODELS.names()


def model_options(name: str) -> dict[str, Any]:
    """The options a model accepts, with their defaults.

    Raises:
        ConfigError: unknown model name (with a did-you-mean guess).
    """
    _ensure_registered()
    sig = inspect.signature(MODELS.get(name))
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def build_model(
    name: str, in_channels: int, num_classes: int, *, guidance: dict[str, Any] | None = None, **options: Any
) -> nn.Module:
    """Build a registered segmentation network.

    Every network takes any H x W (it pads to the multiple it needs and crops back) and returns logits.

    Args:
        name: a name from :func:`list_models`, for example ``"akmamba"`` or ``"unet"``.
        in_channels: 1 (grey / MRI) or 3 (RGB fundus).
        num_classes: output channels including background (2 for vessels, 3 for bladder wall + tumour).
        guidance: for a prompt-aware model, its guidance layout (``{"channels": [...], ...}``, see
            :mod:`akmamba.prompt.layout`): the network then takes ``in_channels + len(channels)`` inputs and is
            wrapped in :class:`akmamba.nn.guided.GuidedInput` (an image without guidance means "no prompt").
        **options: architecture options of that model (see :func:`model_options`).

    Returns:
        An ``nn.Module`` mapping ``(B, in_channels, H, W)`` to logits ``(B, num_classes, H, W)``. Its attribute
        ``akmamba_config`` holds ``{"name", "in_channels", "num_classes", "options"}`` for checkpoints, plus
        ``"guidance"`` for a prompt-aware model (``in_channels`` stays the image channels).

    Raises:
        ConfigError: unknown name, unknown option, or invalid channel counts.
    """
    _ensure_registered()
    builder = MODELS.get(name)
    if not isinstance(in_channels, int) or in_channels not in (1, 3):
        raise ConfigError(
            f"in_channels must be 1 (grey) or 3 (RGB); got {in_channels!r} for model {name!r}.",
            parameter="in_channels",
            expected=(1, 3),
            got=in_channels,
        )
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(
            f"num_classes must be a positive integer (background included); got {num_classes!r}.",
            parameter="num_classes",
            expected=">= 1",
            got=num_classes,
        )
    valid = model_options(name)
    for key in options:
        if key not in valid:
            raise ConfigError(
                f"Unknown option {key!r} for model {name!r}.{suggest(key, list(valid))} "
                f"Valid options: {', '.join(sorted(valid)) or '(none)'}.",
                parameter=key,
                expected=sorted(valid),
                got=key,
            )
    n_guidance = _guidance_channels(guidance)
    model = builder(in_channels + n_guidance, num_classes, **options)
    if n_guidance:
        from akmamba.nn.guided import GuidedInput

        model = GuidedInput(model, in_channels, n_guidance)
    full = {**valid, **options}
    config: dict[str, Any] = {
        "name": name,
        "in_channels": in_channels,
        "num_classes": num_classes,
        "options": {k: _jsonable(v) for k, v in full.items()},
    }
    if n_guidance:
        config["guidance"] = guidance
    model.akmamba_config = config  # type: ignore[assignment]
    return model


def model_config(model: nn.Module) -> dict[str, Any]:
    """The ``akmamba_config`` a network from :func:`build_model` (or ``load_checkpoint``) carries.

    Returns:
        ``{"name", "in_channels", "num_classes", "options"}``.

    Raises:
        ConfigError: the model was not built by :func:`build_model`.
    """
    config = getattr(model, "akmamba_config", None)
    if not isinstance(config, dict):
        raise ConfigError(
            f"{type(model).__name__} has no akmamba_config: build it with akmamba.nn.build_model.",
            parameter="model",
            expected="a network from build_model",
            got=type(model).__name__,
        )
    return config


def _guidance_channels(guidance: dict[str, Any] | None) -> int:
    if guidance is None:
        return 0
    channels = guidance.get("channels") if isinstance(guidance, dict) else None
    if not isinstance(channels, list) or not channels:
        raise ConfigError(
            "guidance must be a layout {'channels': [...]} with at least one channel (see akmamba.prompt.layout); "
            f"got {guidance!r}.", parameter="guidance", expected="{'channels': [non-empty list]}", got=guidance,
        )
    return len(channels)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _ensure_registered() -> None:
    # Importing the nets package runs every @MODELS.register decorator exactly once.
    import akmamba.nn.nets  # noqa: F401
