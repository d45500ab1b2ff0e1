"""Label editing without Qt: brush, eraser, fills, undo/redo as bounding-box deltas, a crash-safe edit journal,
and the overlay colour table (numpy and scipy only; no torch, no Qt).

Typical use by the viewer::

    lm = LabelMap(labels)                                   # labels: (H, W) or (Z, Y, X) uint8/uint16, edited in place
    lm.start_journal(journal_path, identity=image_identity(image_path))
    lm.events.changed.connect(view.update_rect)             # gets a BBox after every change
    lm.begin_stroke(); lm.paint_line(prev, pos, 10, 1); lm.end_stroke()
    lm.undo(); lm.redo()
    labels = replay(journal_path, saved_labels)             # after a crash
"""

from akmamba.annotations.colors import LabelInfo, LabelTable, default_color, label_outline, make_lut
from akmamba.annotations.history import Atom, History
from akmamba.annotations.journal import (
    Journal,
    JournalRecoveryWarning,
    image_identity,
    read_journal,
    replay,
    restore,
    unsaved_edits,
)
from akmamba.annotations.label_map import BBox, EventEmitter, LabelMap

__all__ = [
    "Atom",
    "BBox",
    "EventEmitter",
    "History",
    "Journal",
    "JournalRecoveryWarning",
    "LabelInfo",
    "LabelMap",
    "LabelTable",
    "default_color",
    "image_identity",
    "label_outline",
    "make_lut",
    "read_journal",
    "replay",
    "restore",
    "unsaved_edits",
]
