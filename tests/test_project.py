"""Project-wide checks: lint, import contracts, the PySide6 processEvents regression."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else (shutil.which(name) or name)


def test_ruff_clean() -> None:
    proc = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_contracts_kept() -> None:
    proc = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_process_events_does_not_corrupt_none_refcount() -> None:
    """PySide6 6.12.0 on CPython 3.11 decrefs None on every processEvents(); ~5,000 calls abort the interpreter."""
    code = textwrap.dedent(
        """
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        before = sys.getrefcount(None)
        for _ in range(20000):
            QApplication.processEvents()
        after = sys.getrefcount(None)
        print("drift", before - after)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    drift = int(proc.stdout.split("drift")[-1])
    assert drift < 1000, f"None lost {drift} references over 20,000 processEvents() calls"


def test_atomic_write_gives_ordinary_permissions_and_leaves_nothing_on_error(tmp_path) -> None:
    import os

    import pytest

    from pneumoviewer.io.atomic import atomic_write, atomic_write_bytes

    target = tmp_path / "out.csv"
    atomic_write_bytes(target, b"a,b\n")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_bytes() == b"a,b\n"
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(RuntimeError), atomic_write(target, "wb") as fh:
        fh.write(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"a,b\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_ci_runs_the_readmes_test_command_with_the_ci_hypothesis_profile() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("**Run all the tests**", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    command = block.strip()
    lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[-1] == command  # exactly the README's command, nothing added to it
    assert "export HYPOTHESIS_PROFILE=ci" in lines[:-1]
