"""Text that came from a file (a CSV, a bundle manifest, a DICOM header) made safe to echo on a terminal or a log.

A value read from someone else's file may carry terminal escape sequences (``ESC [ 2 J`` clears the screen, an
OSC sequence can retitle the window or forge a hyperlink) or line breaks that forge extra log lines. `printable`
replaces every C0 and C1 control character (U+0000–U+001F, U+007F–U+009F: ESC, CR, LF and TAB included) by a
visible ``\\xNN`` escape and keeps every other character, so the text stays recognisable and cannot steer the
terminal.
"""

from __future__ import annotations

__all__ = ["printable"]

_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))}


def printable(s: str) -> str:
    """`s` with each C0/C1 control character replaced by ``\\xNN`` (e.g. ESC → ``\\x1b``); other text unchanged."""
    return s.translate(_CONTROLS)
