"""Shared test setup: offscreen Qt, no network, per-test user data folders."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests out of the real user's data/cache folders and QSettings."""
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("PNEUMOVIEWER_DATA", str(base / "data"))
    monkeypatch.setenv("PNEUMOVIEWER_CACHE", str(base / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
