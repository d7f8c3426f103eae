"""Every keyboard shortcut in one table: the action registry (`gui.actions`), tooltips and the Help ▸ Shortcuts sheet
all read it; no other module names a key."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from pneumoviewer.editing.tools import TOOLS


@dataclass(frozen=True)
class Shortcut:
    action: str
    keys: tuple[str, ...]  # QKeySequence strings; the first is shown in tooltips
    text: str
    group: str


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("open", ("Ctrl+O",), "Open a folder of DICOM studies", "File"),
    Shortcut("export", ("Ctrl+E",), "Export masks: SIIM CSV, PNG, DICOM SEG", "File"),
    Shortcut("quit", ("Ctrl+Q",), "Quit", "File"),
    Shortcut("next", ("J", "Down"), "Next image", "Worklist"),
    Shortcut("previous", ("K", "Up"), "Previous image", "Worklist"),
    Shortcut("accept", ("A",), "Accept the AI result", "Worklist"),
    Shortcut("negative", ("N",), "Mark negative (no pneumothorax)", "Worklist"),
    Shortcut("flag", ("F",), "Flag for a second look", "Worklist"),
    Shortcut("flag_comment", ("Shift+F",), "Flag with a comment (says why)", "Worklist"),
    Shortcut("triage", ("T",), "Sort by AI probability, highest first, and go to the top", "Worklist"),
    Shortcut("search", ("Ctrl+F",), "Search ImageId or comment", "Worklist"),
    Shortcut("fit", ("Home",), "Fit image to window", "View"),
    Shortcut("one_to_one", ("Ctrl+1",), "One image pixel per screen pixel", "View"),
    Shortcut("zoom_in", ("Ctrl+=", "Ctrl++"), "Zoom in (or mouse wheel)", "View"),
    Shortcut("zoom_out", ("Ctrl+-",), "Zoom out (or mouse wheel)", "View"),
    Shortcut("invert", ("I",), "Invert grey scale", "View"),
    Shortcut("reset", ("R",), "Reset window/level, inversion and zoom", "View"),
    Shortcut("preset_default", ("F2",), "Window: DICOM default", "View"),
    Shortcut("preset_lung", ("F3",), "Window: lung", "View"),
    Shortcut("preset_bone", ("F4",), "Window: bone", "View"),
    Shortcut("preset_contrast", ("F5",), "Window: high contrast", "View"),
    Shortcut("preset_full", ("F6",), "Window: full range", "View"),
    Shortcut("masks", ("M",), "Show / hide mask overlays", "View"),
    Shortcut("contour", ("C",), "Overlay: fill ↔ contour", "View"),
    Shortcut("layer_ai", ("Alt+1",), "Show / hide the AI mask layer (amber)", "View"),
    Shortcut("layer_mine", ("Alt+2",), "Show / hide my mask layer (teal)", "View"),
    Shortcut("reference_layer", ("Alt+3",), "Show / hide the reference layer (purple)", "View"),
    Shortcut("difference", ("D",), "Difference view: pixels I added (green) / removed (red) vs the AI mask", "View"),
    Shortcut("run_ai", ("Ctrl+R",), "Run AI on the images without a result", "AI"),
    Shortcut("cancel_ai", ("Ctrl+.",), "Stop AI for the rest of the folder", "AI"),
    *(
        Shortcut(f"tool_{name}", (str(i),), f"Tool: {cls.label}", "Edit mask")
        for i, (name, cls) in enumerate(TOOLS.items(), start=1)
    ),
    Shortcut("pan", ("0",), "No tool: left-drag pans", "Edit mask"),
    Shortcut("shrink", ("[",), "Smaller brush (size in px and mm)", "Edit mask"),
    Shortcut("grow", ("]",), "Bigger brush", "Edit mask"),
    Shortcut("undo", ("Ctrl+Z",), "Undo the last mask edit or decision (its status too)", "Edit mask"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", "Edit mask"),
    Shortcut("edit_cancel", ("Esc",), "Cancel the stroke being drawn", "Edit mask"),
    Shortcut("shortcuts", ("F1", "?"), "This sheet", "Help"),
)

#: Mouse gestures on the image (not actions, listed in the sheet).
MOUSE: tuple[tuple[str, str], ...] = (
    ("Wheel", "Zoom at the cursor"),
    ("Left drag", "Pan (when no editing tool is active)"),
    ("Middle drag / Space + drag", "Pan"),
    ("Right drag", "Window / level: ← → width, ↑ ↓ level"),
    ("Left drag with a tool", "Paint / erase / lasso the reviewer's mask; Shift flips add ↔ remove"),
    ("Histogram (right)", "Drag the range to window, the ends to change width"),
)

BY_ACTION = {s.action: s for s in SHORTCUTS}


def key_sequences(action: str) -> list[QKeySequence]:
    return [QKeySequence(k) for k in BY_ACTION[action].keys]


def tooltip(action: str, text: str | None = None) -> str:
    """'Text (Key)' for tool buttons."""
    s = BY_ACTION[action]
    shown = QKeySequence(s.keys[0]).toString(QKeySequence.SequenceFormat.NativeText)
    return f"{text or s.text} ({shown})"


def sheet_html() -> str:
    rows: list[str] = []
    group = None
    for s in SHORTCUTS:
        if s.group != group:
            group = s.group
            rows.append(f'<tr><td colspan="2" style="padding-top:10px;color:#8fa3b8"><b>{group}</b></td></tr>')
        keys = " / ".join(
            f"<code>{QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText)}</code>" for k in s.keys
        )
        rows.append(f"<tr><td style='padding-right:18px; white-space:nowrap'>{keys}</td><td>{s.text}</td></tr>")
    rows.append('<tr><td colspan="2" style="padding-top:10px;color:#8fa3b8"><b>Mouse on the image</b></td></tr>')
    for gesture, text in MOUSE:
        rows.append(
            f"<tr><td style='padding-right:18px; white-space:nowrap'><code>{gesture}</code></td><td>{text}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


class ShortcutsDialog(QDialog):
    """Help ▸ Shortcuts: the whole keyboard and mouse map on one sheet.

    Sized to its content within the screen (`fit_to`): as wide as its widest row, so there is no horizontal
    scrollbar and nothing is cut off; as tall as the sheet up to 90 % of the screen, then it scrolls vertically. On a
    screen narrower than the sheet the descriptions wrap (the keys never do).
    """

    SCREEN_SHARE = 0.9  # of the available screen, at most, in each direction

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard and mouse shortcuts")
        self.label = QLabel(sheet_html())
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setMargin(8)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.label)
        self.scroll.setWidgetResizable(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll)
        layout.addWidget(self.buttons)
        screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
        if screen is not None:  # before it is shown, so the dialog is centred at its final size
            self.fit_to(screen.availableGeometry())

    def fit_to(self, available: QRect) -> None:
        """Resize to the sheet's own size, within `available` (a screen's available area)."""
        self.label.setWordWrap(False)
        content = self.label.sizeHint()  # unwrapped: the widest row decides the width
        margins = self.layout().contentsMargins()
        frame = 2 * self.scroll.frameWidth()
        # room for the vertical scrollbar always: when it appears it must not push the rows under a horizontal one
        chrome_w = frame + self.scroll.verticalScrollBar().sizeHint().width() + margins.left() + margins.right()
        chrome_h = frame + margins.top() + margins.bottom() + self.layout().spacing() + self.buttons.sizeHint().height()
        max_w, max_h = int(available.width() * self.SCREEN_SHARE), int(available.height() * self.SCREEN_SHARE)
        width = content.width() + chrome_w
        if width > max_w:
            self.label.setWordWrap(True)
            width = max_w
            content.setHeight(self.label.heightForWidth(width - chrome_w))
        self.resize(width, min(content.height() + chrome_h, max_h))
