"""Mouse and tool state for editing: turns view events into LabelMap calls on the session's label map.

Tools: navigate (left-drag pans), window/level drag, brush, eraser, flood fill, polygon. Holding Space (or the
middle button) pans whatever the tool. View points (display pixels) are mapped back through the view's
orientation (:meth:`SliceView.to_array`) to array coordinates ``(x, y)``, which become LabelMap pixel-centre
coordinates ``(y - 0.5, x - 0.5)`` (array pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``), so an edit lands on
the voxel shown under the mouse whatever way the volume is turned.
"""

from __future__ import annotations

import enum
from typing import Any

from PySide6 import QtCore

from akmamba.display import drag_levels, step_brush_size
from app.session import Session
from app.views.slice_view import SliceView

_LEFT = QtCore.Qt.MouseButton.LeftButton
_SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
_CTRL = QtCore.Qt.KeyboardModifier.ControlModifier


class Tool(enum.Enum):
    """Editing tools; the value is the label shown in the UI."""

    NAVIGATE = "Navigate"
    CONTRAST = "Window/level"
    BRUSH = "Brush"
    ERASER = "Eraser"
    FILL = "Fill"
    POLYGON = "Polygon"


PAINT_TOOLS = (Tool.BRUSH, Tool.ERASER)


class EditController(QtCore.QObject):
    """Owns the tool state and performs edits.

    Signals:
        state_changed(): tool, brush size, label or protect mode changed.
        levels_requested(float, float): a window/level drag asks for these levels.
        message(str): a short status-bar note (e.g. why an edit was refused).
    """

    state_changed = QtCore.Signal()
    levels_requested = QtCore.Signal(float, float)
    message = QtCore.Signal(str)

    def __init__(self, session: Session, view: SliceView) -> None:
        super().__init__(view)
        self.session, self.view = session, view
        self.tool = Tool.NAVIGATE
        self.radius = 6
        self.label = 1
        self.protect = False
        self.pan_override = False
        self.levels: tuple[float, float] = (0.0, 1.0)
        self.level_span = 1.0
        self.polygon: list[tuple[float, float]] = []
        self._last: tuple[float, float] | None = None
        self._levels_at_press = self.levels
        view.viewbox.handler = self
        view.hovered.connect(self._on_hovered)

    # ------------------------------------------------------------------ state

    def set_tool(self, tool: Tool) -> None:
        """Switch tool (an open polygon is cancelled, an open stroke finished)."""
        if tool is self.tool:
            return
        if self.session.label_map is not None:
            self.session.label_map.end_stroke()
        self.cancel_polygon()
        self.tool = tool
        if tool not in PAINT_TOOLS:
            self.view.hide_brush()
        self.state_changed.emit()

    def set_radius(self, radius: int) -> None:
        """Brush/eraser radius in pixels (0 = one pixel)."""
        self.radius = int(step_brush_size(radius, 0))
        self.state_changed.emit()

    def step_radius(self, steps: int) -> None:
        """Grow (+) or shrink (-) the brush by 20 % per step."""
        self.set_radius(step_brush_size(self.radius, steps))

    def set_label(self, value: int) -> None:
        """The label painted by brush, fill and polygon."""
        self.label = int(value)
        self.state_changed.emit()

    def step_label(self, steps: int) -> None:
        """Select the next (+1) or previous (-1) label of the table, wrapping around."""
        values = sorted(self.session.label_names()) or [1]
        i = values.index(self.label) if self.label in values else -1
        self.set_label(values[(i + steps) % len(values)])

    def set_protect(self, on: bool) -> None:
        """Protect other labels: paint only over background/the current label; erase only the current label."""
        self.protect = bool(on)
        self.state_changed.emit()

    def set_pan_override(self, on: bool) -> None:
        """While Space is held, left-drag pans with any tool."""
        self.pan_override = on

    def _label_map(self) -> Any:
        if not self.session.has_case:
            return None
        if self.session.busy:
            self.message.emit("Opening a case; edits are paused until it is shown.")
            return None
        if self.session.pending is not None:
            self.message.emit("Accept or discard the model result before editing.")
            return None
        return self.session.label_map

    def _yx(self, pos: QtCore.QPointF) -> tuple[float, float]:
        """Array pixel-centre ``(y, x)`` of a view point."""
        return self._yx_of(float(pos.x()), float(pos.y()))

    def _yx_of(self, x: float, y: float) -> tuple[float, float]:
        ax, ay = self.view.to_array(x, y)
        return ay - 0.5, ax - 0.5

    # ------------------------------------------------------------------ view handler protocol

    def drag_event(self, ev: Any, pos: QtCore.QPointF, start: QtCore.QPointF) -> bool:
        """Paint/erase strokes and window/level drags; other drags pan or zoom (pyqtgraph)."""
        if ev.button() != _LEFT or self.pan_override:
            return False
        if self.tool is Tool.CONTRAST:
            if ev.isStart():
                self._levels_at_press = self.levels
            delta = ev.screenPos() - ev.buttonDownScreenPos()
            lo, hi = drag_levels(self._levels_at_press, delta.x(), delta.y(), self.level_span)
            self.levels_requested.emit(lo, hi)
            return True
        if self.tool not in PAINT_TOOLS:
            return False
        label_map = self._label_map()
        if label_map is None:
            return True
        if ev.isStart():
            label_map.begin_stroke()
            self._last = self._yx(start)
        p1 = self._yx(pos)
        self._stamp(self._last or p1, p1)
        self._last = p1
        if ev.isFinish():
            label_map.end_stroke()
            self._last = None
        self.view.show_brush(pos.x(), pos.y(), self.radius)
        return True

    def click_event(self, ev: Any, pos: QtCore.QPointF) -> bool:
        """A click stamps (brush/eraser), fills (fill) or adds a vertex (polygon; double-click applies)."""
        if ev.button() != _LEFT or self.tool in (Tool.NAVIGATE, Tool.CONTRAST):
            return False
        label_map = self._label_map()
        if label_map is None:
            return True
        y, x = self._yx(pos)
        if self.tool in PAINT_TOOLS:
            with label_map.stroke():
                self._stamp((y, x), (y, x))
        elif self.tool is Tool.FILL:
            self.fill_at(y, x)
        elif ev.double():
            self.apply_polygon()
        else:
            self.add_polygon_point(pos.x(), pos.y())
        return True

    def wheel_event(self, ev: Any) -> bool:
        """Shift+wheel sizes the brush; on a volume the wheel steps slices (Ctrl+wheel zooms)."""
        mods, delta = ev.modifiers(), ev.delta()
        if mods & _SHIFT:
            self.step_radius(1 if delta > 0 else -1)
            return True
        if self.session.n_slices > 1 and not mods & _CTRL:
            self.session.step_slice(1 if delta > 0 else -1)
            return True
        return False

    # ------------------------------------------------------------------ edits

    def _stamp(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        label_map, z = self.session.label_map, self.session.slice_index
        if label_map is None:
            return
        if self.tool is Tool.BRUSH:
            label_map.paint_line(p0, p1, self.radius, self.label, slice_index=z, protect_others=self.protect)
        else:
            label_map.erase_line(p0, p1, self.radius, slice_index=z, only_label=self.label if self.protect else None)

    def fill_at(self, y: float, x: float) -> None:
        """Flood-fill the region under pixel-centre ``(y, x)`` with the current label."""
        label_map = self._label_map()
        if label_map is None:
            return
        h, w = label_map.plane_shape
        yi, xi = round(y), round(x)
        if 0 <= yi < h and 0 <= xi < w:
            label_map.flood_fill((yi, xi), self.label, slice_index=self.session.slice_index,
                                 protect_others=self.protect)

    def add_polygon_point(self, x: float, y: float) -> None:
        """Add a vertex at view point ``(x, y)``."""
        self.polygon.append((float(x), float(y)))
        self.view.set_polygon(self.polygon)

    def delete_polygon_point(self) -> None:
        """Remove the last vertex (Backspace)."""
        if self.polygon:
            self.polygon.pop()
            self.view.set_polygon(self.polygon)

    def cancel_polygon(self) -> None:
        """Drop the polygon being drawn (Esc)."""
        self.polygon = []
        self.view.set_polygon([])

    def apply_polygon(self) -> None:
        """Fill the polygon with the current label (Enter); needs at least three vertices."""
        points, label_map = self.polygon, self._label_map()
        if label_map is None or len(points) < 3:
            self.message.emit("A polygon needs at least three points (click to add them).")
            return
        label_map.fill_polygon([self._yx_of(x, y) for x, y in points], self.label,
                               slice_index=self.session.slice_index, protect_others=self.protect)
        self.cancel_polygon()

    def escape(self) -> None:
        """Esc: cancel a polygon, else go back to the navigate tool."""
        if self.polygon:
            self.cancel_polygon()
        else:
            self.set_tool(Tool.NAVIGATE)

    def remove_small_islands(self, min_size: int) -> None:
        """Remove components of the current label smaller than ``min_size`` (3-D components in a volume)."""
        label_map = self._label_map()
        if label_map is None:
            return
        box = label_map.remove_small_islands(self.label, int(min_size))
        name = self.session.label_names().get(self.label, self.label)
        self.message.emit(f"Removed islands of {name!s} under {min_size} px." if box else
                          f"No island of {name!s} is smaller than {min_size} px.")

    # ------------------------------------------------------------------ hover

    def _on_hovered(self, x: float, y: float) -> None:
        if self.tool in PAINT_TOOLS and self.session.has_case:
            self.view.show_brush(x, y, self.radius)
        if self.tool is Tool.POLYGON and self.polygon:
            self.view.set_polygon(self.polygon, (x, y))
