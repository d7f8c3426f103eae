"""Where review statuses live while the app runs.

The window talks to a `StatusStore` (two methods); `MemoryStatusStore` keeps them in memory. The review store from
`pneumoviewer.review` (`ReviewStore.status / set_status`) satisfies the same protocol and replaces it per folder.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pneumoviewer.core.types import ReviewStatus


@runtime_checkable
class StatusStore(Protocol):
    def status(self, image_id: str) -> ReviewStatus: ...

    def set_status(self, image_id: str, status: ReviewStatus) -> None: ...


class MemoryStatusStore:
    """Statuses for one opened folder, in memory (lost on exit)."""

    def __init__(self) -> None:
        self._status: dict[str, ReviewStatus] = {}

    def status(self, image_id: str) -> ReviewStatus:
        return self._status.get(image_id, ReviewStatus.UNREVIEWED)

    def set_status(self, image_id: str, status: ReviewStatus) -> None:
        self._status[image_id] = ReviewStatus(status)

    def close(self) -> None:
        self._status.clear()
