"""Dark reading-room theme: a palette plus the stylesheet and icons from `resources/`.

Reading rooms are dim; chrome stays low-luminance so the radiograph is the brightest thing on screen.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QDir
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from pneumoviewer.core.paths import resources_dir

#: Colours used by code (overlays, status text) so they match the stylesheet.
AI_MASK_COLOR = "#e8a33d"  # amber: the model's mask
REVIEW_MASK_COLOR = "#2fd0c8"  # teal: the reviewer's mask
REFERENCE_MASK_COLOR = "#c678dd"  # purple: an imported reference layer
ADDED_MASK_COLOR = "#4fe36b"  # green: difference view, pixels the reviewer added to the AI mask
REMOVED_MASK_COLOR = "#ff4f7b"  # red: difference view, pixels of the AI mask the reviewer removed
STATUS_COLORS = {
    "unreviewed": "#8a97a6",
    "accepted": "#5cc98a",
    "corrected": "#2fd0c8",
    "negative": "#7fb2ff",
    "flagged": "#f0c04a",
}
FAILED_COLOR = "#5d6875"


def icon(name: str) -> QIcon:
    """An icon from resources/icons/<name>.svg (an empty icon when it is missing, never an error)."""
    return _icon(name)


@cache
def _icon(name: str) -> QIcon:
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def stylesheet() -> str:
    path = resources_dir() / "style.qss"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style + a dark palette (for widgets the stylesheet does not cover) + the stylesheet."""
    app.setStyle("Fusion")
    pal = QPalette()
    base, text = QColor("#12171d"), QColor("#c9d3de")
    for role, colour in (
        (QPalette.ColorRole.Window, base),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, QColor("#0d1217")),
        (QPalette.ColorRole.AlternateBase, QColor("#151c23")),
        (QPalette.ColorRole.ToolTipBase, QColor("#1d2630")),
        (QPalette.ColorRole.ToolTipText, QColor("#e3e9ef")),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, QColor("#1c2630")),
        (QPalette.ColorRole.ButtonText, text),
        (QPalette.ColorRole.Highlight, QColor("#24476b")),
        (QPalette.ColorRole.HighlightedText, QColor("#ffffff")),
        (QPalette.ColorRole.Link, QColor("#6aa8e8")),
        (QPalette.ColorRole.PlaceholderText, QColor("#5d6875")),
    ):
        pal.setColor(role, colour)
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#55606c"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#55606c"))
    app.setPalette(pal)
    QDir.addSearchPath("icons", str(resources_dir() / "icons"))  # the stylesheet's url(icons:…) images
    app.setStyleSheet(stylesheet())
    app_icon = icon("pneumoviewer")  # the packaging art, when present
    app.setWindowIcon(app_icon if not app_icon.isNull() else icon("app"))
