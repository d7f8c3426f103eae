"""ReviewSession: the review app's state, with one owner and no Qt.

One object holds what the reviewer works on — the folder index, the current image, the AI results (and AI errors),
the review statuses and comments, the mask documents with their undo — and is the single place that decides:

* **the starting mask** of an image's editor: the reviewer's final mask, else the AI mask, else empty — but never
  the mask of a phantom-trained model on an image that is not one of our phantoms (:meth:`ai_prefills`, issue 10:
  such a mask means nothing on a real film, so the reviewer starts from empty and A still takes it on purpose);
* **A / N / F**: accept the AI mask, mark negative (empty mask), flag (optionally with a comment);
* **what a label means** (issue 11): a status change is part of the undo step that caused it. Ctrl+Z after N brings
  back the previous status *and* mask; undoing every stroke returns to the status the image had before (e.g.
  unreviewed, or flagged with its comment). An image becomes reviewed only by a reviewer's action. Editing a flagged
  image keeps it flagged, with its comment, until the reviewer decides (A / N) or clears the flag;
* **what the AI still has to do** (issue 13): results made this session, or stored by the same bundle (sha256), are
  not recomputed; "re-run all" queues everything.

Writes go through the ordered, coalescing :class:`~pneumoviewer.review.writer.StoreWriter`: every committed step
queues one job that carries the image's whole state (final mask + status + comment), so coalescing never loses a
step's meaning. Memory stays flat on a 12,000-image folder: per AI result the session keeps an :class:`AiSummary`
(probability, mask area, model); masks live in the store as RLE and only a small LRU of decoded AI masks and of
open documents (with their undo history) stays in memory.

**Which model's results** (issue 10): the store keeps one result per (image, bundle sha256). The session shows the
results of the model in use (:meth:`ReviewSession.set_ai_model`, told by the AI controller): switching models
restores that model's stored results (only what it lacks is queued), switching back shows the first model's again
without a re-run, and a result of another model (one that finished after the switch) is stored under its model, not
shown. No AI result ever changes a reviewer's mask or status. A store that opened
read-only (newer schema, held by another instance, unwritable: ``ReviewStore.outcome``) is shown but not edited: the
decisions refuse and nothing is queued for writing.

Events (``subscribe``) are frozen dataclasses that carry their data. All come on the thread that called the session
(the GUI thread) except :class:`Saved` and :class:`SaveFailed`, which come from the writer thread.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pneumoviewer.core.types import AiSummary, ImageMeta, ModelInfo, Prediction, ReviewStatus, SourceIdentity
from pneumoviewer.editing import MaskDocument
from pneumoviewer.inference.domain import synthetic_on_real
from pneumoviewer.review.store import ReviewStore
from pneumoviewer.review.writer import StoreWriter

log = logging.getLogger(__name__)

DOCUMENTS = 8  # recently visited images keep their mask document and undo history
AI_MASKS = 16  # decoded AI masks kept for redisplay; older ones are read back from the store


# ------------------------------------------------------------------------------------------------------------ events
@dataclass(frozen=True)
class StoreOpened:
    """The folder's store is open; `read_only` with `message` saying why (or `message` about a repair)."""

    path: Path
    read_only: bool = False
    message: str = ""


@dataclass(frozen=True)
class StoreFailed:
    folder: Path
    message: str


@dataclass(frozen=True)
class IndexChanged:
    """A folder index was set: `predictions` are the results restored from the store for its images."""

    n_images: int
    predictions: dict[str, AiSummary]


@dataclass(frozen=True)
class StatusChanged:
    image_id: str
    status: ReviewStatus
    comment: str | None


@dataclass(frozen=True)
class PredictionAdded:
    summary: AiSummary


@dataclass(frozen=True)
class AiModelChanged:
    """Another model is in use (`sha256`; '' unknown identity, None no model): `predictions` are its results."""

    sha256: str | None
    predictions: dict[str, AiSummary]


@dataclass(frozen=True)
class AiFailed:
    image_id: str
    message: str


@dataclass(frozen=True)
class DocumentReplaced:
    """The open document of `image_id` now holds another mask (the AI result arrived, labels were imported)."""

    image_id: str
    document: MaskDocument


@dataclass(frozen=True)
class LabelsImported:
    layer: str


@dataclass(frozen=True)
class Saved:
    """A write is durable (writer thread)."""

    image_id: str
    kind: str


