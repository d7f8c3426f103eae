"""Briefcase's test entry point: `briefcase dev --test` and `briefcase run --test` run this module.

Briefcase runs ``tests.pneumoviewer`` as ``__main__`` (from the user's home folder) and reads the
``>>>>>>>>>> EXIT n <<<<<<<<<<`` line to learn pytest's exit status. pytest itself never collects this file (its
name does not start with ``test_``), and it cannot shadow the package: it is the module ``tests.pneumoviewer``.

Arguments after ``--`` go to pytest (``briefcase dev --test -- -m "not slow"``); without any, the whole suite runs,
or what ``PNEUMOVIEWER_TEST_ARGS`` says (``PNEUMOVIEWER_TEST_ARGS='-m "not slow" tests/io'``).
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

# Checks of the source checkout itself (ruff and import contracts over the repository, the Briefcase config in
# pyproject.toml): an installed app bundle has neither the repository layout nor pyproject.toml.
CHECKOUT_ONLY = ("tests/test_project.py", "tests/test_packaging.py")


def pytest_args(project_path: Path, argv: list[str], env: dict[str, str]) -> list[str]:
    """The pytest command line for this run (pure, so it can be tested)."""
    args = list(argv) or shlex.split(env.get("PNEUMOVIEWER_TEST_ARGS", "")) or ["tests"]
    base = ["-vv" if env.get("PNEUMOVIEWER_TEST_VERBOSE") else "-q", "--color=no"]
    if (project_path / "pyproject.toml").is_file():
        # A checkout: pyproject.toml has the settings; keep any cache out of the source tree.
        base += ["-o", f"cache_dir={tempfile.gettempdir()}/.pytest_cache"]
    else:
        # An app bundle (its folder may be read-only under /usr) has no pyproject.toml: restate the settings the
        # tests rely on, write no cache, and leave out the checks of the repository itself.
        base += ["-p", "no:cacheprovider", "--import-mode=importlib", "-o", "qt_api=pyside6",
                 "-o", "markers=slow: trains or runs TensorFlow models"]
        base += [f"--ignore={p}" for p in CHECKOUT_ONLY]
    return base + args


def run_tests() -> int:
    """Run pytest on the bundled tests folder and print Briefcase's exit sentinel."""
    import pytest

    project_path = Path(__file__).resolve().parent.parent
    os.chdir(project_path)
    # In a packaged test run the app binary runs this module because of BRIEFCASE_MAIN_MODULE; child processes
    # that tests start with sys.executable (the same binary) must run the app instead, not the suite again.
    os.environ.pop("BRIEFCASE_MAIN_MODULE", None)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    returncode = int(pytest.main(pytest_args(project_path, sys.argv[1:], dict(os.environ))))
    print(f">>>>>>>>>> EXIT {returncode} <<<<<<<<<<", flush=True)
    return returncode


if __name__ == "__main__":
    run_tests()
