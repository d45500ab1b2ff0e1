"""The guidance layout: which input channel of a prompt-aware network carries which prompt.

Per foreground label (in label-index order) three channels follow the image channels:

* ``positive``: clicks (and positive scribbles) saying "this is the label", as MONAI DeepEdit encodes them (a
  Gaussian of ``sigma`` pixels around each point, the channel scaled to [0, 1]);
* ``negative``: clicks (and negative scribbles) saying "this is not the label", encoded the same way;
* ``box``: 1 inside the 2-D boxes drawn for the label, 0 elsewhere.

The layout is stored in the checkpoint as ``model.guidance`` (see :func:`akmamba.nn.build_model`)::

    {"format": 1, "encoding": "monai-deepedit-gaussian", "sigma": 3.0,
     "channels": [{"index": 1, "name": "bladder_wall", "kind": "positive"}, ...]}

A checkpoint without ``model.guidance`` is a plain (not prompt-aware) model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akmamba.errors import CheckpointError, ConfigError

KINDS = ("positive", "negative", "box")
FORMAT = 1
ENCODING = "monai-deepedit-gaussian"


@dataclass(frozen=True)
class GuidanceLayout:
    """Which label and prompt kind each guidance channel holds.

    Attributes:
        labels: foreground ``(index, name)`` pairs, in index order.
        sigma: the Gaussian's standard deviation, in pixels, of a click's signal.
    """

    labels: tuple[tuple[int, str], ...]
    sigma: float = 3.0

    @classmethod
    def for_labels(cls, label_names: Mapping[int, str], sigma: float = 3.0) -> GuidanceLayout:
        """The layout for a model's label table ``{index: name}`` (background, index 0, gets no channel).

        Raises:
            ConfigError: no foreground label, or a sigma that is not positive.
        """
        labels = tuple((int(i), str(n)) for i, n in sorted(label_names.items()) if int(i) != 0)
        if not labels:
            raise ConfigError("A prompt-aware model needs at least one foreground label; the label table has none.",
                              parameter="label_names", expected="a label with index >= 1", got=dict(label_names))
        if not sigma > 0:
            raise ConfigError(f"sigma must be > 0 pixels; got {sigma!r}.", parameter="sigma", expected="> 0",
                              got=sigma)
        return cls(labels, float(sigma))

    @property
    def channels(self) -> list[tuple[int, str, str]]:
        """``(label index, label name, kind)`` of every guidance channel, in input order."""
        return [(i, n, k) for i, n in self.labels for k in KINDS]

    @property
    def num_channels(self) -> int:
        """G, the number of guidance channels."""
        return len(self.labels) * len(KINDS)

    def channel(self, label: int, kind: str) -> int:
        """The guidance channel (0-based, after the image channels) of ``label``'s ``kind`` prompts.

        Raises:
            ConfigError: a label the layout does not have, or an unknown kind.
        """
        if kind not in KINDS:
            raise ConfigError(f"Unknown prompt kind {kind!r}; valid: {', '.join(KINDS)}.", parameter="kind",
                              expected=list(KINDS), got=kind)
        indices = [i for i, _ in self.labels]
        if label not in indices:
            raise ConfigError(f"Label {label!r} has no guidance channels; this model's prompt labels are "
                              f"{dict(self.labels)}.", parameter="label", expected=indices, got=label)
        return indices.index(label) * len(KINDS) + KINDS.index(kind)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record stored as ``model.guidance`` in a checkpoint."""
        return {"format": FORMAT, "encoding": ENCODING, "sigma": self.sigma,
                "channels": [{"index": i, "name": n, "kind": k} for i, n, k in self.channels]}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any], where: str = "the checkpoint") -> GuidanceLayout:
        """Read a ``model.guidance`` record back.

        Raises:
            CheckpointError: another format or encoding, or channels not in the order this version writes.
        """
        if record.get("format") != FORMAT or record.get("encoding") != ENCODING:
            raise CheckpointError(
                f"The guidance layout of {where} is format {record.get('format')!r} / encoding "
                f"{record.get('encoding')!r}; this akmamba reads format {FORMAT} / {ENCODING!r}. Upgrade akmamba.",
                expected=(FORMAT, ENCODING), got=(record.get("format"), record.get("encoding")),
            )
        rows: Sequence[Mapping[str, Any]] = record.get("channels") or []
        try:
            labels: dict[int, str] = {int(r["index"]): str(r["name"]) for r in rows}
            layout = cls(tuple(sorted(labels.items())), float(record.get("sigma", 3.0)))
            got = [(int(r["index"]), str(r["name"]), str(r["kind"])) for r in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"The guidance layout of {where} is malformed ({exc}).", got=record) from exc
        if got != layout.channels:
            raise CheckpointError(f"The guidance channels of {where} are not in the order this akmamba uses "
                                  f"(per label: {', '.join(KINDS)}): {got}.", expected=layout.channels, got=got)
        return layout


def layout_of(metadata: Mapping[str, Any], where: str = "the checkpoint") -> GuidanceLayout | None:
    """The guidance layout of a checkpoint's metadata record, or None for a plain model."""
    record = (metadata.get("model") or {}).get("guidance")
    return None if record is None else GuidanceLayout.from_dict(record, where)
