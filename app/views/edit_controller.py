"""Mouse and tool state for editing: turns view events into LabelMap calls on the session's label map.

Tools: navigate (left-drag pans), window/level drag, brush, eraser, flood fill, polygon, prompt (clicks, boxes
and scribbles answered by a prompt-aware model: left click positive, right click negative, left-drag a box,
Shift+left-drag a positive scribble, Shift+right-drag a negative one). Holding Space (or the middle button) pans
whatever the tool. View points (display pixels) are mapped back through the view's
orientation (:meth:`SliceView.to_array`) to array coordinates ``(x, y)``, which become LabelMap pixel-centre
coordinates ``(y - 0.5, x - 0.5)`` (array pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``), so an edit lands on
the voxel shown under the mouse whatever way the volume is turned.
"""

from __future__ import annotations

import enum
from typing import Any

from PySide6 import QtCore

from akmamba.display import drag_levels, step_brush_size
from akmamba.prompt.encode import Box, Click, Scribble
from akmamba.prompt.interactive import PromptState
from app.session import Session
from app.views.slice_view import SliceView

_LEFT = QtCore.Qt.MouseButton.LeftButton
_RIGHT = QtCore.Qt.MouseButton.RightButton
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
    PROMPT = "Prompt"


PAINT_TOOLS = (Tool.BRUSH, Tool.ERASER)


class EditController(QtCore.QObject):
    """Owns the tool state and performs edits.

    Signals:
        state_changed(): tool, brush size, label or protect mode changed.
        levels_requested(float, float): a window/level drag asks for these levels.
        message(str): a short status-bar note (e.g. why an edit was refused).
        prompts_changed(): the Prompt tool's prompts changed (a preview is due, or they were dropped).
    """

    state_changed = QtCore.Signal()
    prompts_changed = QtCore.Signal()
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
        self.prompt: PromptState | None = None
        self._drag_points: list[tuple[float, float]] = []
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
        if self.tool is Tool.PROMPT:
            self.drop_prompts()
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
        """The label painted by brush, fill and polygon (and corrected by the Prompt tool: changing it drops the
        prompts given for the previous label)."""
        if int(value) != self.label and self.prompt is not None and self.prompt.prompts:
            self.drop_prompts()
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
        """Paint/erase strokes, window/level drags, prompt boxes and scribbles; other drags pan or zoom."""
        if self.tool is Tool.PROMPT and not self.pan_override:
            return self._prompt_drag(ev, pos, start)
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
        """A click stamps (brush/eraser), fills (fill), adds a vertex (polygon; double-click applies) or a prompt
        click (prompt tool: left positive, right negative)."""
        if self.tool is Tool.PROMPT and ev.button() in (_LEFT, _RIGHT):
            state = self._prompt_state()
            if state is not None:
                y, x = self._array_yx(pos)
                if state.add_click(y, x, positive=ev.button() == _LEFT):
                    self._prompts_updated()
            return True
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
        """Esc: drop the prompts (prompt tool), cancel a polygon, else go back to the navigate tool."""
        if self.tool is Tool.PROMPT and self.prompt is not None and self.prompt.prompts:
            self.drop_prompts()
            self.message.emit("Prompts dropped.")
        elif self.polygon:
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

    # ------------------------------------------------------------------ prompt tool

    def _array_yx(self, pos: QtCore.QPointF) -> tuple[float, float]:
        """Continuous array coordinates ``(row, column)`` of a view point (pixel ``(i, j)`` covers
        ``[i, i+1) x [j, j+1)``), through the view's orientation."""
        ax, ay = self.view.to_array(float(pos.x()), float(pos.y()))
        return ay, ax

    def _prompt_state(self) -> PromptState | None:
        """The prompts of the current plane and label (made on first use)."""
        if self._label_map() is None:
            return None
        shape = self.session.label_map.plane_shape  # type: ignore[union-attr]
        if self.prompt is None or self.prompt.shape != shape or self.prompt.label != self.label:
            self.prompt = PromptState(shape, self.label)
        return self.prompt

    def _prompt_drag(self, ev: Any, pos: QtCore.QPointF, start: QtCore.QPointF) -> bool:
        scribble = bool(ev.modifiers() & _SHIFT)
        if ev.button() == _RIGHT and not scribble:
            return False  # right-drag zooms, as with every tool
        if ev.button() not in (_LEFT, _RIGHT):
            return False
        state = self._prompt_state()
        if state is None:
            return True
        if ev.isStart():
            self._drag_points = [self._array_yx(start)]
        self._drag_points.append(self._array_yx(pos))
        if not ev.isFinish():
            self._draw_marks(pending=self._drag_points, box=not scribble, positive=ev.button() == _LEFT)
            return True
        points, self._drag_points = self._drag_points, []
        if scribble:
            added = state.add_scribble(points, positive=ev.button() == _LEFT)
        else:
            (y0, x0), (y1, x1) = points[0], points[-1]
            added = state.add_box(y0, x0, y1, x1)
        if added:
            self._prompts_updated()
        else:
            self._draw_marks()
        return True

    def _prompts_updated(self) -> None:
        self._draw_marks()
        self.prompts_changed.emit()

    def drop_prompts(self) -> None:
        """Forget the prompts and their marks (Esc, another tool, label or slice); the preview goes with them."""
        had = self.prompt is not None and bool(self.prompt.prompts)
        self.prompt = None
        self._drag_points = []
        self._draw_marks()
        if had:
            self.prompts_changed.emit()

    def set_prompts(self, prompts: list[Any]) -> None:
        """Replace the prompts (the propagate action seeds a slice with clicks) and ask for a preview."""
        state = self._prompt_state()
        if state is None:
            return
        state.prompts = list(prompts)
        self._prompts_updated()

    def _draw_marks(self, pending: list[tuple[float, float]] | None = None, box: bool = False,
                    positive: bool = True) -> None:
        """Draw the prompts in array coordinates (``(x, y)`` points; the marks carry the view's orientation)."""
        marks: dict[str, list[list[tuple[float, float]]]] = {"positive": [], "negative": [], "box": []}
        for p in self.prompt.prompts if self.prompt is not None else []:
            if isinstance(p, Click):
                marks["positive" if p.positive else "negative"].append([(p.x + 0.5, p.y + 0.5)])
            elif isinstance(p, Scribble):
                marks["positive" if p.positive else "negative"].append([(x + 0.5, y + 0.5) for y, x in p.points])
            elif isinstance(p, Box):
                marks["box"].append([(p.x0, p.y0), (p.x1 + 1, p.y0), (p.x1 + 1, p.y1 + 1), (p.x0, p.y1 + 1)])
        if pending:
            if box:
                (y0, x0), (y1, x1) = pending[0], pending[-1]
                marks["box"].append([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
            else:
                marks["positive" if positive else "negative"].append([(x, y) for y, x in pending])
        self.view.set_prompt_marks(marks)

    # ------------------------------------------------------------------ hover

    def _on_hovered(self, x: float, y: float) -> None:
        if self.tool in PAINT_TOOLS and self.session.has_case:
            self.view.show_brush(x, y, self.radius)
        if self.tool is Tool.POLYGON and self.polygon:
            self.view.set_polygon(self.polygon, (x, y))
