"""Tests that cannot flake: the Hypothesis profile each kind of run gets, and no test overriding it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PROBE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("probe_conftest", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
from hypothesis import settings
s = settings.default
print(s.derandomize, s.database is None, s.deadline, s.max_examples)
"""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CI": "true"}, "True True None 100"),
        ({"HYPOTHESIS_PROFILE": "ci"}, "True True None 100"),
        ({}, "False False None 100"),  # a developer's run: random examples, local database
        ({"CI": "true", "HYPOTHESIS_PROFILE": "dev"}, "False False None 100"),
    ],
)
def test_profile_follows_the_environment(env: dict[str, str], expected: str, tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(TESTS / "conftest.py")], cwd=tmp_path,
                          env={**base, **env}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[-2] == expected


OVERRIDES = {"derandomize", "database", "phases"}


def test_no_test_overrides_the_profiles_determinism() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name == "settings" and OVERRIDES & {k.arg for k in node.keywords}:
                keywords = ", ".join(k.arg or "**" for k in node.keywords)
                offenders.append(f"{path.name}:{node.lineno}: settings({keywords})")
            if name in ("seed", "reproduce_failure") or (name == "load_profile" and path.name != "conftest.py"):
                offenders.append(f"{path.name}:{node.lineno}: {name}(...)")
    assert offenders == []