@dataclass(frozen=True)
class SaveFailed:
    """A write failed (writer thread); the message names what and why."""

    message: str


Event = (
    StoreOpened | StoreFailed | IndexChanged | StatusChanged | PredictionAdded | AiModelChanged | AiFailed
    | DocumentReplaced | LabelsImported | Saved | SaveFailed
)


# ------------------------------------------------------------------------------------------------------------ model
@dataclass(frozen=True)
class Label:
    """What the reviewer has decided about one image."""

    status: ReviewStatus = ReviewStatus.UNREVIEWED
    comment: str | None = None


@dataclass(frozen=True)
class StatusChange:
    """One change of an image's status, from the store's journal."""

    time: float  # seconds since the epoch
    status: ReviewStatus
    reviewer: str | None


@dataclass(frozen=True)
class ReviewHistory:
    """The review record of one image: who changed it last and when, its status changes, the comment."""

    reviewer: str | None
    updated: float | None
    changes: tuple[StatusChange, ...]  # oldest first; repeated saves of the same status are one change
    comment: str | None


@dataclass
class _Open:
    """An open document and, step for step beside its history, the label before and after each step."""

    doc: MaskDocument
    origin: str  # "final" | "ai" | "empty": where its starting mask came from
    unsubscribe: Callable[[], None]
    undo: list[tuple[Label, Label]] = field(default_factory=list)
    redo: list[tuple[Label, Label]] = field(default_factory=list)
    mask_decided: bool = False  # a step of this session changed or decided the mask: saves carry it


def same_bundle(model: ModelInfo, sha256: str | None) -> bool:
    """True when `model` was made by the bundle with this sha256 (unknown on either side: not the same)."""
    return bool(model.sha256) and bool(sha256) and model.sha256 == sha256


