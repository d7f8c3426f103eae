"""StoreWriter: store writes in submission order on one thread; queued saves of the same thing coalesce."""

from __future__ import annotations

import threading

from pneumoviewer.review.writer import StoreWriter


def test_store_writer_keeps_order_and_coalesces_queued_saves():
    done: list[tuple[str, str]] = []
    ran: list[str] = []
    gate = threading.Event()
    writer = StoreWriter(on_done=lambda i, k: done.append((i, k)))
    writer.submit(gate.wait, "x", "block")  # hold the thread so the rest queues up
    for n in range(5):
        writer.submit(lambda n=n: ran.append(f"final{n}"), "a", "final", coalesce="final:a")
    writer.submit(lambda: ran.append("negative"), "a", "negative")
    writer.submit(lambda: ran.append("final5"), "a", "final", coalesce="final:a")
    writer.submit(lambda: ran.append("b"), "b", "final", coalesce="final:b")
    assert writer.pending("a") == 7 and not writer.idle()
    gate.set()
    writer.flush()
    assert ran == ["negative", "final5", "b"]  # older queued saves of "a" skipped, order kept
    assert writer.idle() and writer.pending("a") == 0
    writer.submit(lambda: 1 / 0, "c", "final")
    writer.flush()
    assert len(writer.errors) == 1 and "division by zero" in writer.errors[0]  # reported, the writer goes on
    writer.close()
    assert ("a", "final") in done and ("a", "negative") in done


def test_waiting_for_one_images_writes_does_not_wait_for_writes_queued_after_them():
    """Opening an image during a burst waits for that image's queued result, not for the whole queue."""
    w = StoreWriter()
    release, done = threading.Event(), []
    w.submit(lambda: done.append("b"), "b")
    w.submit(lambda: (release.wait(10), done.append("a")), "a")  # a long write queued after b's
    waiter = threading.Thread(target=w.wait_for, args=("b",))
    waiter.start()
    waiter.join(5)
    assert not waiter.is_alive() and done == ["b"]  # b's write is committed; a's is still running
    waiter = threading.Thread(target=w.wait_for, args=("a",))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # a's write is not done: waiting for it really waits
    release.set()
    waiter.join(5)
    assert not waiter.is_alive() and done == ["b", "a"] and w.pending("a") == 0
    w.wait_for("never-queued")  # nothing queued for it: returns at once
    w.close()
