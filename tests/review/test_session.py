"""ReviewSession without Qt: starting masks, A / N / F, labels that follow undo, autosave, AI memory and re-runs."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.core.types import ImageMeta, ModelInfo, Prediction, ReviewStatus
from pneumoviewer.io.folder import FolderIndex, IndexedImage
from pneumoviewer.review import ReviewStore
from pneumoviewer.review.session import (
    AiModelChanged,
    DocumentReplaced,
    PredictionAdded,
    ReviewSession,
    StatusChanged,
    StoreFailed,
)

H, W = 64, 80
SHA_A = "a" * 64
SHA_B = "b" * 64


def make_index(root: Path, n: int = 4, shape: tuple[int, int] = (H, W), phantoms: bool = True) -> FolderIndex:
    """`n` images; our phantoms by default (the test model below is phantom-trained, as the demo bundle is)."""
    images = [
        IndexedImage(root / f"im{i}.dcm",
                     ImageMeta(image_id=f"1.2.{i}", rows=shape[0], columns=shape[1], synthetic_phantom=phantoms))
        for i in range(n)
    ]
    return FolderIndex(root=root, images=images)


def open_session(root: Path, n: int = 4, shape: tuple[int, int] = (H, W), **kwargs) -> ReviewSession:
    session = ReviewSession(**kwargs)
    assert session.open_folder(root)
    session.set_index(make_index(root, n, shape))
    return session


def prediction(image_id: str, mask: np.ndarray, p: float = 0.8, sha: str | None = SHA_A) -> Prediction:
    return Prediction(image_id, p, mask, ModelInfo("unet", "1.0", synthetic=True, sha256=sha), device="CPU")


def box(shape=(H, W), r=(10, 30), c=(20, 50)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[r[0] : r[1], c[0] : c[1]] = True
    return m


def stroke(doc, r: int = 40) -> None:
    """A brush stroke of the reviewer: one history step."""
    modifier = np.ones((3, 20), bool)
    doc.apply(modifier, (r, r + 3, 5, 25))


def stored_state(session: ReviewSession, image_id: str) -> tuple[ReviewStatus, str | None, np.ndarray | None]:
    session.flush()
    with ReviewStore(session.store.path) as other:  # a second connection sees only what was committed
        return other.status(image_id), other.comment(image_id), other.final_mask(image_id)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "studies"
    folder.mkdir()
    return folder


# ------------------------------------------------------------------------------------------------ starting mask
def test_starting_mask_is_final_then_ai_then_empty_and_ai_fills_an_untouched_document(root):
    s = open_session(root)
    ids = s.image_ids()
    events = []
    s.subscribe(events.append)
    # empty first; the AI result arriving later replaces it (nothing to undo yet)
    doc = s.document(ids[0])
    assert doc is not None and not doc.mask.any()
    ai = box()
    s.add_prediction(prediction(ids[0], ai))
    assert np.array_equal(doc.mask, ai)
    assert any(isinstance(e, DocumentReplaced) and e.image_id == ids[0] for e in events)
    # AI when there is no final mask
    s.add_prediction(prediction(ids[1], ai))
    assert np.array_equal(s.document(ids[1]).mask, ai)
    # the final mask wins over the AI mask (after reopening: documents start from the store)
    stroke(s.document(ids[1]))
    edited = s.document(ids[1]).mask.copy()
    s.close()
    s2 = open_session(root)
    s2.add_prediction(prediction(ids[1], box(r=(0, 5))))
    assert np.array_equal(s2.document(ids[1]).mask, edited)
    assert s2.status(ids[1]) is ReviewStatus.CORRECTED
    s2.close()


def test_a_synthetic_model_never_prefills_a_real_image_but_a_can_still_take_its_mask(root):
    s = ReviewSession()
    assert s.open_folder(root)
    s.set_index(make_index(root, phantoms=False))
    ids = s.image_ids()
    doc = s.document(ids[0])
    s.add_prediction(prediction(ids[0], box()))  # phantom-trained model on a real film
    assert not s.ai_prefills(ids[0]) and not s.document(ids[0]).mask.any()
    s.add_prediction(prediction(ids[1], box()))
    assert not s.document(ids[1]).mask.any()  # opened after the result: still empty
    real = Prediction(ids[2], 0.9, box(), ModelInfo("siim", "1.0", synthetic=False, sha256=SHA_B), device="CPU")
    s.add_prediction(real)
    assert s.ai_prefills(ids[2]) and np.array_equal(s.document(ids[2]).mask, box())  # a real model does
    assert s.accept_ai(ids[0]) and np.array_equal(doc.mask, box())  # A takes it on purpose
    s.close()


def test_a_model_switch_reruns_other_bundles_results_and_never_overwrites_a_reviewers_mask(root):
    s = open_session(root)
    ids = s.image_ids()
    for image_id in ids[:3]:
        s.add_prediction(prediction(image_id, box(), sha=SHA_A))
    stroke(s.document(ids[0]))  # the reviewer corrected image 0
    mine = s.document(ids[0]).mask.copy()
    untouched = s.document(ids[1])
    assert s.ai_queue(ids, SHA_A) == [ids[3]]
    assert s.ai_queue(ids, SHA_B) == ids  # the other bundle's results are queued for the new one
    other = box(r=(0, 8), c=(0, 8))
    for image_id in ids[:2]:
        s.add_prediction(prediction(image_id, other, sha=SHA_B))
    assert np.array_equal(s.document(ids[0]).mask, mine)  # the reviewer's mask stays
    assert np.array_equal(untouched.mask, other)  # an untouched AI start follows the new model
    assert s.prediction(ids[2]).model.sha256 == SHA_A  # results not yet redone stay
    s.close()


def test_switching_models_shows_each_models_stored_results_and_switching_back_reruns_nothing(root):
    s = ReviewSession()
    s.set_ai_model(SHA_A)  # the AI controller says which bundle runs before the folder opens
    assert s.open_folder(root)
    s.set_index(make_index(root))
    ids = s.image_ids()
    for image_id in ids[:3]:
        s.add_prediction(prediction(image_id, box(), p=0.8, sha=SHA_A))
    stroke(s.document(ids[0]))  # the reviewer corrected image 0
    mine = s.document(ids[0]).mask.copy()
    untouched = s.document(ids[1])
    events: list = []
    s.subscribe(events.append)
    assert s.set_ai_model(SHA_B) and not s.set_ai_model(SHA_B)
    (changed,) = [e for e in events if isinstance(e, AiModelChanged)]
    assert changed.sha256 == SHA_B and changed.predictions == {} and s.predictions() == {}
    assert s.ai_queue(ids, SHA_B) == ids  # B has nothing yet
    assert not untouched.mask.any()  # an untouched AI start follows: B has no mask for it
    other = box(r=(0, 8), c=(0, 8))
    for image_id in ids[:2]:
        s.add_prediction(prediction(image_id, other, p=0.3, sha=SHA_B))
    assert s.add_prediction(prediction(ids[3], box(), p=0.6, sha=SHA_A)) is None  # A's late result: stored only
    assert ids[3] not in s.predictions() and np.array_equal(untouched.mask, other)
    assert s.ai_queue(ids, SHA_B) == ids[2:]  # only what B lacks
    assert s.set_ai_model(SHA_A)  # back: A's results, from the store, none re-run
    assert {i: p.probability for i, p in s.predictions().items()} == dict.fromkeys(ids, 0.8) | {ids[3]: 0.6}
    assert all(p.model.sha256 == SHA_A and p.stored for p in s.predictions().values())
    assert s.ai_queue(ids, SHA_A) == []
    assert np.array_equal(untouched.mask, box()) and np.array_equal(s.ai_mask(ids[1]), box())
    assert np.array_equal(s.document(ids[0]).mask, mine)  # the reviewer's mask never moved
    status, _, final = stored_state(s, ids[0])
    assert status is ReviewStatus.CORRECTED and np.array_equal(final, mine)
    assert s.store.ai_model() == SHA_A  # the folder's current model, for exports and evaluate
    s.close()
    s.set_ai_model(SHA_B)
    s.open_folder(root)  # reopened with B: B's results
    s.set_index(make_index(root))
    assert {i: p.probability for i, p in s.predictions().items()} == dict.fromkeys(ids[:2], 0.3)
    assert np.array_equal(s.ai_mask(ids[0]), other)
    s.flush()
    assert s.store.ai_model() == SHA_B
    s.close()


# ------------------------------------------------------------------------------------------------ issue 11 labels
def test_negative_then_undo_restores_the_previous_status_and_mask(root):
    s = open_session(root)
    image_id = s.image_ids()[0]
    ai = box()
    s.add_prediction(prediction(image_id, ai))
    s.set_current(image_id)
    doc = s.document()
    assert s.mark_negative()
    assert s.status(image_id) is ReviewStatus.NEGATIVE and not doc.mask.any()
    assert stored_state(s, image_id)[0] is ReviewStatus.NEGATIVE
    assert doc.undo()  # Ctrl+Z
    assert s.status(image_id) is ReviewStatus.UNREVIEWED
    assert np.array_equal(doc.mask, ai)
    status, _comment, final = stored_state(s, image_id)
    assert status is ReviewStatus.UNREVIEWED  # the AI mask is not the reviewer's label
    assert final is None or np.array_equal(final, ai)
    assert doc.redo()
    assert s.status(image_id) is ReviewStatus.NEGATIVE and not doc.mask.any()
    s.close()


def test_negative_on_an_already_empty_mask_is_still_one_undo_step(root):
    s = open_session(root)
    image_id = s.image_ids()[0]
    doc = s.document(image_id)
    stroke(doc)
    stroke(doc, r=50)
    assert s.status(image_id) is ReviewStatus.CORRECTED
    s.set_current(image_id)
    doc.set_mask(np.zeros(doc.shape, bool), "clear")
    assert s.mark_negative()  # no pixel changes: the decision is still its own step
    assert doc.undo_label == "mark negative"
    doc.undo()
    assert s.status(image_id) is ReviewStatus.CORRECTED


def test_undoing_every_stroke_returns_to_unreviewed_and_it_is_not_exported_as_reviewed(root):
    s = open_session(root)
    a, b = s.image_ids()[:2]
    doc = s.document(a)
    stroke(doc)
    stroke(doc, r=50)
    assert s.status(a) is ReviewStatus.CORRECTED
    doc.undo()
    assert s.status(a) is ReviewStatus.CORRECTED  # one stroke is still there
    doc.undo()
    assert s.status(a) is ReviewStatus.UNREVIEWED and not doc.mask.any()
    # N then Ctrl+Z on another image
    s.set_current(b)
    s.mark_negative()
    s.document(b).undo()
    assert stored_state(s, a)[0] is ReviewStatus.UNREVIEWED
    assert stored_state(s, b)[0] is ReviewStatus.UNREVIEWED
    reviewed = {e.image_id for e in s.store.final_entries(only_reviewed=True)}  # what --only-reviewed exports
    assert a not in reviewed and b not in reviewed
    s.close()


def test_editing_a_flagged_image_keeps_the_flag_and_comment_and_undo_returns_to_it(root):
    s = open_session(root)
    image_id = s.image_ids()[0]
    s.set_current(image_id)
    assert s.flag(comment="apex unclear")
    doc = s.document()
    stroke(doc)
    assert s.status(image_id) is ReviewStatus.FLAGGED and s.comment(image_id) == "apex unclear"
    status, comment, final = stored_state(s, image_id)
    assert (status, comment) == (ReviewStatus.FLAGGED, "apex unclear") and final is not None and final.any()
    doc.undo()
    assert s.label(image_id).status is ReviewStatus.FLAGGED and s.comment(image_id) == "apex unclear"
    doc.undo()  # undo the flag itself
    assert s.status(image_id) is ReviewStatus.UNREVIEWED and s.comment(image_id) is None
    assert stored_state(s, image_id)[:2] == (ReviewStatus.UNREVIEWED, None)
    doc.redo()
    assert s.status(image_id) is ReviewStatus.FLAGGED and s.comment(image_id) == "apex unclear"
    # the reviewer decides: negative replaces the flag; clearing the flag of an edited image leaves it corrected
    doc.redo()
    assert s.clear_flag(image_id)
    assert s.status(image_id) is ReviewStatus.CORRECTED
    s.close()


def test_accept_sets_the_ai_mask_and_flag_keeps_an_existing_comment(root):
    s = open_session(root)
    a, b = s.image_ids()[:2]
    s.set_current(a)
    assert not s.accept_ai()  # no AI result yet: refused, nothing changes
    assert s.status(a) is ReviewStatus.UNREVIEWED
    ai = box()
    s.add_prediction(prediction(a, ai))
    doc = s.document(a)
    doc.set_mask(np.zeros(doc.shape, bool))
    assert s.accept_ai()
    assert np.array_equal(doc.mask, ai) and s.status(a) is ReviewStatus.ACCEPTED
    status, _, final = stored_state(s, a)
    assert status is ReviewStatus.ACCEPTED and np.array_equal(final, ai)
    doc.undo()
    assert s.status(a) is ReviewStatus.CORRECTED  # back to the cleared mask, which was an edit
    s.set_current(b)
    s.flag(comment="why")
    s.flag()
    assert s.comment(b) == "why"


def test_statuses_comments_and_position_survive_reopening(root):
    s = open_session(root)
    a, b = s.image_ids()[:2]
    s.set_current(a)
    s.mark_negative()
    s.set_current(b)
    s.flag(comment="second look")
    s.close()
    s2 = open_session(root)
    assert s2.status(a) is ReviewStatus.NEGATIVE
    assert s2.label(b).status is ReviewStatus.FLAGGED and s2.comment(b) == "second look"
    assert s2.take_saved_position() == b
    assert s2.take_saved_position() is None  # once
    s2.close()


def test_status_events_carry_their_data(root):
    s = open_session(root)
    events = []
    s.subscribe(events.append)
    image_id = s.image_ids()[0]
    s.flag(image_id, comment="c")
    assert StatusChanged(image_id, ReviewStatus.FLAGGED, "c") in events


def test_a_store_that_cannot_open_is_reported(root):
    def broken(_folder):
        raise OSError("disk on fire")

    s = ReviewSession(open_store=broken)
    events = []
    s.subscribe(events.append)
    assert not s.open_folder(root)
    assert any(isinstance(e, StoreFailed) and "disk on fire" in e.message for e in events)


# ------------------------------------------------------------------------------------------------ issue 13 memory
def test_memory_per_ai_result_is_bounded(root):
    n, shape = 120, (256, 256)
    s = open_session(root, n=n, shape=shape, ai_masks=4)
    masks = [box(shape, r=(i % 200, i % 200 + 40)) for i in range(n)]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for image_id, mask in zip(s.image_ids(), masks, strict=True):
        s.add_prediction(prediction(image_id, mask.copy()))
    s.flush()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    full = shape[0] * shape[1]  # one full-size bool mask
    assert held < 12 * full, f"{held / full:.1f} full-size masks held for {n} results"
    assert len(s.predictions()) == n and s.prediction(s.image_ids()[0]).mask_area == int(masks[0].sum())
    # an evicted mask still reads back (from the store)
    assert np.array_equal(s.ai_mask(s.image_ids()[0]), masks[0])
    s.close()


def test_ai_is_not_rerun_for_stored_results_of_the_same_bundle(root):
    s = open_session(root)
    ids = s.image_ids()
    for image_id in ids[:3]:
        s.add_prediction(prediction(image_id, box(), sha=SHA_A))
    assert s.ai_queue(ids, SHA_A) == [ids[3]]  # made this session: done
    s.close()
    s2 = open_session(root)
    restored = s2.prediction(ids[0])
    assert restored.stored and restored.model.sha256 == SHA_A and restored.mask_area == int(box().sum())
    assert s2.ai_queue(ids * 2, SHA_A) == [ids[3]]  # each once, stored results of this bundle skipped
    assert s2.ai_queue(ids, SHA_B) == ids  # another bundle: everything again
    assert s2.ai_queue(ids, None) == ids  # bundle unknown: cannot trust the stored results
    assert s2.ai_queue(ids, SHA_A, rerun=True) == ids  # "Re-run AI on all images"
    s2.close()


def test_the_ai_queue_is_linear_in_the_folder_size(root):
    """No list membership inside the loop over rows: 20,000 ids take well under a second even on a busy CI box."""
    import time

    n = 20000
    s = ReviewSession()
    s.open_folder(root)
    s.set_index(make_index(root, n))
    ids = s.image_ids()
    t0 = time.process_time()
    queued = s.ai_queue(ids + ids, SHA_A)
    elapsed = time.process_time() - t0
    assert len(queued) == n
    assert elapsed < 1.0  # quadratic (`in` on a list) takes minutes at this size
    s.close()


def test_results_for_another_folder_are_dropped(root):
    s = open_session(root)
    events = []
    s.subscribe(events.append)
    assert s.add_prediction(prediction("not.in.folder", box())) is None
    assert not any(isinstance(e, PredictionAdded) for e in events)


def test_clearing_the_flag_of_an_image_edited_in_an_earlier_session_leaves_it_corrected(root):
    s = open_session(root)
    a, b = s.image_ids()[:2]
    s.flag(a, comment="look again")
    stroke(s.document(a))
    s.flag(b)
    s.close()
    s2 = open_session(root)
    assert s2.clear_flag(a) and s2.status(a) is ReviewStatus.CORRECTED
    assert s2.clear_flag(b) and s2.status(b) is ReviewStatus.UNREVIEWED
    assert not s2.clear_flag(b)  # not flagged any more
    s2.close()


def test_a_store_held_by_another_instance_is_shown_read_only_and_not_edited(root):
    from pneumoviewer.review.session import StoreOpened

    holder = ReviewStore.open(root)  # another instance has the folder open
    try:
        s = ReviewSession()
        events = []
        s.subscribe(events.append)
        assert s.open_folder(root)
        s.set_index(make_index(root))
        opened = next(e for e in events if isinstance(e, StoreOpened))
        assert opened.read_only and opened.message and not s.writable
        image_id = s.image_ids()[0]
        s.set_current(image_id)
        assert not s.mark_negative() and not s.flag(comment="x") and not s.accept_ai()
        stroke(s.document(image_id))  # the GUI offers no tools; even so, nothing is decided or saved
        assert s.status(image_id) is ReviewStatus.UNREVIEWED
        s.close()
        assert holder.status(image_id) is ReviewStatus.UNREVIEWED
    finally:
        holder.close()


def test_every_saved_mask_records_the_source_file_it_was_drawn_on(root):
    """Issue 11: the store keeps SOPInstanceUID + header digest with each mask, so an export can refuse a file that
    was replaced in place since (the check itself is tested with the export)."""
    from dataclasses import replace

    from pneumoviewer.core.types import SourceIdentity

    index = make_index(root)
    index.images[0] = IndexedImage(index.images[0].path, replace(index.images[0].meta, header_digest="d" * 32))
    s = ReviewSession()
    assert s.open_folder(root)
    s.set_index(index)
    a = s.image_ids()[0]
    s.set_current(a)
    stroke(s.document(a))
    s.flush()
    with ReviewStore(s.store.path) as other:
        assert other.source_identity(a) == SourceIdentity(a, "d" * 32)
    s.close()


def test_comment_edit_and_the_review_history_from_the_journal(root):
    s = open_session(root)
    image_id = s.image_ids()[0]
    s.set_current(image_id)
    assert s.review_history(image_id).changes == ()
    assert s.mark_negative()
    s.flush()
    assert s.flag(comment="apex unclear")
    assert not s.set_comment("  apex unclear ")  # the same comment: nothing to do, no undo step
    assert s.set_comment("small rim")
    assert (s.status(image_id), s.comment(image_id)) == (ReviewStatus.FLAGGED, "small rim")
    s.flush()
    history = s.review_history(image_id)
    assert [c.status for c in history.changes] == [ReviewStatus.NEGATIVE, ReviewStatus.FLAGGED]
    assert history.reviewer == s.store.reviewer and history.comment == "small rim" and history.updated is not None
    assert history.changes[0].time <= history.changes[1].time
    s.document().undo()  # the comment edit is its own undo step
    assert s.comment(image_id) == "apex unclear"
    assert s.set_comment("")  # blank: no comment
    assert s.comment(image_id) is None and s.status(image_id) is ReviewStatus.FLAGGED
    s.close()
