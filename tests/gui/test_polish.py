"""Polish of the window chrome (issue 14): the title names the app once, the shortcuts sheet fits the screen, and
the dark theme's check boxes, radio buttons and spin arrows are legible."""

from __future__ import annotations

from collections import Counter

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QGuiApplication, QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QRadioButton,
    QSpinBox,
    QStyle,
    QStyleOptionButton,
    QStyleOptionSpinBox,
    QVBoxLayout,
    QWidget,
)

from pneumoviewer.gui.shortcuts import SHORTCUTS, ShortcutsDialog

from .conftest import open_and_wait

# WCAG 2.1 §1.4.11 (non-text contrast): the visual boundary of a control needs 3:1 against what is next to it.
MIN_CONTRAST = 3.0


def luminance(c: QColor) -> float:
    def lin(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(c.red()) + 0.7152 * lin(c.green()) + 0.0722 * lin(c.blue())


def contrast(a: QColor, b: QColor) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def best_contrast(img: QImage, points: list[tuple[int, int]], against: QColor) -> float:
    return max(contrast(img.pixelColor(x, y), against) for x, y in points)


def test_the_title_names_the_folder_and_the_app_once(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    app_name = QGuiApplication.applicationDisplayName()
    assert w.windowTitle() == app_name  # before a folder: the app alone
    open_and_wait(qtbot, w, phantom_dataset.root)
    title = w.windowTitle()
    assert title == f"{phantom_dataset.root.name} — {app_name}"
    # Qt (X11, Wayland, Windows) appends the display name unless the title already ends with it: it must
    assert title.endswith(app_name) and title.count(app_name) == 1
    assert title.count(phantom_dataset.root.name) == 1


@pytest.mark.parametrize("screen", [QRect(0, 0, 1366, 728), QRect(0, 0, 1024, 560), QRect(0, 0, 640, 440)],
                         ids=["1366x768", "1024x600", "narrow"])
def test_the_shortcuts_sheet_fits_the_screen_without_a_horizontal_scrollbar(qtbot, screen):
    dialog = ShortcutsDialog()
    qtbot.addWidget(dialog)
    dialog.show()  # fitted to the (offscreen) screen it opens on
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: not dialog.scroll.horizontalScrollBar().isVisible(), timeout=2000)
    dialog.fit_to(screen)  # as on a screen of this size
    viewport = dialog.scroll.viewport()
    assert dialog.width() <= screen.width() and dialog.height() <= screen.height()
    qtbot.waitUntil(lambda: not dialog.scroll.horizontalScrollBar().isVisible(), timeout=2000)
    assert dialog.label.width() <= viewport.width()  # no row runs past the visible width
    if not dialog.label.wordWrap():  # the whole sheet at its natural width: its widest row fits
        assert dialog.label.sizeHint().width() <= viewport.width()
    else:  # a narrow screen: the rows wrap to the visible width, still no clipping
        assert dialog.label.heightForWidth(viewport.width()) <= dialog.label.height()
    text = dialog.label.text()
    assert all(s.text in text for s in SHORTCUTS)


def test_on_a_laptop_the_sheet_shows_each_row_whole_at_its_natural_width(qtbot):
    dialog = ShortcutsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.width() <= QGuiApplication.primaryScreen().availableGeometry().width()  # fitted when shown
    dialog.fit_to(QRect(0, 0, 1366, 728))
    assert not dialog.label.wordWrap()  # 1366 px is wide enough: nothing wraps, nothing is cut
    assert dialog.height() > 600  # as tall as the screen allows, not the old fixed 640 × 520 box


@pytest.fixture
def themed_controls(qtbot):
    host = QWidget()
    layout = QVBoxLayout(host)
    check, radio, spin = QCheckBox("Show reference layer"), QRadioButton("Fill"), QSpinBox()
    spin.setRange(0, 10)
    spin.setValue(5)  # neither arrow at a limit
    for widget in (check, radio, spin):
        layout.addWidget(widget)
    host.resize(320, 140)
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    return host, check, radio, spin


def _sides(rect: QRect) -> list[list[tuple[int, int]]]:
    """Pixels around the middle of each side of `rect` (a border drawn there, anti-aliased or not, is hit)."""
    c = rect.center()
    return [
        [(c.x() + dx, rect.top() + dy) for dx in (-1, 0, 1) for dy in (0, 1)],
        [(c.x() + dx, rect.bottom() - dy) for dx in (-1, 0, 1) for dy in (0, 1)],
        [(rect.left() + dx, c.y() + dy) for dx in (0, 1) for dy in (-1, 0, 1)],
        [(rect.right() - dx, c.y() + dy) for dx in (0, 1) for dy in (-1, 0, 1)],
    ]


@pytest.mark.parametrize("kind", ["check", "radio"])
def test_unchecked_indicators_have_a_visible_outline_on_the_dark_theme(themed_controls, kind):
    _host, check, radio, _spin = themed_controls
    widget = check if kind == "check" else radio
    assert not widget.isChecked()
    opt = QStyleOptionButton()
    widget.initStyleOption(opt)
    element = QStyle.SubElement.SE_CheckBoxIndicator if kind == "check" else QStyle.SubElement.SE_RadioButtonIndicator
    rect = widget.style().subElementRect(element, opt, widget)
    img = widget.grab().toImage()
    background = img.pixelColor(QPoint(img.width() - 2, img.height() // 2))  # the panel right of the label
    for side in _sides(rect):
        assert best_contrast(img, side, background) >= MIN_CONTRAST


def test_spin_arrows_are_legible_on_the_dark_theme(themed_controls):
    *_, spin = themed_controls
    opt = QStyleOptionSpinBox()
    spin.initStyleOption(opt)
    img = spin.grab().toImage()
    for control in (QStyle.SubControl.SC_SpinBoxUp, QStyle.SubControl.SC_SpinBoxDown):
        rect = spin.style().subControlRect(QStyle.ComplexControl.CC_SpinBox, opt, control, spin)
        assert rect.width() >= 8 and rect.height() >= 6
        points = [(x, y) for x in range(rect.left() + 1, rect.right()) for y in range(rect.top() + 1, rect.bottom())]
        colours = Counter(img.pixelColor(x, y).rgb() for x, y in points)
        button = QColor.fromRgb(colours.most_common(1)[0][0])  # the button face
        assert best_contrast(img, points, button) >= MIN_CONTRAST  # the arrow drawn on it


def test_every_image_the_stylesheet_names_is_shipped():
    import re

    from pneumoviewer.core.paths import resources_dir
    from pneumoviewer.gui.theme import stylesheet

    names = set(re.findall(r"url\(icons:([^)]+)\)", stylesheet()))
    assert {"check-mark.svg", "spin-up.svg", "spin-down.svg"} <= names
    assert all((resources_dir() / "icons" / name).is_file() for name in names)
    assert all(not QImage(str(resources_dir() / "icons" / name)).isNull() for name in names)
