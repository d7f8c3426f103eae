"""The common tool base: metadata for the GUI (name, icon, help, shortcut, options) and press/move/release.

Tools compute a modifier mask + mode and hand it to :meth:`MaskDocument.apply`; the document owns undo. A drag tool
(brush, eraser, lasso, smooth) makes one undo step of press → move → release; a click tool (fill, islands, clear)
acts on press as one undo item and ignores move/release. The polygon spans several clicks: while it is
:attr:`Tool.pending` the GUI routes Enter (:meth:`Tool.finish`), Backspace (:meth:`Tool.back`), Esc
(:meth:`Tool.cancel`) and the mouse position (:meth:`Tool.hover`) to it. Tools with a whole-mask variant offer
:meth:`Tool.apply` so the GUI can run them from a button. An undo step is named by the tool's label (what its
button says: "Undo Lasso", "Undo Polygon"), or by what it did where that says more ("Undo close 3 px").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pneumoviewer.editing.algorithms import Point, changed_bbox, polygon_modifier
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
    whole_mask: ClassVar[bool] = False  # True: the panel offers Apply, which runs the tool on the whole mask
    size_option: ClassVar[str | None] = None  # the int option `[` / `]` change (the brush radius), if any

    def __init__(self, **kwargs: Any) -> None:
        for opt in self.options:
            setattr(self, opt.name, opt.default)
        for key, value in kwargs.items():
            self.set_option(key, value)
        self.message: str = ""  # last user-facing note (e.g. why a fill did nothing), for a status bar
        #: a click this close (image px) to a handle (the polygon's first vertex) picks it (0: never); the GUI sets
        #: it from the zoom so the target is the same few screen pixels at any magnification
        self.snap_radius: float = 4.0

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
        """Radius in px of the outline cursor to draw (the size option's value), or None for a plain cross-hair."""
        return int(getattr(self, self.size_option)) if self.size_option else None

    def grow(self, step: int | None = None) -> int | None:
        """`]`: a bigger brush (steps scale with the size so large brushes change quickly); the new size or None."""
        size = self.cursor_radius
        if size is None or self.size_option is None:
            return None
        self.set_option(self.size_option, size + (step if step is not None else max(1, size // 5)))
        return self.cursor_radius

    def shrink(self, step: int | None = None) -> int | None:
        """`[`: a smaller brush; the new size or None."""
        size = self.cursor_radius
        if size is None or self.size_option is None:
            return None
        self.set_option(self.size_option, size - (step if step is not None else max(1, size // 6)))
        return self.cursor_radius

    # ---------------------------------------------------------------- events

    def press(self, doc: MaskDocument, point: Point) -> None:
        """Mouse down at (row, col) in image pixels."""

    def move(self, doc: MaskDocument, point: Point) -> None:
        """Mouse drag to (row, col)."""

    def release(self, doc: MaskDocument) -> None:
        """Mouse up: a drag tool finishes its stroke here."""

    def cancel(self, doc: MaskDocument) -> None:
        """Esc during a drag (or while a shape is pending): drop the unfinished stroke."""
        doc.cancel_stroke()

    @property
    def pending(self) -> bool:
        """True while an unfinished shape lives across clicks (an open polygon); the mask is not changed yet."""
        return False

    def preview(self) -> tuple[Sequence[Point], bool]:
        """The outline the GUI draws while the tool works (image points, pixel centres) and whether it is closed."""
        return (), False

    def handles(self) -> Sequence[Point]:
        """Points the GUI marks on the outline (the polygon's vertices)."""
        return ()

    def hover(self, point: Point) -> None:
        """The mouse moved with no button down (the polygon's rubber band follows it)."""

    def back(self) -> bool:
        """Backspace while pending: step back (the polygon drops its last vertex); True if something changed."""
        return False

    def finish(self, doc: MaskDocument) -> bool:
        """Enter (or a double-click) while pending: complete the shape; False (and a :attr:`message`) if it cannot."""
        return False

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


def fill_outline(doc: MaskDocument, points: Sequence[Point], mode: str, label: str) -> bool:
    """Add (or cut out) the closed outline through `points` as one undo step `label`; False if it has no area.

    The lasso and the polygon share it, so a dragged and a clicked outline fill the same pixels.
    """
    hit = polygon_modifier(points, doc.shape)
    if hit is None:
        return False
    doc.begin_stroke(label)
    doc.apply(hit[0], hit[1], mode)
    doc.end_stroke()
    return True


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
