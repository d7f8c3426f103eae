"""Where things live: bundled models/resources (next to the package) and per-user data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "PneumoViewer"


def source_root() -> Path:
    """The folder holding `pneumoviewer/`, `models/` and `resources/` (a checkout or a Briefcase `app/`)."""
    return Path(__file__).resolve().parents[2]


def models_dir() -> Path:
    env = os.environ.get("PNEUMOVIEWER_MODELS")
    return Path(env) if env else source_root() / "models"


def default_model_dir() -> Path:
    """The bundled demo model bundle (synthetic training data; not for clinical use)."""
    return models_dir() / "demo"


def resources_dir() -> Path:
    return source_root() / "resources"


def user_data_dir() -> Path:
    """Per-user writable data (demo studies, fallback review stores, caches)."""
    env = os.environ.get("PNEUMOVIEWER_DATA")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP_NAME


def user_cache_dir() -> Path:
    env = os.environ.get("PNEUMOVIEWER_CACHE")
    if env:
        return Path(env)
    if sys.platform == "win32":
        return user_data_dir() / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP_NAME
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / APP_NAME
