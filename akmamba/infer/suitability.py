"""Whether a model suits an image, and which installed model to offer for it.

A model takes the channel count it was trained on (``in_channels`` in its metadata: 3 for the fundus models, 1 for
the bladder MRI ones). Inference converts anything to that count (:func:`akmamba.data.normalize.to_channels_first`:
grey repeated to three channels, colour averaged to grey), so a mismatched model runs without error and returns
masks that mean nothing: the bladder model on a fundus photograph marks "tumour" at the rim of the field of view.
The viewer offers a model that suits the open image and asks before running one that does not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from akmamba.infer.models import ModelEntry

#: Preferred architecture when several installed models suit an image (the product's model first).
PREFERRED_ARCHITECTURE = "akmamba"


def image_input_channels(channels: int) -> int:
    """The channel count an image feeds a model: 3 for colour ``(H, W, 3 or 4)``, else 1 (grey, volumes)."""
    return 3 if channels in (3, 4) else 1


def describe_channels(channels: int) -> str:
    """``"colour (3-channel)"`` or ``"grey (1-channel)"`` for an image's or a model's input channel count."""
    return "colour (3-channel)" if image_input_channels(channels) == 3 else "grey (1-channel)"


def input_mismatch(name: str, summary: Mapping[str, Any], image_channels: int) -> str | None:
    """Why model ``name`` (its :class:`ModelEntry` summary or checkpoint metadata fields ``in_channels`` and
    ``modality``) does not suit an image with ``image_channels`` values per pixel, or None when it does or when
    the model does not say what it takes.

    Returns:
        A sentence for the user: what the model was trained on, what the image is, and what happens if it runs.
    """
    taken = summary.get("in_channels")
    if not isinstance(taken, int):
        return None
    have = image_input_channels(image_channels)
    if taken == have:
        return None
    modality = summary.get("modality")
    trained = f": {modality}" if modality else ""
    return (f"{name} was trained on {describe_channels(taken)} images{trained}. The image is "
            f"{describe_channels(have)}: the model would see it converted, and its mask would likely mean nothing.")


def checkpoint_mismatch(path: str | os.PathLike[str], image_channels: int) -> str | None:
    """:func:`input_mismatch` for a checkpoint file, read from its metadata only (no weights); None when the file
    has no readable metadata (loading it will report that)."""
    from akmamba.errors import AkmambaError
    from akmamba.nn.checkpoint import read_metadata

    try:
        meta = read_metadata(path)
    except AkmambaError:
        return None
    fields = {"in_channels": (meta.get("model") or {}).get("in_channels"), "modality": meta.get("modality")}
    name = meta.get("name") or os.path.basename(os.fspath(path)).removesuffix(".safetensors")
    return input_mismatch(str(name), fields, image_channels)


def offer_model(entries: Sequence[ModelEntry], image_channels: int, current: str = "") -> ModelEntry | None:
    """The installed model to offer for an image.

    Args:
        entries: installed models (:func:`akmamba.infer.models.list_shipped_models`).
        image_channels: the open image's values per pixel (``Image.channels``).
        current: the path now chosen ("" for none).

    Returns:
        The entry of ``current`` when it suits the image (or does not say what it takes); None when ``current`` is
        a checkpoint file that is not installed (the user's own choice is kept); else the first suitable entry of
        :data:`PREFERRED_ARCHITECTURE`, else the first suitable entry, else None.
    """
    by_path = {str(e.path): e for e in entries if e.error is None}
    if current and current not in by_path:
        return None
    if current and input_mismatch(by_path[current].name, by_path[current].summary, image_channels) is None:
        return by_path[current]
    fits = [e for e in by_path.values() if isinstance(e.summary.get("in_channels"), int)
            and input_mismatch(e.name, e.summary, image_channels) is None]
    preferred = [e for e in fits if e.summary.get("architecture") == PREFERRED_ARCHITECTURE]
    chosen = preferred or fits
    return chosen[0] if chosen else None
