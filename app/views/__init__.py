"""Views: the slice view (image + label overlay) and its mouse/keyboard editing controller."""
