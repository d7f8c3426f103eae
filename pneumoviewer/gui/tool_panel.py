"""The editing tool panel: one button per tool (icons, number-key tooltips), the active tool's options built
generically from its `options`, an Apply button for whole-mask tools, and Undo / Redo buttons that name the step.

The panel only reflects and drives an `EditingController`; every control writes through the controller and is
refreshed from its signals with its own signals blocked (no feedback loops).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pneumoviewer.editing.tools import TOOLS, ToolOption
from pneumoviewer.gui import theme
from pneumoviewer.gui.editing_controller import EditingController

PAN = ""  # the "no tool" entry (left-drag pans)


def tool_icon(name: str) -> Any:
    """Icon of a tool by its icon stem (resources/icons/tools/<stem>.svg)."""
    return theme.icon(f"tools/{name}")


def _choice_text(value: str) -> str:
    return value.replace("_", " ").capitalize()


#: The widest text an Undo / Redo button shows: a long step name ("Islands: keep largest …") is elided, so the dock
#: keeps its width and the image does not jump under the pen.
HISTORY_TEXT_WIDTH = 110


def set_elided(button: QPushButton, text: str, hint: str) -> None:
    """Show `text` elided to HISTORY_TEXT_WIDTH pixels; the tooltip carries the whole text and the key."""
    shown = button.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, HISTORY_TEXT_WIDTH)
    button.setText(shown)
    button.setToolTip(f"{text} — {hint}" if shown != text else hint)


class ToolPanel(QWidget):
    """Tool buttons + options + Apply + Undo/Redo for an `EditingController`."""

    def __init__(self, controller: EditingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tool_panel")
        self.controller = controller
        self.buttons: dict[str, QToolButton] = {}
        self.option_widgets: dict[tuple[str, str], QWidget] = {}
        self.size_labels: dict[str, QLabel] = {}

        grid = QGridLayout()
        grid.setSpacing(4)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        entries = [(PAN, "Pan", "pan", "Pan: left-drag moves the image", "0")]
        entries += [(n, c.label, c.icon, c.help, str(i)) for i, (n, c) in enumerate(TOOLS.items(), start=1)]
        for i, (name, label, icon, help_text, key) in enumerate(entries):
            b = QToolButton()
            b.setObjectName(f"tool_button_{name or 'pan'}")
            b.setCheckable(True)
            b.setIcon(tool_icon(icon))
            b.setText(label)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            b.setToolTip(f"<b>{label}</b> ({key})<br>{help_text}")
            b.setMinimumWidth(58)
            b.clicked.connect(lambda _c=False, n=name: self.controller.set_tool(n or None))
            self.group.addButton(b)
            self.buttons[name] = b
            grid.addWidget(b, i // 4, i % 4)

        self.title = QLabel("")
        self.title.setObjectName("tool_title")
        self.help = QLabel("")
        self.help.setWordWrap(True)
        self.help.setObjectName("tool_help")
        self.pages = QStackedWidget()
        self._page_index: dict[str, int] = {PAN: self.pages.addWidget(QWidget())}
        for name, cls in TOOLS.items():
            self._page_index[name] = self.pages.addWidget(self._options_page(name, cls.options))

        self.apply_button = QPushButton(tool_icon("apply"), "Apply")
        self.apply_button.setObjectName("tool_apply")
        self.apply_button.setToolTip("Run the tool on the whole mask (one undo step)")
        self.apply_button.clicked.connect(self._apply)

        self.undo_button = QPushButton(tool_icon("undo"), "Undo")
        self.undo_button.setObjectName("tool_undo")
        self.redo_button = QPushButton(tool_icon("redo"), "Redo")
        self.redo_button.setObjectName("tool_redo")
        self.undo_button.clicked.connect(self.controller.undo)
        self.redo_button.clicked.connect(self.controller.redo)
        history = QHBoxLayout()
        history.addWidget(self.undo_button)
        history.addWidget(self.redo_button)

        self.message = QLabel("")
        self.message.setObjectName("tool_message")
        self.message.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(grid)
        layout.addWidget(self.title)
        layout.addWidget(self.help)
        layout.addWidget(self.pages)
        layout.addWidget(self.apply_button)
        layout.addLayout(history)
        layout.addWidget(self.message)
        layout.addStretch(1)

        c = self.controller
        c.toolChanged.connect(self._on_tool)
        c.optionChanged.connect(self._on_option)
        c.historyChanged.connect(self._on_history)
        c.documentChanged.connect(self._on_history)
        c.documentChanged.connect(self._refresh_sizes)
        c.message.connect(self.message.setText)
        self._on_tool(c.tool_name)
        self._on_history()

    # ------------------------------------------------------------------------------------------------ building
    def _options_page(self, tool: str, options: tuple[ToolOption, ...]) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        for opt in options:
            w = self._option_widget(tool, opt)
            w.setToolTip(opt.help)
            self.option_widgets[(tool, opt.name)] = w
            if opt.name == "radius" and opt.kind == "int":
                row = QHBoxLayout()
                row.addWidget(w)
                size = QLabel("")
                size.setObjectName(f"size_{tool}")
                self.size_labels[tool] = size
                row.addWidget(size)
                form.addRow(opt.label, row)
            else:
                form.addRow(opt.label, w)
        return page

    def _option_widget(self, tool: str, opt: ToolOption) -> QWidget:
        value = getattr(self.controller.tools[tool], opt.name)
        if opt.kind == "int":
            spin = QSpinBox()
            spin.setRange(opt.minimum if opt.minimum is not None else 0, opt.maximum or 1_000_000)
            spin.setValue(int(value))
            if opt.suffix:
                spin.setSuffix(f" {opt.suffix}")
            spin.valueChanged.connect(lambda v, t=tool, n=opt.name: self.controller.set_option(n, v, tool=t))
            return spin
        if opt.kind == "choice":
            combo = QComboBox()
            for choice in opt.choices:
                combo.addItem(_choice_text(choice), choice)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            combo.currentIndexChanged.connect(
                lambda _i, t=tool, n=opt.name, cb=combo: self._set_choice(t, n, cb.currentData())
            )
            return combo
        box = QCheckBox()
        box.setChecked(bool(value))
        box.toggled.connect(lambda v, t=tool, n=opt.name: self.controller.set_option(n, v, tool=t))
        return box

    def _set_choice(self, tool: str, name: str, value: str) -> None:
        self.controller.set_option(name, value, tool=tool)
        if tool == self.controller.tool_name:
            self._sync_apply()

    # ------------------------------------------------------------------------------------------------ reflecting
    def _on_tool(self, name: str) -> None:
        b = self.buttons.get(name)
        if b is not None and not b.isChecked():
            b.blockSignals(True)
            b.setChecked(True)
            b.blockSignals(False)
        self.pages.setCurrentIndex(self._page_index.get(name, 0))
        self.message.setText("")  # notes belong to the previous tool
        if name:
            cls = TOOLS[name]
            self.title.setText(f"<b>{cls.label}</b>")
            self.help.setText(cls.help)
        else:
            self.title.setText("<b>Pan</b>")
            self.help.setText(f"Left-drag moves the image. Pick a tool (1–{len(TOOLS)}) to edit the reviewer's mask.")
        self._sync_apply()
        self._refresh_sizes()

    def _sync_apply(self) -> None:
        t = self.controller.tool
        whole = bool(t is not None and t.whole_mask)
        self.apply_button.setVisible(whole)
        self.apply_button.setEnabled(whole and self.controller.document is not None)

    def _on_option(self, tool: str, name: str) -> None:
        w = self.option_widgets.get((tool, name))
        value = getattr(self.controller.tools[tool], name)
        if isinstance(w, QSpinBox) and w.value() != int(value):
            w.blockSignals(True)
            w.setValue(int(value))
            w.blockSignals(False)
        elif isinstance(w, QComboBox):
            w.blockSignals(True)
            w.setCurrentIndex(max(0, w.findData(value)))
            w.blockSignals(False)
        elif isinstance(w, QCheckBox):
            w.blockSignals(True)
            w.setChecked(bool(value))
            w.blockSignals(False)
        if name == "radius":
            self._refresh_sizes()

    def _refresh_sizes(self) -> None:
        from pneumoviewer.editing import radius_mm

        spacing = self.controller.pixel_spacing
        for tool, label in self.size_labels.items():
            mm = radius_mm(getattr(self.controller.tools[tool], "radius", 0), spacing)
            label.setText(f"≈ {mm:.1f} mm" if mm is not None else "")

    def _on_history(self) -> None:
        doc = self.controller.document
        u = doc.undo_label if doc is not None else None
        r = doc.redo_label if doc is not None else None
        set_elided(self.undo_button, f"Undo {u}" if u else "Undo", "Undo the last edit (Ctrl+Z)")
        set_elided(self.redo_button, f"Redo {r}" if r else "Redo", "Redo (Ctrl+Shift+Z / Ctrl+Y)")
        self.undo_button.setEnabled(doc is not None and doc.can_undo)
        self.redo_button.setEnabled(doc is not None and doc.can_redo)
        self._sync_apply()

    def _apply(self) -> None:
        self.controller.apply_whole()
