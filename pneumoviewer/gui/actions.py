"""The action registry: every QAction of the window built from one spec table, its keys from `gui.shortcuts`.

`app.py` passes the slot of every action (`build_actions(window, slots)`): a spec without a slot, or a slot without a
spec, is an error at start-up, so no action is left unwired and none is patched in later. Menus and the toolbar
(`gui.menus`) place actions by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from pneumoviewer.editing.tools import TOOLS
from pneumoviewer.gui import theme
from pneumoviewer.gui.shortcuts import BY_ACTION, key_sequences, tooltip

PRESET_ACTIONS = {
    "preset_default": "DICOM default",
    "preset_lung": "Lung",
    "preset_bone": "Bone",
    "preset_contrast": "High contrast",
    "preset_full": "Full range",
}


@dataclass(frozen=True)
class ActionSpec:
    name: str
    text: str
    icon: str | None = None
    checkable: bool = False
    tip: str | None = None  # tooltip without the key (default: the text)


SPECS: tuple[ActionSpec, ...] = (
    ActionSpec("open", "&Open Folder…", "open"),
    ActionSpec("open_demo", "Open &Demo Studies"),
    ActionSpec("quit", "&Quit"),
    ActionSpec("next", "&Next Image", "next"),
    ActionSpec("previous", "&Previous Image", "prev"),
    ActionSpec("accept", "&Accept AI", "accept"),
    ActionSpec("negative", "Mark &Negative", "negative"),
    ActionSpec("flag", "&Flag", "flag"),
    ActionSpec("flag_comment", "Flag with &Comment…", "flag", tip="Flag for a second look and say why"),
    ActionSpec("clear_flag", "C&lear Flag", tip="The second look is done: the image is no longer flagged"),
    ActionSpec("auto_advance", "Auto-&advance after A / N / F", checkable=True,
               tip="After a decision (accept, negative, flag) the next image of the worklist opens"),
    ActionSpec("triage", "&Triage: Sort by AI Probability", "triage"),
    ActionSpec("search", "&Search ImageId or Comment"),
    ActionSpec("fit", "&Fit to Window", "fit"),
    ActionSpec("one_to_one", "&1:1 Pixels", "one_to_one"),
    ActionSpec("zoom_in", "Zoom &In"),
    ActionSpec("zoom_out", "Zoom &Out"),
    ActionSpec("invert", "&Invert", "invert", checkable=True),
    ActionSpec("reset", "&Reset View", "reset"),
    *(ActionSpec(name, f"Window: {preset}") for name, preset in PRESET_ACTIONS.items()),
    ActionSpec("save_preset", "&Save Current Window as Preset…"),
    ActionSpec("masks", "Show &Masks", "mask", checkable=True),
    ActionSpec("contour", "&Contour Overlay", checkable=True),
    ActionSpec("layer_ai", "Show &AI Layer", checkable=True, tip="Show the AI mask layer (amber)"),
    ActionSpec("layer_mine", "Show M&y Mask Layer", checkable=True, tip="Show my mask layer (teal)"),
    ActionSpec("reference_layer", "Show &Reference Layer", checkable=True,
               tip="Show the imported reference masks (purple) under the reviewer's mask"),
    ActionSpec("difference", "&Difference View", checkable=True,
               tip="Pixels I added (green) and removed (red) compared with the AI mask"),
    ActionSpec("run_ai", "&Run AI on Folder", "ai"),
    ActionSpec("rerun_ai", "Re-run AI on &All Images",
               tip="Run the model again on every image, results already stored included"),
    ActionSpec("cancel_ai", "&Stop AI", "stop"),
    ActionSpec("choose_model", "&Model…", tip="Choose the AI model for this folder (remembered per folder)"),
    ActionSpec("dataset", "&Dataset…", tip="Dataset and model-QA figures of this folder"),
    ActionSpec("undo", "&Undo"),
    ActionSpec("redo", "&Redo"),
    ActionSpec("shrink", "Smaller Brush", tip="Smaller brush"),
    ActionSpec("grow", "Bigger Brush", tip="Bigger brush"),
    ActionSpec("pan", "&Pan (no tool)", tip="Pan: left-drag moves the image"),
    *(ActionSpec(f"tool_{name}", cls.label, tip=f"{cls.label}: {cls.help}") for name, cls in TOOLS.items()),
    ActionSpec("shortcuts", "&Keyboard Shortcuts", "keyboard"),
    ActionSpec("about", "&About PneumoViewer"),
    ActionSpec("show_ids", "Show Patient &Key (identifier)", checkable=True),
)

#: Actions that change the review: disabled while the folder's store is open read-only.
EDITING_ACTIONS: tuple[str, ...] = (
    "accept", "negative", "flag", "flag_comment", "clear_flag", "undo", "redo", "pan", "shrink", "grow",
    *(f"tool_{name}" for name in TOOLS),
)


def build_actions(parent: QWidget, slots: Mapping[str, Callable[..., Any]]) -> dict[str, QAction]:
    """One QAction per spec on `parent` (window-wide shortcuts); checkable ones call their slot with the state."""
    names = {s.name for s in SPECS}
    if names != set(slots):
        missing, extra = sorted(names - set(slots)), sorted(set(slots) - names)
        raise KeyError(f"action slots do not match the registry: missing {missing}, unknown {extra}")
    actions: dict[str, QAction] = {}
    for spec in SPECS:
        act = QAction(spec.text, parent)
        act.setObjectName(f"action_{spec.name}")
        if spec.name in BY_ACTION:
            act.setShortcuts(key_sequences(spec.name))
            act.setToolTip(tooltip(spec.name, spec.tip or spec.text.replace("…", "").replace("&", "")))
        elif spec.tip:
            act.setToolTip(spec.tip)
        if spec.icon:
            act.setIcon(theme.icon(spec.icon))
        act.setCheckable(spec.checkable)
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        slot = slots[spec.name]
        if spec.checkable:
            act.toggled.connect(slot)
        else:
            act.triggered.connect(lambda _checked=False, s=slot: s())
        parent.addAction(act)
        actions[spec.name] = act
    return actions


def set_checked_quietly(action: QAction, on: bool) -> None:
    """Mirror a state into a checkable action without calling its slot back."""
    action.blockSignals(True)
    action.setChecked(bool(on))
    action.blockSignals(False)


def follow_history(actions: Mapping[str, QAction], editor: Any) -> None:
    """Undo / Redo say what they would undo ('Undo brush', 'Undo mark negative') and grey out when empty."""

    def sync() -> None:
        doc = editor.document
        for name, can, label in (
            ("undo", doc is not None and doc.can_undo, doc.undo_label if doc is not None else None),
            ("redo", doc is not None and doc.can_redo, doc.redo_label if doc is not None else None),
        ):
            base = "&Undo" if name == "undo" else "&Redo"
            actions[name].setEnabled(bool(can))
            actions[name].setText(f"{base} {label}" if label else base)

    editor.historyChanged.connect(sync)
    sync()
