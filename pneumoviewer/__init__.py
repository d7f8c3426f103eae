"""PneumoViewer: chest X-ray pneumothorax review with AI triage.

Supports decisions; does not diagnose.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("pneumoviewer")
except _metadata.PackageNotFoundError:  # running from a source tree or a Briefcase bundle
    __version__ = "0.1.0"

__all__ = ["__version__"]
