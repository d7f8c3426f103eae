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
