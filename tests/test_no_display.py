"""Issue 14: without a display the app says so in one line instead of Qt's abort with advice to reinstall."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X/Wayland displays are a Linux matter")
def test_no_display_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PNEUMOVIEWER_DATA"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", "from pneumoviewer.app import main; main([])"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "no display found (set DISPLAY or use QT_QPA_PLATFORM=offscreen for tests)" in proc.stderr
    assert "reinstall" not in proc.stderr and "Traceback" not in proc.stderr
