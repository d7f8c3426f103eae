"""What every benchmark script here shares: an isolated user environment and the machine facts printed with figures.

Imported by the scripts as `_harness` (a script's own folder is first on sys.path); no Qt, no TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path


def isolated_env(tmp: Path, cache: str = "cache") -> dict[str, str]:
    """os.environ with data, cache and Qt settings in `tmp` (never the user's); offscreen Qt unless one is set."""
    return {
        **os.environ,
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        "PNEUMOVIEWER_CACHE": str(tmp / cache),
        "PNEUMOVIEWER_DATA": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
    }


def load_avg() -> float:
    """1-minute load average: other work on the machine skews every timing, so it is printed with them."""
    return round(os.getloadavg()[0], 2)


def machine(load_before: float) -> dict[str, object]:
    return {"cpus": os.cpu_count(), "load_avg_1m": [load_before, load_avg()]}
