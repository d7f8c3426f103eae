"""The common tool base: metadata for the GUI (name, icon, help, shortcut, options) and press/move/release.

Tools compute a modifier mask + mode and hand it to :meth:`MaskDocument.apply`; the document owns undo. A drag tool
(brush, eraser, polygon) opens one stroke on press and closes it on release; a click tool (fill, islands,
morphology, clear) acts on press as one undo item and ignores move/release. Click tools that act on the whole
mask also offer :meth:`Tool.apply` so the GUI can run them from a button.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pneumoviewer.editing.algorithms import Point, changed_bbox
from pneumoviewer.editing.document import MaskDocument, Mode


@dataclass(frozen=True)
class ToolOption:
    """One user-adjustable setting, described so a panel can build its widget generically."""

    name: str  # attribute name on the tool
    label: str
    kind: str  # "int" | "choice" | "bool"
    default: Any
    minimum: int | None = None
    maximum: int | None = None
    choices: Sequence[str] = ()
    help: str = ""
    suffix: str = ""  # unit shown after a number ("px")


class Tool:
    """Base class; subclasses set the metadata class attributes and override the hooks they need."""

    name: ClassVar[str] = "tool"  # stable id, also the registry key
    label: ClassVar[str] = "Tool"
    icon: ClassVar[str] = ""  # icon file stem under resources/icons (e.g. "brush" → brush.svg)
    help: ClassVar[str] = ""
    shortcut: ClassVar[str] = ""  # single key; the GUI also binds number keys by registry order
    options: ClassVar[tuple[ToolOption, ...]] = ()
    drag: ClassVar[bool] = False  # True: press→move→release is one stroke; False: acts on press
    whole_mask: ClassVar[bool] = False  # True: acts on the whole mask; the click position does not matter

    def __init__(self, **kwargs: Any) -> None:
        for opt in self.options:
            setattr(self, opt.name, opt.default)
        for key, value in kwargs.items():
            self.set_option(key, value)
        self.message: str = ""  # last user-facing note (e.g. why a fill did nothing), for a status bar

    # ---------------------------------------------------------------- options

    def option(self, name: str) -> ToolOption:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise KeyError(f"{self.name} has no option {name!r}")

    def set_option(self, name: str, value: Any) -> None:
        """Validate and set an option (ints are clamped to their range, choices checked)."""
        opt = self.option(name)
        if opt.kind == "int":
            value = round(float(value))
            if opt.minimum is not None:
                value = max(opt.minimum, value)
            if opt.maximum is not None:
                value = min(opt.maximum, value)
        elif opt.kind == "choice":
            value = value.value if hasattr(value, "value") else str(value)
            if value not in opt.choices:
                raise ValueError(f"{self.name}.{name} must be one of {tuple(opt.choices)}, got {value!r}")
        elif opt.kind == "bool":
            value = bool(value)
        setattr(self, name, value)

    def option_values(self) -> dict[str, Any]:
        return {opt.name: getattr(self, opt.name) for opt in self.options}

    @property
    def cursor_radius(self) -> int | None:
        """Radius in px of the outline cursor to draw, or None for a plain cross-hair."""
        return None

    # ---------------------------------------------------------------- events

    def press(self, doc: MaskDocument, point: Point) -> None:
        """Mouse down at (row, col) in image pixels."""

    def move(self, doc: MaskDocument, point: Point) -> None:
        """Mouse drag to (row, col)."""

    def release(self, doc: MaskDocument) -> None:
        """Mouse up: a drag tool finishes its stroke here."""

    def cancel(self, doc: MaskDocument) -> None:
        """Esc during a drag: drop the unfinished stroke."""
        doc.cancel_stroke()

    def apply(self, doc: MaskDocument) -> bool:
        """Run a whole-mask tool once (from a button); False when the tool needs a click or nothing changed."""
        return False

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.option_values().items())
        return f"{type(self).__name__}({opts})"


MODE_OPTION = ToolOption(
    "mode",
    "Mode",
    "choice",
    Mode.ADD.value,
    choices=(Mode.ADD.value, Mode.REMOVE.value),
    help="Add to the mask or remove from it",
)


def commit_whole(doc: MaskDocument, new_mask: Any, label: str) -> bool:
    """Apply a whole-mask result as one undo item, restricted to the rectangle that actually changed."""
    box = changed_bbox(doc.mask, new_mask)
    if box is None:
        return False
    r0, r1, c0, c1 = box
    doc.begin_stroke(label)
    doc.apply(np.asarray(new_mask[r0:r1, c0:c1], dtype=bool), box, Mode.SET)
    doc.end_stroke()
    return True
