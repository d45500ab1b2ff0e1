"""Label table -> RGBA lookup table for the overlay, and a label-outline helper (numpy only).

The GUI uploads the LUT once (a uint8 ``(256, 4)`` table takes pyqtgraph's fast indexed-colour path) and changes
opacity or visibility by rebuilding the 1 KiB table, never by re-rendering label data.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from akmamba.errors import ConfigError

__all__ = ["LabelInfo", "LabelTable", "colors_by_value", "default_color", "label_outline", "make_lut"]


def default_color(value: int) -> tuple[int, int, int]:
    """A distinct, stable colour for a label value without one (golden-ratio hue steps)."""
    hue = (0.61803398875 * value) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


def colors_by_value(rows: Iterable[Any], values: np.ndarray | None = None) -> dict[int, tuple[int, int, int]]:
    """``{stored value: (r, g, b)}`` of label-table rows (dicts or objects with ``index`` and ``color``), for a
    label file's palette.

    Args:
        rows: the label table.
        values: ``index -> value written`` (e.g. the training data's file values); None: the indices are written.
    """
    out: dict[int, tuple[int, int, int]] = {}
    for row in rows:
        get = row.get if isinstance(row, Mapping) else lambda k, d=None, r=row: getattr(r, k, d)
        index, color = get("index"), get("color")
        if index is None or color is None:
            continue
        value = int(values[int(index)]) if values is not None and int(index) < len(values) else int(index)
        out[value] = (int(color[0]), int(color[1]), int(color[2]))
    return out


@dataclass(frozen=True)
class LabelInfo:
    """Display properties of one label value.

    Attributes:
        value: the integer stored in the label array (0 is background).
        name: human-readable name, e.g. ``"vessel"``.
        color: ``(r, g, b)``, each 0-255.
        opacity: 0.0-1.0, multiplied with the table's global opacity.
        visible: hidden labels get alpha 0.
    """

    value: int
    name: str = ""
    color: tuple[int, int, int] = (255, 0, 0)
    opacity: float = 1.0
    visible: bool = True

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ConfigError(f"Label value must be >= 0, got {self.value}.", parameter="value", got=self.value)
        if len(self.color) != 3 or any(not 0 <= int(c) <= 255 for c in self.color):
            raise ConfigError(
                f"Colour of label {self.value} must be three integers 0-255, got {self.color!r}.",
                parameter="color",
                got=self.color,
            )
        if not 0.0 <= self.opacity <= 1.0:
            raise ConfigError(
                f"Opacity of label {self.value} must be in [0, 1], got {self.opacity}.",
                parameter="opacity",
                got=self.opacity,
            )


@dataclass
class LabelTable:
    """The labels of one project, by value.

    Attributes:
        labels: ``{value: LabelInfo}``; values missing from it are drawn with :func:`default_color`.
        opacity: global overlay opacity 0.0-1.0.
    """

    labels: dict[int, LabelInfo] = field(default_factory=dict)
    opacity: float = 0.5

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelTable:
        """Build from ``{"opacity": 0.5, "labels": [{"value": 1, "name": "vessel", "color": [r, g, b]}, ...]}``."""
        infos = [LabelInfo(**{**d, "color": tuple(d.get("color", default_color(d["value"])))}) for d in data["labels"]]
        return cls({i.value: i for i in infos}, float(data.get("opacity", 0.5)))

    def to_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_dict` (JSON-ready)."""
        labels = [
            {"value": i.value, "name": i.name, "color": list(i.color), "opacity": i.opacity, "visible": i.visible}
            for i in sorted(self.labels.values(), key=lambda i: i.value)
        ]
        return {"opacity": self.opacity, "labels": labels}

    def __iter__(self) -> Iterator[LabelInfo]:
        return iter(sorted(self.labels.values(), key=lambda i: i.value))

    def with_label(self, value: int, **changes: Any) -> LabelTable:
        """A copy with label ``value`` added or changed (``name``, ``color``, ``opacity``, ``visible``)."""
        base = self.labels.get(value, LabelInfo(value, color=default_color(value)))
        return LabelTable({**self.labels, value: replace(base, **changes)}, self.opacity)


def make_lut(
    table: LabelTable | Iterable[LabelInfo], n_entries: int = 256, *, opacity: float | None = None
) -> np.ndarray:
    """RGBA lookup table for an index-coloured overlay.

    Entry 0 (background) is fully transparent. A listed label's alpha is ``255 * opacity * label.opacity`` (0 when
    hidden); values not listed get :func:`default_color` at the global opacity.

    Args:
        table: a :class:`LabelTable` or plain :class:`LabelInfo` items.
        n_entries: rows of the LUT (256 for uint8 maps; keep <= 256 for pyqtgraph's fast path).
        opacity: global opacity; defaults to the table's (0.5 for a plain iterable).

    Returns:
        ``(n_entries, 4)`` uint8 array.
    """
    if isinstance(table, LabelTable):
        infos, global_opacity = list(table), table.opacity
    else:
        infos, global_opacity = list(table), 0.5
    alpha_scale = float(global_opacity if opacity is None else opacity)
    if not 0.0 <= alpha_scale <= 1.0:
        raise ConfigError(f"Overlay opacity must be in [0, 1], got {alpha_scale}.", parameter="opacity")
    values = np.arange(n_entries)
    rgb = np.array([default_color(int(v)) for v in values], dtype=np.float64).reshape(n_entries, 3)
    lut = np.empty((n_entries, 4), dtype=np.uint8)
    lut[:, :3] = rgb
    lut[:, 3] = round(255 * alpha_scale)
    for info in infos:
        if info.value < n_entries:
            lut[info.value, :3] = info.color
            lut[info.value, 3] = round(255 * alpha_scale * info.opacity) if info.visible else 0
    lut[0, 3] = 0
    return lut


def label_outline(labels_patch: np.ndarray, *, connectivity: int = 4, image_border: bool = False) -> np.ndarray:
    """Foreground pixels on a label boundary (a neighbour holds a different value).

    Args:
        labels_patch: ``(H, W)`` integer labels. Pass the dirty rectangle with a 1-pixel margin so that its
            edges are judged against their true neighbours.
        connectivity: 4 (thin outline) or 8 (diagonal neighbours count too).
        image_border: also mark foreground pixels on the patch's own border.

    Returns:
        ``(H, W)`` bool, false on background.
    """
    if labels_patch.ndim != 2:
        raise ConfigError(f"label_outline needs a 2-D patch, got shape {labels_patch.shape}.", got=labels_patch.shape)
    if connectivity not in (4, 8):
        raise ConfigError(f"connectivity must be 4 or 8, got {connectivity!r}.", parameter="connectivity")
    # Constant padding is background, so foreground on the patch border differs from it; edge padding copies it.
    padded = np.pad(labels_patch, 1, mode="constant" if image_border else "edge")
    centre = padded[1:-1, 1:-1]
    h, w = labels_patch.shape
    offsets = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        offsets += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    edge = np.zeros(labels_patch.shape, dtype=bool)
    for dy, dx in offsets:
        edge |= padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] != centre
    return edge & (labels_patch != 0)
