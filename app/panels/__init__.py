"""Dock panels: cases, display, segmentation, labels and tools (compare and export come later as more panels)."""
