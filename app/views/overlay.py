"""Label overlay as a QImage ``Format_Indexed8`` with a 256-entry RGBA colour table (pyqtgraph's fast path idea).

The overlay owns one Indexed8 image of the plane; a numpy view onto its pixel memory is written in place. A
change to the labels copies only the dirty rectangle into that memory and calls ``update(rect)``, so Qt repaints
and colour-converts only that rectangle (``ImageItem.updateImage`` would re-render the whole image per stamp).
Opacity, colours and per-label visibility are a new colour table: 1 KiB, no pixel work. Outline mode writes the
outline labels of the rectangle (plus a one-pixel margin, computed by :func:`akmamba.display.outline_labels`).
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from akmamba.display import lut_to_argb32, outline_labels


class LabelOverlayItem(QtWidgets.QGraphicsObject):
    """Draws a ``(H, W)`` uint8 label plane at scene coordinates ``[0, W) x [0, H)`` (one unit per pixel)."""

    def __init__(self, parent: QtWidgets.QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._qimage = QtGui.QImage()
        self._source: np.ndarray | None = None
        self._colors: list[int] = [0] * 256
        self._outline = False
        self._empty = True  # nothing to draw: paint() returns at once (a fresh image costs no colour conversion)
        self.paint_count = 0  # paints so far (the brush benchmark waits for the next one)

    # ------------------------------------------------------------------ data

    @property
    def outline(self) -> bool:
        """Whether only label boundaries are drawn."""
        return self._outline

    def set_outline(self, on: bool) -> None:
        """Switch between filled labels and outlines (re-renders the plane once)."""
        if on != self._outline:
            self._outline = on
            self.refresh()

    def set_plane(self, plane: np.ndarray | None) -> None:
        """Show ``plane`` (uint8 ``(H, W)``; a live view is fine: later changes arrive via :meth:`update_rect`)."""
        self.prepareGeometryChange()
        self._source = plane
        if plane is None:
            self._qimage = QtGui.QImage()
        else:
            h, w = plane.shape
            if self._qimage.isNull() or (self._qimage.height(), self._qimage.width()) != (h, w):
                self._qimage = QtGui.QImage(w, h, QtGui.QImage.Format.Format_Indexed8)
                self._qimage.setColorTable(self._colors)
        self.refresh()

    def set_lut(self, lut: np.ndarray) -> None:
        """Use a ``(256, 4)`` uint8 RGBA table (from ``akmamba.annotations.make_lut``)."""
        self._colors = lut_to_argb32(lut)
        if not self._qimage.isNull():
            self._qimage.setColorTable(self._colors)
        self.update()

    def refresh(self) -> None:
        """Copy the whole plane (after a slice change, an undo of a large region, or a mode switch)."""
        if self._source is not None:
            h, w = self._source.shape
            self.update_rect(0, h, 0, w)
            self._empty = not self._source.any()
        else:
            self.update()

    def update_rect(self, y0: int, y1: int, x0: int, x1: int) -> None:
        """Copy rows ``y0:y1``, columns ``x0:x1`` of the plane into the image and repaint only them."""
        if self._source is None or self._qimage.isNull():
            return
        if self._outline:
            (y0, y1, x0, x1), patch = outline_labels(self._source, (y0, y1, x0, x1))
        else:
            patch = self._source[y0:y1, x0:x1]
        self._pixels()[y0:y1, x0:x1] = patch
        self._empty = False
        self.update(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))

    def _pixels(self) -> np.ndarray:
        img = self._qimage
        rows = np.frombuffer(img.bits(), dtype=np.uint8).reshape(img.height(), img.bytesPerLine())
        return rows[:, : img.width()]

    def pixels(self) -> np.ndarray:
        """A copy of what is drawn (label values, or outline values in outline mode), for tests."""
        return self._pixels().copy() if not self._qimage.isNull() else np.zeros((0, 0), np.uint8)

    # ------------------------------------------------------------------ QGraphicsItem

    def boundingRect(self) -> QtCore.QRectF:
        return QtCore.QRectF(0, 0, self._qimage.width(), self._qimage.height())

    def paint(self, painter: QtGui.QPainter, option: QtWidgets.QStyleOptionGraphicsItem,
              widget: QtWidgets.QWidget | None = None) -> None:
        self.paint_count += 1
        if self._qimage.isNull() or self._empty:
            return
        exposed = option.exposedRect.intersected(self.boundingRect()).toAlignedRect()
        if exposed.isEmpty():
            return
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(QtCore.QRectF(exposed), self._qimage, QtCore.QRectF(exposed))
