"""Navigation: which image is on screen, the decode cache and prefetch around it.

The worklist says which image the reviewer selected; the navigator shows it at once when it is decoded already
(prefetched), else asks the background decoder (`ImageLoader`) for it first. After each image is painted it decodes
the neighbours (two ahead, one behind), so stepping with J/K rarely waits. It owns the decoder thread and stops it
on close.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from pneumoviewer.gui.viewer import ImageViewer
from pneumoviewer.gui.workers import ImageLoader, LoadedImage
from pneumoviewer.gui.worklist import WorklistPanel
from pneumoviewer.review.session import ReviewSession

CACHE_IMAGES = 10  # decoded images kept for instant stepping back and forth
PREFETCH_AHEAD = 2


class Navigator(QObject):
    """Shows the selected image (see module docstring). `timings['navigate_to_painted_s']` for benchmarks."""

    imageShown = Signal(str)  # image_id, after the viewer holds it (overlays cleared)
    imagePainted = Signal(str)  # image_id, first paint
    loadFailed = Signal(str, str)  # image_id, message

    def __init__(
        self,
        session: ReviewSession,
        viewer: ImageViewer,
        worklist: WorklistPanel,
        keep_window: Callable[[], bool],
        loader: ImageLoader | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.viewer = viewer
        self.worklist = worklist
        self._keep_window = keep_window
        self.loader = loader or ImageLoader(parent=self)  # started with the first folder: idle windows hold no thread
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self._cache: OrderedDict[str, LoadedImage] = OrderedDict()
        self._shown: str | None = None
        self._prefetch_soon: str | None = None
        self._nav_t0: float | None = None
        self._closing = False
        self.timings: dict[str, float] = {}
        worklist.currentImageChanged.connect(self.show_image)
        viewer.imagePainted.connect(self._on_painted)

    # ------------------------------------------------------------------------------------------------ queries
    @property
    def current(self) -> str | None:
        return self.session.current

    @property
    def shown(self) -> str | None:
        """The image the viewer holds (may lag `current` while it decodes)."""
        return self._shown

    def loaded_image(self, image_id: str) -> LoadedImage | None:
        return self._cache.get(image_id)

    def current_image(self) -> Any:
        """The DicomImage on screen (or None)."""
        item = self._cache.get(self._shown) if self._shown else None
        return item.image if item is not None else None

    def neighbours(self, image_id: str, n: int) -> list[str]:
        return self.worklist.neighbour_ids(image_id, n)[0]

    # ------------------------------------------------------------------------------------------------ folder life
    def start(self) -> None:
        """A folder is opening: forget the previous one's images, make sure the decoder runs."""
        self.loader.clear()
        self._cache.clear()
        self._shown = None
        if not self.loader.isRunning() and not self._closing:
            self.loader.start()

    def stop(self) -> None:
        self._closing = True
        self.loader.stop()

    # ------------------------------------------------------------------------------------------------ stepping
    def step(self, delta: int) -> None:
        self._nav_t0 = time.perf_counter()
        self.worklist.step(delta)

    def show_image(self, image_id: str) -> None:
        """Show `image_id` now if decoded (prefetched), else as soon as the decoder delivers it."""
        path = self.session.path(image_id)
        if path is None:
            return
        if self._nav_t0 is None:
            self._nav_t0 = time.perf_counter()
        self.session.set_current(image_id)
        item = self._cache.get(image_id)
        if item is not None:
            self._cache.move_to_end(image_id)
            self._display(item)
            self._prefetch_soon = image_id  # decode the neighbours once this image is painted, not during the paint
        else:
            self.loader.request(image_id, path, urgent=True)

    def _prefetch_around(self, image_id: str) -> None:
        ahead, behind = self.worklist.neighbour_ids(image_id, PREFETCH_AHEAD, 1)
        for other in (*ahead, *behind):
            path = self.session.path(other)
            if other not in self._cache and path is not None:
                self.loader.request(other, path)

    def _on_loaded(self, image_id: str, item: LoadedImage) -> None:
        if image_id not in self.session:
            return  # a previous folder's image
        self._cache[image_id] = item
        self._cache.move_to_end(image_id)
        current = self.session.current
        keep = {current, *self.neighbours(current or "", PREFETCH_AHEAD)}
        while len(self._cache) > CACHE_IMAGES:
            victim = next((k for k in self._cache if k not in keep), None)
            if victim is None:
                break
            del self._cache[victim]
        if image_id == current and self._shown != image_id:
            self._prefetch_soon = image_id
            self._display(item)

    def _on_load_failed(self, image_id: str, message: str) -> None:
        if image_id == self.session.current:
            self.viewer.clear(f"Could not display this image:\n{message}")
            self.loadFailed.emit(image_id, message)

    def _display(self, item: LoadedImage) -> None:
        self.viewer.set_image(item.image, item.data, item.window, item.monochrome1, keep_window=self._keep_window())
        self._shown = item.image_id
        self.imageShown.emit(item.image_id)

    def _on_painted(self) -> None:
        if self._shown is None:
            return
        if self._prefetch_soon is not None:
            QTimer.singleShot(0, lambda image_id=self._prefetch_soon: self._prefetch_around(image_id))
            self._prefetch_soon = None
        if self._nav_t0 is not None:
            self.timings["navigate_to_painted_s"] = time.perf_counter() - self._nav_t0
            self._nav_t0 = None
        self.imagePainted.emit(self._shown)
