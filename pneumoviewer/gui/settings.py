"""Typed access to the user's settings (QSettings): layout, last/recent folders, overlay style, W/L presets, the
worklist's sort and filters per folder.

On Linux the file lives under ``$XDG_CONFIG_HOME/PneumoViewer/`` and the path is resolved every time a `Settings`
is built (Qt caches its own default path per process, which would leak settings between tests).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from pneumoviewer.core.paths import APP_NAME

MAX_RECENT = 8


def _settings_file() -> Path | None:
    if sys.platform.startswith("win") or sys.platform == "darwin":
        return None
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP_NAME / "pneumoviewer.ini"


class Settings:
    """One place that knows the keys and types; everything else calls these methods."""

    def __init__(self) -> None:
        path = _settings_file()
        if path is None:
            self._q = QSettings(APP_NAME, APP_NAME)
        else:
            self._q = QSettings(str(path), QSettings.Format.IniFormat)

    @property
    def qsettings(self) -> QSettings:
        return self._q

    def sync(self) -> None:
        self._q.sync()

    # -- generic -------------------------------------------------------------------------------------------------------
    def _get_str(self, key: str, default: str = "") -> str:
        value = self._q.value(key, default)
        return str(value) if value is not None else default

    def _get_bool(self, key: str, default: bool) -> bool:
        value = self._q.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)

    def _get_float(self, key: str, default: float) -> float:
        try:
            return float(self._q.value(key, default))
        except (TypeError, ValueError):
            return default

    # -- layout --------------------------------------------------------------------------------------------------------
    def window_geometry(self) -> QByteArray | None:
        value = self._q.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self._q.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def set_window_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self._q.setValue("window/geometry", geometry)
        self._q.setValue("window/state", state)

    # -- folders -------------------------------------------------------------------------------------------------------
    def last_folder(self) -> str:
        return self._get_str("folders/last")

    def recent_folders(self) -> list[str]:
        raw = self._get_str("folders/recent", "[]")
        try:
            items = json.loads(raw)
        except json.JSONDecodeError:
            return []
        return [str(x) for x in items if isinstance(x, str)][:MAX_RECENT]

    def add_recent_folder(self, folder: str) -> None:
        recent = [f for f in self.recent_folders() if f != folder]
        recent.insert(0, folder)
        self._q.setValue("folders/recent", json.dumps(recent[:MAX_RECENT]))
        self._q.setValue("folders/last", folder)

    def clear_recent_folders(self) -> None:
        self._q.setValue("folders/recent", "[]")

    # -- overlay -------------------------------------------------------------------------------------------------------
    def overlay_opacity(self) -> float:
        return min(1.0, max(0.0, self._get_float("overlay/opacity", 0.45)))

    def set_overlay_opacity(self, value: float) -> None:
        self._q.setValue("overlay/opacity", float(value))

    def overlay_mode(self) -> str:
        mode = self._get_str("overlay/mode", "fill")
        return mode if mode in ("fill", "contour") else "fill"

    def set_overlay_mode(self, mode: str) -> None:
        self._q.setValue("overlay/mode", mode)

    def overlay_color(self, layer: str, default: str) -> str:
        return self._get_str(f"overlay/color_{layer}", default)

    def set_overlay_color(self, layer: str, color: str) -> None:
        self._q.setValue(f"overlay/color_{layer}", color)

    def overlay_visible(self) -> bool:
        return self._get_bool("overlay/visible", True)

    def set_overlay_visible(self, visible: bool) -> None:
        self._q.setValue("overlay/visible", bool(visible))

    def auto_advance(self) -> bool:
        """After A / N / F the next image opens (on by default: triage is a flow of decisions)."""
        return self._get_bool("review/auto_advance", True)

    def set_auto_advance(self, on: bool) -> None:
        self._q.setValue("review/auto_advance", bool(on))

    # -- window/level --------------------------------------------------------------------------------------------------
    def wl_presets(self, defaults: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """Named presets in display units (center, width); user edits override the defaults."""
        raw = self._get_str("viewer/wl_presets", "")
        presets = dict(defaults)
        if raw:
            try:
                for name, cw in json.loads(raw).items():
                    presets[str(name)] = (float(cw[0]), float(cw[1]))
            except (json.JSONDecodeError, TypeError, ValueError, IndexError, AttributeError):
                pass
        return presets

    def set_wl_preset(self, name: str, center: float, width: float) -> None:
        raw = self._get_str("viewer/wl_presets", "")
        try:
            data = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            data = {}
        data[name] = [float(center), float(width)]
        self._q.setValue("viewer/wl_presets", json.dumps(data))

    def last_wl_preset(self) -> str:
        return self._get_str("viewer/wl_preset", "DICOM default")

    def set_last_wl_preset(self, name: str) -> None:
        self._q.setValue("viewer/wl_preset", name)

    # -- privacy / inference -------------------------------------------------------------------------------------------
    def show_patient_identifiers(self) -> bool:
        """Off unless the user turns it on: the metadata panel then shows the patient key."""
        return self._get_bool("privacy/show_patient_identifiers", False)

    def set_show_patient_identifiers(self, on: bool) -> None:
        self._q.setValue("privacy/show_patient_identifiers", bool(on))

    def inference_mode(self) -> str:
        """'process' (default: a child process, the GUI never shares a GIL with TensorFlow) or 'thread'."""
        mode = self._get_str("inference/mode", "process")
        return mode if mode in ("process", "thread") else "process"

    def set_inference_mode(self, mode: str) -> None:
        self._q.setValue("inference/mode", mode)

    # -- model per folder ----------------------------------------------------------------------------------------------
    @staticmethod
    def _folder_key(folder: str | os.PathLike[str]) -> str:
        import hashlib

        return hashlib.sha1(str(Path(folder).resolve()).encode("utf-8")).hexdigest()[:16]

    def folder_model(self, folder: str | os.PathLike[str]) -> str:
        """The bundle folder the user chose for this study folder ('' when none was chosen)."""
        return self._get_str(f"models/by_folder/{self._folder_key(folder)}")

    def set_folder_model(self, folder: str | os.PathLike[str], bundle: str | os.PathLike[str]) -> None:
        self._q.setValue(f"models/by_folder/{self._folder_key(folder)}", str(bundle))

    def synthetic_accept_confirmed(self, folder: str | os.PathLike[str]) -> bool:
        """Whether the reviewer already confirmed, for this folder, accepting a synthetic-model mask with A."""
        return self._get_bool(f"models/synthetic_accept_ok/{self._folder_key(folder)}", False)

    def set_synthetic_accept_confirmed(self, folder: str | os.PathLike[str]) -> None:
        self._q.setValue(f"models/synthetic_accept_ok/{self._folder_key(folder)}", True)

    # -- worklist sort and filters -------------------------------------------------------------------------------------
    def worklist_state(self, folder: str | os.PathLike[str]) -> dict[str, str]:
        """The worklist's sort and filters as this folder was last left (`WorklistPanel.state()`).

        Per folder, because a filter belongs to the work on that folder ("flagged" while clearing a colleague's
        flags); a folder never opened before gets the last sort chosen anywhere (a triage reader sorts every
        folder by AI probability) and no filter, so no image of a new folder is hidden."""
        for key in (f"worklist/by_folder/{self._folder_key(folder)}", "worklist/last_sort"):
            raw = self._get_str(key)
            try:
                data = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                data = None
            if isinstance(data, dict):
                return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}
        return {}

    def set_worklist_state(self, folder: str | os.PathLike[str], state: dict[str, str]) -> None:
        self._q.setValue(f"worklist/by_folder/{self._folder_key(folder)}", json.dumps(state))
        sort = {k: state[k] for k in ("sort", "order") if k in state}
        self._q.setValue("worklist/last_sort", json.dumps(sort))
