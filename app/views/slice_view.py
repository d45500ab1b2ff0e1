"""The slice view: a pyqtgraph ViewBox holding the image (``ImageItem``), the label overlay
(:class:`~app.views.overlay.LabelOverlayItem`), a brush cursor, the polygon being drawn and the patient
orientation letters at the four edges.

The image and overlay items hold the plane in array order: item pixel ``(row i, column j)`` covers
``x in [j, j+1), y in [i, i+1)``. Both items carry the display transform of the volume's
:class:`~akmamba.io.orientation.SliceOrientation` (computed by the library from the direction matrix), so *view*
coordinates are display pixels (x right, y down) and :meth:`SliceView.to_array` maps a view point back to array
coordinates. Brush cursor and polygon are drawn in view coordinates. Mouse drags, clicks and wheel turns go first
to a *handler* (the editing controller); what it declines falls through to pyqtgraph (left-drag pans, right-drag
zooms, wheel zooms).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from akmamba.io.orientation import AS_STORED, SliceOrientation
from app.views.overlay import LabelOverlayItem

pg.setConfigOptions(imageAxisOrder="row-major")


class ViewHandler(Protocol):
    """What the view asks its handler; each returns True when it consumed the event."""

    def drag_event(self, ev: Any, pos: QtCore.QPointF, start: QtCore.QPointF) -> bool: ...
    def click_event(self, ev: Any, pos: QtCore.QPointF) -> bool: ...
    def wheel_event(self, ev: Any) -> bool: ...


class ImageViewBox(pg.ViewBox):
    """A ViewBox that offers mouse events to a :class:`ViewHandler` before its own pan/zoom."""

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.handler: ViewHandler | None = None

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        if self.handler is not None and self.handler.drag_event(
            ev, self.mapToView(ev.pos()), self.mapToView(ev.buttonDownPos())
        ):
            ev.accept()
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev: Any) -> None:
        if self.handler is not None and self.handler.click_event(ev, self.mapToView(ev.pos())):
            ev.accept()
            return
        super().mouseClickEvent(ev)

    def wheelEvent(self, ev: Any, axis: int | None = None) -> None:
        if self.handler is not None and self.handler.wheel_event(ev):
            ev.accept()
            return
        super().wheelEvent(ev, axis)


class SliceView(pg.GraphicsView):
    """Image + overlay + brush cursor + polygon preview, with a hover signal in image coordinates.

    Signals:
        hovered(float, float): the mouse is over view point ``(x, y)`` (image pixels, continuous).
        left(): the mouse left the view.
    """

    hovered = QtCore.Signal(float, float)
    left = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, background="#101418")
        self.viewbox = ImageViewBox()
        self.setCentralItem(self.viewbox)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.viewbox.addItem(self.image_item)
        self.overlay = LabelOverlayItem()
        self.overlay.setZValue(10)
        self.viewbox.addItem(self.overlay)
        pen = QtGui.QPen(QtGui.QColor(255, 255, 255, 200))
        pen.setCosmetic(True)
        self.cursor = QtWidgets.QGraphicsEllipseItem()
        self.cursor.setPen(pen)
        self.cursor.setZValue(20)
        self.cursor.hide()
        self.viewbox.addItem(self.cursor)
        poly_pen = QtGui.QPen(QtGui.QColor(0, 230, 255), 1.5)
        poly_pen.setCosmetic(True)
        self.polygon = QtWidgets.QGraphicsPathItem()
        self.polygon.setPen(poly_pen)
        self.polygon.setZValue(21)
        self.viewbox.addItem(self.polygon)
        self.prompt_marks: dict[str, QtWidgets.QGraphicsPathItem] = {}
        for kind, colour, style in (("positive", (40, 230, 90), QtCore.Qt.PenStyle.SolidLine),
                                    ("negative", (255, 60, 60), QtCore.Qt.PenStyle.SolidLine),
                                    ("box", (255, 220, 0), QtCore.Qt.PenStyle.DashLine)):
            mark_pen = QtGui.QPen(QtGui.QColor(*colour), 2.0, style)
            mark_pen.setCosmetic(True)
            item = QtWidgets.QGraphicsPathItem()
            item.setPen(mark_pen)
            item.setZValue(22)
            self.viewbox.addItem(item)
            self.prompt_marks[kind] = item
        self.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.setMouseTracking(True)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self._shape: tuple[int, int] | None = None  # array plane (H, W)
        self._plane_dtype = np.dtype(np.float32)
        self.orientation: SliceOrientation = AS_STORED
        self.letters: dict[str, QtWidgets.QLabel] = {}
        for edge in ("top", "bottom", "left", "right"):
            label = QtWidgets.QLabel(self)
            label.setObjectName(f"orientation_{edge}")
            label.setStyleSheet("color: #ffd84d; font-weight: bold; font-size: 14px; background: transparent;")
            label.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            label.hide()
            self.letters[edge] = label

    # ------------------------------------------------------------------ orientation

    def set_orientation(self, orientation: SliceOrientation) -> None:
        """Show planes turned by ``orientation`` (from :func:`akmamba.io.orientation.slice_orientation`) and its
        patient letters at the edges (none for images shown as stored)."""
        changed = orientation != self.orientation
        self.orientation = orientation
        for edge, letter in zip(("top", "bottom", "left", "right"), orientation.letters or ("",) * 4, strict=True):
            self.letters[edge].setText(letter)
            self.letters[edge].setVisible(bool(letter))
            self.letters[edge].setToolTip(f"Patient direction at this edge ({orientation.plane} view, "
                                          "radiological convention)")
        self._place_letters()
        self._apply_transform()
        if changed and self._shape is not None:
            self.fit()

    def _apply_transform(self) -> None:
        if self._shape is None:
            return
        a = self.orientation.affine(self._shape)
        transform = QtGui.QTransform(a[0, 0], a[1, 0], a[0, 1], a[1, 1], a[0, 2], a[1, 2])
        self.image_item.setTransform(transform)
        self.overlay.setTransform(transform)
        for item in self.prompt_marks.values():
            item.setTransform(transform)

    def to_array(self, x: float, y: float) -> tuple[float, float]:
        """Array coordinates ``(x, y)`` = (column, row), continuous, of view point ``(x, y)``."""
        if self._shape is None:
            return float(x), float(y)
        return self.orientation.to_array(x, y, self._shape)

    def display_shape(self) -> tuple[int, int] | None:
        """``(H, W)`` of the plane as displayed (None without an image)."""
        return None if self._shape is None else self.orientation.display_shape(self._shape)

    def _place_letters(self) -> None:
        w, h, m = self.width(), self.height(), 6
        for edge, label in self.letters.items():
            label.adjustSize()
            lw, lh = label.width(), label.height()
            pos = {"top": ((w - lw) // 2, m), "bottom": ((w - lw) // 2, h - lh - m),
                   "left": (m, (h - lh) // 2), "right": (w - lw - m, (h - lh) // 2)}[edge]
            label.move(*pos)
            label.raise_()

    def resizeEvent(self, ev: QtGui.QResizeEvent) -> None:
        super().resizeEvent(ev)
        if hasattr(self, "letters"):  # pyqtgraph resizes the view while it is being built
            self._place_letters()

    # ------------------------------------------------------------------ image

    def set_image(self, plane: np.ndarray | None, levels: tuple[float, float], *, fit: bool = False) -> None:
        """Show a 2-D plane (``(H, W)`` grey or ``(H, W, 3)`` colour, array order: the view turns it) with
        explicit levels (no autoLevels pass)."""
        if plane is None:
            self.image_item.clear()
            self._shape = None
            return
        self._plane_dtype = plane.dtype
        self.image_item.setImage(np.ascontiguousarray(plane), levels=self._item_levels(levels), autoLevels=False)
        if self.image_item.levels is not None and self._item_levels(levels) is None:
            self.image_item.setLevels(None)
        shape = (int(plane.shape[0]), int(plane.shape[1]))
        if fit or shape != self._shape:
            self._shape = shape
            self._apply_transform()
            self.fit()

    def set_levels(self, levels: tuple[float, float]) -> None:
        """Change the display window (re-renders the image once)."""
        self.image_item.setLevels(self._item_levels(levels))

    def _item_levels(self, levels: tuple[float, float]) -> tuple[float, float] | None:
        """None for 8-bit data shown at (0, 255): pyqtgraph then skips its whole-image rescale (70 ms at 2048^2
        RGB) and wraps the array as a QImage directly."""
        if self._plane_dtype == np.uint8 and tuple(levels) == (0.0, 255.0):
            return None
        return levels

    def fit(self) -> None:
        """Zoom so the whole plane is visible."""
        shape = self.display_shape()
        if shape is not None:
            h, w = shape
            self.viewbox.setRange(QtCore.QRectF(0, 0, w, h), padding=0.02)

    def zoom(self, factor: float) -> None:
        """Zoom in (factor < 1) or out (> 1) about the view centre."""
        self.viewbox.scaleBy((factor, factor))

    # ------------------------------------------------------------------ cursor and polygon

    def show_brush(self, x: float, y: float, radius: float) -> None:
        """Draw the brush outline centred on the pixel under view point ``(x, y)``."""
        cx, cy = np.floor(x) + 0.5, np.floor(y) + 0.5
        r = radius + 0.5
        self.cursor.setRect(QtCore.QRectF(cx - r, cy - r, 2 * r, 2 * r))
        self.cursor.show()

    def hide_brush(self) -> None:
        """Hide the brush outline."""
        self.cursor.hide()

    def set_polygon(self, points: list[tuple[float, float]], hover: tuple[float, float] | None = None) -> None:
        """Draw the polygon being built (``(x, y)`` view points), closing back to the first point."""
        path = QtGui.QPainterPath()
        pts = [*points, hover] if hover is not None and points else list(points)
        if pts:
            path.moveTo(*pts[0])
            for p in pts[1:]:
                path.lineTo(*p)
            if len(pts) > 2:
                path.lineTo(*pts[0])
            for x, y in points:
                path.addEllipse(QtCore.QPointF(x, y), 0.6, 0.6)
        self.polygon.setPath(path)

    def set_prompt_marks(self, marks: dict[str, list[list[tuple[float, float]]]]) -> None:
        """Draw the Prompt tool's prompts: ``marks[kind]`` (kind ``positive``, ``negative`` or ``box``) is a list
        of polylines ``[(x, y), ...]`` in *array* coordinates (the marks carry the display transform, like the
        overlay); a one-point polyline is drawn as a click dot, a box as its closed outline."""
        for kind, item in self.prompt_marks.items():
            path = QtGui.QPainterPath()
            for line in marks.get(kind, []):
                if len(line) == 1:
                    path.addEllipse(QtCore.QPointF(*line[0]), 2.5, 2.5)
                    continue
                path.moveTo(*line[0])
                for p in line[1:]:
                    path.lineTo(*p)
                if kind == "box":
                    path.closeSubpath()
            item.setPath(path)

    # ------------------------------------------------------------------ events

    def _on_scene_mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        p = self.viewbox.mapSceneToView(scene_pos)
        self.hovered.emit(float(p.x()), float(p.y()))

    def leaveEvent(self, ev: QtCore.QEvent) -> None:
        self.hide_brush()
        self.left.emit()
        super().leaveEvent(ev)

    def view_to_widget(self, x: float, y: float) -> QtCore.QPoint:
        """Widget (viewport) position of view point ``(x, y)``."""
        scene = self.viewbox.mapViewToScene(QtCore.QPointF(x, y))
        return self.mapFromScene(scene)

    # ------------------------------------------------------------------ scripted input (tests, benchmarks)

    def send_mouse(self, kind: str, x: float, y: float,
                   button: QtCore.Qt.MouseButton = QtCore.Qt.MouseButton.LeftButton,
                   modifiers: QtCore.Qt.KeyboardModifier = QtCore.Qt.KeyboardModifier.NoModifier) -> None:
        """Deliver a real mouse event (``"press"``, ``"move"``, ``"release"``, ``"double"``) at view point
        ``(x, y)`` to the viewport, exactly as a user's mouse would (used by tests and scripted sessions)."""
        types = {"press": QtCore.QEvent.Type.MouseButtonPress, "move": QtCore.QEvent.Type.MouseMove,
                 "release": QtCore.QEvent.Type.MouseButtonRelease, "double": QtCore.QEvent.Type.MouseButtonDblClick}
        local = QtCore.QPointF(self.view_to_widget(x, y))
        global_pos = QtCore.QPointF(self.viewport().mapToGlobal(local.toPoint()))
        held = QtCore.Qt.MouseButton.NoButton if kind == "release" else button
        which = QtCore.Qt.MouseButton.NoButton if kind == "move" else button
        event = QtGui.QMouseEvent(types[kind], local, global_pos, which, held, modifiers)
        QtWidgets.QApplication.sendEvent(self.viewport(), event)

    def drag_through(self, points: list[tuple[float, float]],
                     button: QtCore.Qt.MouseButton = QtCore.Qt.MouseButton.LeftButton,
                     modifiers: QtCore.Qt.KeyboardModifier = QtCore.Qt.KeyboardModifier.NoModifier) -> None:
        """Press at the first view point, move through the others, release at the last.

        The moves are paced like a real mouse's: pyqtgraph drops a move that comes sooner than 1 / ``mouseRateLimit``
        seconds after the previous one, so unpaced scripted moves were lost now and then (and a drag read as a
        click)."""
        rate = float(pg.getConfigOption("mouseRateLimit") or 0)
        self.send_mouse("press", *points[0], button=button, modifiers=modifiers)
        for x, y in points[1:]:
            if rate > 0:
                time.sleep(1.05 / rate)
            self.send_mouse("move", x, y, button=button, modifiers=modifiers)
        self.send_mouse("release", *points[-1], button=button, modifiers=modifiers)

    def click_at(self, x: float, y: float, *, double: bool = False,
                 button: QtCore.Qt.MouseButton = QtCore.Qt.MouseButton.LeftButton) -> None:
        """A click (or double-click) at view point ``(x, y)``, left by default."""
        self.send_mouse("press", x, y, button=button)
        self.send_mouse("release", x, y, button=button)
        if double:
            self.send_mouse("double", x, y)
            self.send_mouse("release", x, y)
