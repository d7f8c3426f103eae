"""Mask editing: MaskDocument, undo history and tools (numpy + scikit-image only, no Qt)."""
