"""The menu bar and the toolbar, declared: which action goes where, by name. Nothing is inserted later.

An entry is an action name, ``None`` (separator), a ``(title, entries)`` submenu, or an ``@slot`` the caller fills
(a dynamic submenu such as *Open Recent*, or a widget on the toolbar).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Union

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMenuBar, QSizePolicy, QToolBar, QWidget

from pneumoviewer.editing.tools import TOOLS
from pneumoviewer.gui.actions import PRESET_ACTIONS

Entry = Union[str, None, tuple[str, Sequence["Entry"]]]  # noqa: UP007 - a recursive alias needs the string form

MENUS: tuple[tuple[str, tuple[Entry, ...]], ...] = (
    ("&File", ("open", ("Open &Recent", ("@recent",)), "open_demo", None, "export", "import", None, "quit")),
    ("&View", (
        "fit", "one_to_one", "zoom_in", "zoom_out", None, "invert", "reset",
        ("Window &Presets", (*PRESET_ACTIONS, None, "save_preset")),
        None, "masks", "contour", "layer_ai", "layer_mine", "reference_layer", "difference",
        None, "dock_worklist", "dock_details", "dock_edit",
        None, "dataset", None, "show_ids",
    )),
    ("&Review", (
        "next", "previous", None, "accept", "negative", "flag", "flag_comment", "clear_flag", None, "auto_advance",
        None, "triage", "search",
    )),
    ("&Edit", ("undo", "redo", None, "pan", *(f"tool_{n}" for n in TOOLS), None, "shrink", "grow")),
    ("&AI", ("run_ai", "rerun_ai", "cancel_ai", None, "choose_model")),
    ("&Help", ("shortcuts", "about")),
)

TOOLBAR: tuple[Entry, ...] = (
    "open", None, "previous", "next", None, "fit", "one_to_one", "invert", "reset", "@presets", None, "masks",
    "difference", None, "triage", "accept", "negative", "flag", None, "run_ai", "cancel_ai", "@spacer", "@disclaimer",
    "shortcuts",
)


def build_menus(bar: QMenuBar, actions: Mapping[str, QAction]) -> dict[str, QMenu]:
    """Fill `bar` from :data:`MENUS`; returns the menus that hold an ``@slot`` (by slot name) for the caller."""
    slots: dict[str, QMenu] = {}

    def fill(menu: QMenu, entries: Sequence[Entry]) -> None:
        for entry in entries:
            if entry is None:
                menu.addSeparator()
            elif isinstance(entry, tuple):
                fill(menu.addMenu(entry[0]), entry[1])
            elif entry.startswith("@"):
                slots[entry[1:]] = menu
            else:
                menu.addAction(actions[entry])

    for title, entries in MENUS:
        fill(bar.addMenu(title), entries)
    return slots


def build_toolbar(bar: QToolBar, actions: Mapping[str, QAction], widgets: Mapping[str, QWidget]) -> None:
    """Fill `bar` from :data:`TOOLBAR`; ``@spacer`` pushes what follows to the right."""
    for entry in TOOLBAR:
        if entry is None:
            bar.addSeparator()
        elif isinstance(entry, str) and entry == "@spacer":
            spacer = QWidget()
            spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            bar.addWidget(spacer)
        elif isinstance(entry, str) and entry.startswith("@"):
            bar.addWidget(widgets[entry[1:]])
        elif isinstance(entry, str):
            bar.addAction(actions[entry])