class ReviewSession:
    """The review state of one opened folder at a time (see the module docstring)."""

    def __init__(
        self,
        open_store: Callable[[Path], ReviewStore] = ReviewStore.open,
        *,
        documents: int = DOCUMENTS,
        ai_masks: int = AI_MASKS,
    ) -> None:
        self._open_store = open_store
        self._max_docs = max(1, int(documents))
        self._max_masks = max(1, int(ai_masks))
        self._listeners: list[Callable[[Event], None]] = []
        self.store: ReviewStore | None = None
        self.writer: StoreWriter | None = None
        self.folder: Path | None = None
        self.index: Any = None  # pneumoviewer.io.folder.FolderIndex
        self._paths: dict[str, Path] = {}
        self._sources: dict[str, SourceIdentity] = {}
        self._discard_unsaved = False  # set only by the reviewer's explicit choice (closing on a full disk)
        self._metas: dict[str, ImageMeta] = {}
        self._shapes: dict[str, tuple[int, int]] = {}
        self._labels: dict[str, Label] = {}
        self._ai: dict[str, AiSummary] = {}  # results of the model in use only
        self._model: str | None = None  # its bundle sha256 ('' unknown identity); None: not told (newest shown)
        self._ai_written: set[str] = set()  # images whose AI result was queued for the store since the last switch
        self._ai_errors: dict[str, str] = {}
        self._ai_masks: OrderedDict[str, np.ndarray] = OrderedDict()
        self._docs: OrderedDict[str, _Open] = OrderedDict()
        self._decision: Label | None = None  # the label the step being committed sets (A / N / F)
        self._saved_position: str | None = None
        self._edited: set[str] = set()  # images whose final mask the reviewer saved this session
        self.current: str | None = None

    # ------------------------------------------------------------------------------------------------ events
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback(event)` for every event; returns the unsubscribe function."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def _emit(self, event: Event) -> None:
        for cb in tuple(self._listeners):
            cb(event)

    # ------------------------------------------------------------------------------------------------ folder
    def open_folder(self, folder: str | os.PathLike[str]) -> bool:
        """Close the previous folder (saving everything queued), open this one's store; False if it cannot."""
        self.close()
        self.folder = Path(folder)
        try:
            store = self._open_store(self.folder)
        except Exception as exc:  # any failure means: review without saving, and say so
            log.exception("could not open the review store for a folder")
            self._emit(StoreFailed(self.folder, str(exc) or type(exc).__name__))
            return False
        self.store = store
        self.writer = StoreWriter(
            on_error=lambda msg: self._emit(SaveFailed(msg)), on_done=lambda i, k: self._emit(Saved(i, k))
        )
        self._saved_position = store.position()
        comments = store.comments()
        self._labels = {i: Label(st, comments.get(i)) for i, st in store.statuses().items()}  # bulk readers: ms
        self._ai = self._stored_summaries(store)
        if self._model is not None and store.ai_model() != self._model:
            model = self._model
            self._submit(lambda: store.set_ai_model(model), "", "model", coalesce="ai-model")
        outcome = store.outcome
        self._emit(StoreOpened(store.path, outcome.read_only, outcome.message))
        return True

    @property
    def writable(self) -> bool:
        """A store is open and takes writes (False: no folder, or the store opened read-only)."""
        return self.store is not None and not self.store.read_only

    def add_images(self, images: Iterable[Any]) -> None:
        """Images of an index still being built (`io.folder.IndexedImage`s streamed by the scan): each can be
        shown, reviewed and queued for the AI at once; `set_index` completes the folder. Known ones are skipped."""
        sizes: list[tuple[str, int, int]] = []
        for im in images:
            meta = im.meta
            image_id = meta.image_id
            if image_id in self._paths:
                continue
            self._paths[image_id] = Path(im.path)
            # SOPInstanceUID + header digest of the file each mask is drawn on: recorded with every saved mask, and
            # checked by every export (a file replaced in place by another patient's image is refused, issue 11)
            self._sources[image_id] = im.source_identity()
            self._metas[image_id] = meta
            if meta.rows and meta.columns:
                self._shapes[image_id] = (int(meta.rows), int(meta.columns))
                sizes.append((image_id, int(meta.rows), int(meta.columns)))
        if self.store is not None and sizes:
            store = self.store
            self._submit(lambda: store.register_images(sizes), "", "register")

    def set_index(self, index: Any) -> None:
        """The folder's index is complete: paths and sizes of every image (those streamed in by `add_images` are
        kept, so a streamed scan's end costs only the images not seen yet), sizes registered with the store."""
        if any(index.by_id(i) is None for i in self._paths):  # not the index that was streamed: start afresh
            self._paths, self._sources, self._metas, self._shapes = {}, {}, {}, {}
        self.add_images(index.images)
        self.index = index
        restored = {i: s for i, s in self._ai.items() if i in self._paths}
        self._emit(IndexChanged(len(self._paths), restored))

    def take_saved_position(self) -> str | None:
        """Where the reviewer was when the folder was last closed: once, as soon as that image is indexed (while
        the index streams in it stays pending); None when unknown or gone from the complete index."""
        pos = self._saved_position
        if pos in self._paths or self.index is not None:
            self._saved_position = None
        return pos if pos in self._paths else None

    def image_ids(self) -> list[str]:
        return list(self._paths)

    def path(self, image_id: str) -> Path | None:
        return self._paths.get(image_id)

    def meta(self, image_id: str) -> ImageMeta | None:
        """The header facts of an indexed image (None when it is not in this folder)."""
        return self._metas.get(image_id)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._paths

    def set_current(self, image_id: str | None) -> None:
        """The image the reviewer is on (A / N / F act on it); remembered in the store for the next open."""
        self.current = image_id
        if image_id is not None and self.store is not None and image_id in self._paths:
            store = self.store
            self._submit(lambda: store.set_position(image_id), image_id, "position", coalesce="position")

    # ------------------------------------------------------------------------------------------------ statuses
    def label(self, image_id: str) -> Label:
        return self._labels.get(image_id, Label())

    def status(self, image_id: str) -> ReviewStatus:
        return self.label(image_id).status

    def comment(self, image_id: str) -> str | None:
        return self.label(image_id).comment

    def _set_label(self, image_id: str, label: Label) -> None:
        if self._labels.get(image_id, Label()) == label:
            return
        self._labels[image_id] = label
        self._emit(StatusChanged(image_id, label.status, label.comment))

    # ------------------------------------------------------------------------------------------------ AI results
    def _stored_summaries(self, store: ReviewStore) -> dict[str, AiSummary]:
        """The stored results of the model in use (no model told: each image's newest), one bulk read."""
        models: dict[tuple[ModelInfo, str | None], ModelInfo] = {}  # one object per model, not per row
        out = {}
        for image_id, ai in store.stored_ai(self._model).items():
            key = (ai.model, ai.model_sha256)
            model = models.get(key) or models.setdefault(key, replace(ai.model, sha256=ai.model_sha256))
            out[image_id] = AiSummary(image_id, float(ai.probability), model, ai.mask_area, stored=True)
        return out

    def set_ai_model(self, sha256: str | None) -> bool:
        """The model the AI runs from now on: its bundle sha256 ('' for an engine of unknown identity; None: no
        model, each image shows its newest stored result). The results shown become that model's, restored from
        the store (nothing is re-run; :meth:`ai_queue` then lists only what it lacks); the other model's stay
        stored. A document nobody touched follows (to the new model's mask, or empty); a reviewer's mask and the
        statuses are never changed. Recorded in the store as the folder's current model (what exports and
        ``evaluate`` read by default). False when it is the model in use already."""
        if sha256 == self._model:
            return False
        self._model = sha256
        store = self.store
        if store is None:
            return True
        writer = self.writer
        if writer is not None and any(writer.pending(i) for i in self._ai_written):
            writer.flush()  # AI results still queued are read back below (other queued writes are not waited for)
        self._ai_written.clear()
        self._ai = self._stored_summaries(store)
        self._ai_errors.clear()
        self._ai_masks.clear()
        if sha256 is not None:
            self._submit(lambda: store.set_ai_model(sha256), "", "model", coalesce="ai-model")
        for image_id, entry in list(self._docs.items()):
            if entry.origin == "final" or entry.doc.can_undo or entry.doc.can_redo:
                continue  # the reviewer's mask, or a document the reviewer worked on: never replaced
            start, origin = self.starting_mask(image_id, entry.doc.shape)
            mask = start if start is not None else np.zeros(entry.doc.shape, dtype=bool)
            entry.origin = origin
            if not np.array_equal(mask, entry.doc.mask):
                entry.doc.replace(mask)
                self._emit(DocumentReplaced(image_id, entry.doc))
        self._emit(AiModelChanged(sha256, {i: a for i, a in self._ai.items() if i in self._paths}))
        return True

    def prediction(self, image_id: str) -> AiSummary | None:
        return self._ai.get(image_id)

    def predictions(self) -> dict[str, AiSummary]:
        return dict(self._ai)

    def ai_error(self, image_id: str) -> str | None:
        return self._ai_errors.get(image_id)

    def ai_counts(self) -> tuple[int, int]:
        """(results, errors) for this folder's images."""
        return sum(1 for i in self._ai if i in self._paths), len(self._ai_errors)

    def add_prediction(self, prediction: Prediction) -> AiSummary | None:
        """Keep an AI result: its summary in memory, its mask in the store (and briefly in a small LRU).

        A result for an image not in this folder (the previous folder's, finished after the switch) is dropped.
        """
        image_id = prediction.image_id
        if image_id not in self._paths:
            return None
        mask = np.ascontiguousarray(prediction.mask, dtype=bool)
        summary = AiSummary.of(replace(prediction, mask=mask))
        sha = prediction.model.sha256
        if self.store is not None:
            store = self.store
            kept = Prediction(image_id, summary.probability, mask, prediction.model, device=prediction.device)
            self._submit(lambda: store.set_ai_result(kept, model_sha256=sha), image_id, "ai")
            self._ai_written.add(image_id)
        if self._model is not None and (sha or "") != self._model:
            return None  # another model's (finished after AI ▸ Model… switched): stored under its model, not shown
        self._ai[image_id] = summary
        self._ai_errors.pop(image_id, None)
        self._remember_mask(image_id, mask)
        entry = self._docs.get(image_id)
        # only a document nobody touched follows the AI (a new model's result included): a reviewer's mask never
        untouched = entry is not None and entry.origin != "final" and not (entry.doc.can_undo or entry.doc.can_redo)
        if entry is not None and untouched and mask.shape == entry.doc.shape:
            prefill = self.ai_prefills(image_id)
            if prefill or entry.origin == "ai":
                entry.doc.replace(mask if prefill else np.zeros_like(mask))
                entry.origin = "ai" if prefill else "empty"
                self._emit(DocumentReplaced(image_id, entry.doc))
        self._emit(PredictionAdded(summary))
        return summary

    def add_ai_error(self, image_id: str, message: str) -> None:
        if image_id not in self._paths:
            return
        self._ai_errors[image_id] = message
        self._emit(AiFailed(image_id, message))

    def ai_mask(self, image_id: str) -> np.ndarray | None:
        """The AI mask (read-only): from the small LRU, else decoded from the store."""
        mask = self._ai_masks.get(image_id)
        if mask is not None:
            self._ai_masks.move_to_end(image_id)
            return mask
        if self.store is None or image_id not in self._ai:
            return None
        self._flush_for(image_id)
        stored = self.store.ai_result(image_id, self._model)
        if stored is None or stored.mask is None:
            return None
        mask = np.ascontiguousarray(stored.mask, dtype=bool)
        self._remember_mask(image_id, mask)
        return mask

    def _remember_mask(self, image_id: str, mask: np.ndarray) -> None:
        mask.setflags(write=False)
        self._ai_masks[image_id] = mask
        self._ai_masks.move_to_end(image_id)
        while len(self._ai_masks) > self._max_masks:
            self._ai_masks.popitem(last=False)

    def ai_prefills(self, image_id: str) -> bool:
        """Whether the AI mask of `image_id` may become the reviewer's starting mask: not when a phantom-trained
        model made it and the image is not one of our phantoms (its mask says nothing about a real radiograph)."""
        s = self._ai.get(image_id)
        return s is not None and not synthetic_on_real(s.model, self._metas.get(image_id))

    def ai_queue(self, order: Iterable[str], sha256: str | None, *, rerun: bool = False) -> list[str]:
        """The images (in `order`, each once, this folder's only) the AI still has to run on.

        Skipped: images with a result of the bundle with this sha256 (stored or made this session), and results made
        this session when either side's sha256 is unknown (a test engine). After AI ▸ Model… switched bundles, the
        other bundle's results are queued again. ``rerun=True`` ("Re-run AI on all images") skips nothing. Set
        lookups only: linear in the folder size.
        """
        seen: set[str] = set()
        out: list[str] = []
        for image_id in order:
            if image_id in seen or image_id not in self._paths:
                continue
            seen.add(image_id)
            s = self._ai.get(image_id)
            fresh = not s.stored and not (s.model.sha256 and sha256) if s is not None else False
            if not rerun and s is not None and (fresh or same_bundle(s.model, sha256)):
                continue
            out.append(image_id)
        return out

    # ------------------------------------------------------------------------------------------------ documents
    def document(self, image_id: str | None = None) -> MaskDocument | None:
        """The mask document of `image_id` (default: the current image), opened with the starting mask policy;
        None when the image's size is unknown."""
        image_id = image_id or self.current
        if image_id is None:
            return None
        entry = self._docs.get(image_id)
        shape = self._shapes.get(image_id)
        if entry is None or (shape is not None and entry.doc.shape != shape):
            if shape is None:
                return None
            entry = self._open_document(image_id, shape)
        self._docs.move_to_end(image_id)
        while len(self._docs) > self._max_docs:
            _, old = self._docs.popitem(last=False)
            old.unsubscribe()
        return entry.doc

    def _open_document(self, image_id: str, shape: tuple[int, int]) -> _Open:
        start, origin = self.starting_mask(image_id, shape)
        doc = MaskDocument(*shape) if start is None else MaskDocument.from_mask(start)
        old = self._docs.pop(image_id, None)
        if old is not None:
            old.unsubscribe()
        entry = _Open(doc, origin, doc.subscribe_committed(lambda label: self._on_commit(image_id, label)))
        self._docs[image_id] = entry
        return entry

    def starting_mask(self, image_id: str, shape: tuple[int, int]) -> tuple[np.ndarray | None, str]:
        """The editor's first mask and where it came from: the final mask, else the AI mask, else empty (None)."""
        if self.store is not None:
            self._flush_for(image_id)
            final = self.store.final_mask(image_id)
            if final is not None and final.shape == shape:
                return final, "final"
        ai = self.ai_mask(image_id) if self.ai_prefills(image_id) else None
        if ai is not None and ai.shape == shape:
            return ai, "ai"
        return None, "empty"

    def _on_commit(self, image_id: str, step: str) -> None:
        """One finished history step of an open document: move the label with it and save both."""
        entry = self._docs.get(image_id)
        if entry is None or not self.writable:
            return  # a read-only store: the GUI offers no editing; nothing is decided or saved
        before = self.label(image_id)
        after = before
        if step == "undo":
            if entry.undo:
                pair = entry.undo.pop()
                entry.redo.append(pair)
                after = pair[0]
        elif step == "redo":
            if entry.redo:
                pair = entry.redo.pop()
                entry.undo.append(pair)
                after = pair[1]
        else:
            decision, self._decision = self._decision, None
            if decision is None:  # a stroke: the reviewer corrected the mask; a flag stays until cleared
                entry.mask_decided = True
                flagged = before.status is ReviewStatus.FLAGGED
                decision = before if flagged else Label(ReviewStatus.CORRECTED, before.comment)
            after = decision
            entry.undo.append((before, after))
            entry.redo.clear()
            levels = entry.doc.history.undo_levels  # the oldest steps fall off the bounded history together
            if len(entry.undo) > levels:
                del entry.undo[: len(entry.undo) - levels]
        self._set_label(image_id, after)
        self._save(image_id, entry.doc.mask.copy() if entry.mask_decided else None, after)

    def _save(self, image_id: str, mask: np.ndarray | None, label: Label) -> None:
        """Queue one job that writes the image's whole state (newest wins when saves pile up)."""
        store = self.store
        if store is None:
            return

        source = self._sources.get(image_id)

        def job() -> None:
            if mask is not None:
                store.set_final_mask(image_id, mask, status=None, source=source)
            store.set_status(image_id, label.status)
            if store.comment(image_id) != label.comment:
                store.set_comment(image_id, label.comment)

        if mask is not None:
            self._edited.add(image_id)
        self._submit(job, image_id, "final" if mask is not None else "status", coalesce=f"state:{image_id}")

    # ------------------------------------------------------------------------------------------------ A / N / F
    def _decide(self, image_id: str, doc: MaskDocument, mask: np.ndarray | None, label: Label, step: str) -> None:
        """Apply a decision as one undo step (with its mask change, if any)."""
        self._decision = label
        try:
            if mask is not None:
                self._docs[image_id].mask_decided = True
                if not doc.set_mask(mask, step):
                    doc.record_step(step)
            else:
                doc.record_step(step)
        finally:
            self._decision = None

    def accept_ai(self, image_id: str | None = None) -> bool:
        """A: the final mask is the AI mask, status *accepted*. False when there is no AI result (of this size)."""
        image_id = image_id or self.current
        doc = self.document(image_id) if image_id and self.writable else None
        if image_id is None or doc is None:
            return False
        ai = self.ai_mask(image_id)
        if ai is None or ai.shape != doc.shape:
            return False
        self._decide(image_id, doc, ai, Label(ReviewStatus.ACCEPTED, self.comment(image_id)), "accept AI")
        return True

    def mark_negative(self, image_id: str | None = None) -> bool:
        """N: no pneumothorax — the final mask is empty, status *negative*."""
        image_id = image_id or self.current
        doc = self.document(image_id) if image_id and self.writable else None
        if image_id is None or doc is None:
            return False
        empty = np.zeros(doc.shape, dtype=bool)
        self._decide(image_id, doc, empty, Label(ReviewStatus.NEGATIVE, self.comment(image_id)), "mark negative")
        return True

    def flag(self, image_id: str | None = None, comment: str | None = None) -> bool:
        """F: flag for a second look (keeps an existing comment; `comment` replaces it). The mask is untouched."""
        image_id = image_id or self.current
        if image_id is None or image_id not in self._paths or not self.writable:
            return False
        label = Label(ReviewStatus.FLAGGED, comment if comment is not None else self.comment(image_id))
        doc = self.document(image_id)
        if doc is None:  # size unknown: a status of its own, not undoable
            self._set_label(image_id, label)
            self._save(image_id, None, label)
        else:
            self._decide(image_id, doc, None, label, "flag")
        return True

    def clear_flag(self, image_id: str | None = None) -> bool:
        """The reviewer clears the flag: *corrected* when the reviewer has saved a mask for it, else *unreviewed*."""
        image_id = image_id or self.current
        if image_id is None or self.status(image_id) is not ReviewStatus.FLAGGED or self.store is None:
            return False
        if not self.writable:
            return False
        doc = self.document(image_id)
        record = self.store.record(image_id)
        edited = image_id in self._edited or (record is not None and record.has_final and not record.final_from_import)
        label = Label(ReviewStatus.CORRECTED if edited else ReviewStatus.UNREVIEWED, self.comment(image_id))
        if doc is None:
            self._set_label(image_id, label)
            self._save(image_id, None, label)
        else:
            self._decide(image_id, doc, None, label, "clear flag")
        return True

    def set_comment(self, comment: str | None, image_id: str | None = None) -> bool:
        """Edit the image's comment (blank: none); the status stays. One undo step where the image is open."""
        image_id = image_id or self.current
        if image_id is None or image_id not in self._paths or not self.writable:
            return False
        label = Label(self.status(image_id), (comment or "").strip() or None)
        if label == self.label(image_id):
            return False
        doc = self.document(image_id)
        if doc is None:
            self._set_label(image_id, label)
            self._save(image_id, None, label)
        else:
            self._decide(image_id, doc, None, label, "edit comment")
        return True

    def review_history(self, image_id: str, limit: int = 200) -> ReviewHistory | None:
        """The stored record of `image_id` (the last `limit` journal entries; writes still queued are not in it)."""
        store = self.store
        if store is None or image_id not in self._paths:
            return None
        record = store.record(image_id)
        changes: list[StatusChange] = []
        for entry in reversed(store.journal(image_id, limit=limit)):
            if entry["action"] != "status":
                continue
            try:
                status = ReviewStatus(json.loads(entry["detail"])["status"])
            except (ValueError, KeyError, TypeError):
                continue
            if not changes or changes[-1].status is not status:
                changes.append(StatusChange(float(entry["ts"]), status, entry["reviewer"]))
        return ReviewHistory(
            record.reviewer if record is not None else None,
            record.updated if record is not None else None,
            tuple(changes),
            self.comment(image_id),
        )

    # ------------------------------------------------------------------------------------------------ other layers
    def reference_mask(self, image_id: str) -> np.ndarray | None:
        """The imported reference layer's mask of `image_id` (None when it has none)."""
        return self.store.reference_mask(image_id) if self.store is not None else None

    def after_import(self, layer: str) -> None:
        """Labels were imported into the store: reload labels; documents without history reopen from the import."""
        if self.store is None:
            return
        comments = self.store.comments()
        self._labels = {i: Label(st, comments.get(i)) for i, st in self.store.statuses().items()}
        if layer == "final":
            for image_id in [i for i, e in self._docs.items() if not e.doc.can_undo and not e.doc.can_redo]:
                self._docs.pop(image_id).unsubscribe()
                if image_id == self.current:
                    doc = self.document(image_id)
                    if doc is not None:
                        self._emit(DocumentReplaced(image_id, doc))
        self._emit(LabelsImported(layer))

    # ------------------------------------------------------------------------------------------------ writes
    def _submit(self, job: Callable[[], Any], image_id: str, kind: str, coalesce: str | None = None) -> None:
        if self.writer is not None and self.writable:
            self.writer.submit(job, image_id, kind, coalesce=coalesce)

    def _flush_for(self, image_id: str) -> None:
        """A queued write of this image must be visible to a read (later writes of other images are not waited for)."""
        if self.writer is not None:
            self.writer.wait_for(image_id)

    def unsaved(self) -> int:
        """Changes the disk refused so far and the store keeps for a retry (0: everything is saved)."""
        return len(self.store.unsaved()) if self.store is not None else 0

    def retry_unsaved(self) -> None:
        """Write the refused changes again, in order, on the writer thread (a new refusal is reported again)."""
        store = self.store
        if store is not None:
            self._submit(store.retry_unsaved, "", "retry")

    def discard_unsaved(self) -> None:
        """The reviewer chose to lose the refused changes (closing on a full disk); the store can then close."""
        self._discard_unsaved = True

    def flush(self) -> None:
        """Block until every queued write is durable (exports and imports call this first)."""
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        """Save everything queued, close the store and forget the folder (idempotent)."""
        for entry in self._docs.values():
            entry.unsubscribe()
        self._docs.clear()
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.store is not None:
            self.store.close(discard_unsaved=self._discard_unsaved)
            self.store = None
            self._discard_unsaved = False
        self.folder = None
        self.index = None
        self.current = None
        self._paths = {}
        self._sources = {}
        self._metas = {}
        self._shapes = {}
        self._labels = {}
        self._ai = {}
        self._ai_errors = {}
        self._ai_masks.clear()
        self._ai_written = set()
        self._saved_position = None
        self._edited = set()


__all__ = [
    "AiFailed",
    "AiModelChanged",
    "DocumentReplaced",
    "Event",
    "IndexChanged",
    "Label",
    "LabelsImported",
    "PredictionAdded",
    "ReviewSession",
    "SaveFailed",
    "Saved",
    "StatusChanged",
    "StoreFailed",
    "StoreOpened",
    "same_bundle",
]
