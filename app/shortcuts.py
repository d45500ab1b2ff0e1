"""The keyboard map (product.md section 3.1): one table drives both the QActions and the F1 help dialog.

W is not the window/level key here: q/w select labels (Slicer), so the window/level drag tool is C (contrast).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    """One command: ``id`` (the handler's name), key sequences, help text and help group."""

    id: str
    keys: tuple[str, ...]
    text: str
    group: str


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("open", ("Ctrl+O",), "Open...", "File"),
    Shortcut("open_folder", ("Ctrl+Shift+O",), "Open folder...", "File"),
    Shortcut("save", ("Ctrl+S",), "Save labels", "File"),
    Shortcut("save_as", ("Ctrl+Shift+S",), "Save labels as...", "File"),
    Shortcut("mark_corrected", ("Ctrl+Return", "Ctrl+Enter"), "Mark corrected (save, and offer the case for "
             "fine-tuning)", "File"),
    Shortcut("next_case", ("Ctrl+Right",), "Next case", "File"),
    Shortcut("prev_case", ("Ctrl+Left",), "Previous case", "File"),
    Shortcut("undo", ("Ctrl+Z",), "Undo", "Edit"),
    Shortcut("redo", ("Ctrl+Y", "Ctrl+Shift+Z"), "Redo", "Edit"),
    Shortcut("tool_brush", ("B", "1"), "Brush tool", "Tools"),
    Shortcut("tool_eraser", ("E", "2"), "Eraser tool", "Tools"),
    Shortcut("tool_fill", ("F", "3"), "Flood fill tool", "Tools"),
    Shortcut("tool_polygon", ("P", "4"), "Polygon fill tool", "Tools"),
    Shortcut("tool_contrast", ("C", "5"), "Window/level drag tool", "Tools"),
    Shortcut("tool_navigate", ("N", "6"), "Navigate tool (left-drag pans)", "Tools"),
    Shortcut("tool_prompt", ("I", "7"), "Prompt tool: clicks, boxes, scribbles answered by the model", "Tools"),
    Shortcut("escape", ("Esc",), "Drop the prompts / cancel polygon / Navigate", "Tools"),
    Shortcut("brush_smaller", ("[", "-"), "Smaller brush (also Shift+wheel)", "Tools"),
    Shortcut("brush_larger", ("]", "+", "="), "Larger brush (also Shift+wheel)", "Tools"),
    Shortcut("protect", ("L",), "Protect other labels on/off", "Tools"),
    Shortcut("polygon_apply", ("Return", "Enter"), "Accept the prompt preview / fill the polygon", "Tools"),
    Shortcut("polygon_delete", ("Backspace",), "Remove the last prompt / polygon point", "Tools"),
    Shortcut("prompt_propagate_next", ("Ctrl+Shift+Right",), "Prompt: carry the accepted slice to the next",
             "Tools"),
    Shortcut("prompt_propagate_prev", ("Ctrl+Shift+Left",), "Prompt: carry the accepted slice to the previous",
             "Tools"),
    Shortcut("label_prev", ("Q", ","), "Previous label", "Labels"),
    Shortcut("label_next", ("W", "."), "Next label", "Labels"),
    Shortcut("toggle_overlay", ("S",), "Show/hide the overlay", "Labels"),
    Shortcut("opacity_down", ("A",), "Less overlay opacity", "Labels"),
    Shortcut("opacity_up", ("D",), "More overlay opacity", "Labels"),
    Shortcut("toggle_outline", ("O",), "Outline mode on/off", "Labels"),
    Shortcut("slice_next", ("Right", "Up", "PgUp"), "Next slice (also the wheel on volumes)", "View"),
    Shortcut("slice_prev", ("Left", "Down", "PgDown"), "Previous slice", "View"),
    Shortcut("fit", ("Home",), "Fit the image to the window", "View"),
    Shortcut("auto_levels", ("Alt+I",), "Automatic window/level (2-98 %)", "View"),
    Shortcut("toggle_green", ("G",), "Green channel on/off (colour images)", "View"),
    Shortcut("message_log", ("Ctrl+Shift+M",), "Message log (every status message in full)", "View"),
    Shortcut("segment", ("Ctrl+R",), "Segment with the chosen model", "Model"),
    Shortcut("help", ("F1",), "This help", "Help"),
)

#: Mouse gestures, listed in the help dialog only.
MOUSE_HELP: tuple[tuple[str, str], ...] = (
    ("Space (hold) + drag", "Pan with any tool"),
    ("Middle-drag", "Pan"),
    ("Right-drag", "Zoom"),
    ("Wheel", "Zoom (2-D images); next/previous slice (volumes)"),
    ("Ctrl+wheel", "Zoom (volumes)"),
    ("Shift+wheel", "Brush size"),
    ("Double-click (polygon tool)", "Fill the polygon"),
    ("Left click (prompt tool)", "Positive point: this is the current label (the regions you point at are kept)"),
    ("Right click (prompt tool)", "Negative point: this is not the current label (drops the region under it)"),
    ("Left-drag (prompt tool)", "Box around the current label"),
    ("Shift+left-drag / Shift+right-drag (prompt tool)", "Positive / negative scribble"),
)
