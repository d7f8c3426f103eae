"""`printable`: text quoted from someone else's file can neither steer the terminal nor read differently in a log."""

from __future__ import annotations

import pytest

from pneumoviewer.core.text import printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b[2Jb", "a\\x1b[2Jb"),  # ESC: clear the screen
        ("line\nforged", "line\\x0aforged"),  # a forged log line
        ("x\x9by", "x\\x9by"),  # C1 CSI
        ("evil\u202egpj.exe", "evil\\u202egpj.exe"),  # right-to-left override (Trojan Source)
        ("a\u2066b\u2069c", "a\\u2066b\\u2069c"),  # isolates
        ("a\u200fb\u061cc", "a\\u200fb\\u061cc"),  # directional marks
        ("one\u2028two\u2029three", "one\\u2028two\\u2029three"),  # line / paragraph separators
    ],
)
def test_controls_and_invisible_reordering_characters_are_shown_as_escapes(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_ordinary_text_in_any_script_is_kept_as_it_is() -> None:
    text = "Pneumothorax — Ünïcödé 气胸 פנאומותורקס ضغط 1.2.840.10008"
    assert printable(text) == text
