"""The Qt-free inference client in thread mode: typed events, errors per image, cancel, stop (no Qt, no TensorFlow)."""

from __future__ import annotations

import threading

import numpy as np

from pneumoviewer.core.types import ModelInfo, Prediction
from pneumoviewer.inference.client import InferenceClient
from pneumoviewer.inference.protocol import Failed, Idle, ModelLoading, Progress, Ready, Result


class TinyEngine:
    """The InferenceEngine interface, a threshold instead of a network."""

    model_info = ModelInfo("tiny", "0", synthetic=True)
    device = "CPU"

    def __init__(self, bundle_dir, fail=()):
        self.fail = set(fail)

    def load(self):
        pass

    def predict(self, image):
        if image.meta.image_id in self.fail:
            raise ValueError(f"{image.path}: refused")
        d = image.display
        return Prediction(image.meta.image_id, float(d.mean()), d > np.quantile(d, 0.95), self.model_info)


def test_thread_mode_emits_typed_events_and_goes_on_after_a_bad_image(phantom_dataset):
    ids = phantom_dataset.image_ids[:4]
    bad = ids[2]
    events = []
    idle = threading.Event()

    def on_event(event):
        events.append(event)
        if isinstance(event, Idle):
            idle.set()

    client = InferenceClient(on_event, None, "thread", lambda d: TinyEngine(d, fail=[bad]))
    thread = threading.Thread(target=client.run, daemon=True)
    thread.start()
    client.enqueue((i, phantom_dataset.paths[i]) for i in ids)
    client.prioritize([ids[3]])
    assert idle.wait(60)
    kinds = [type(e) for e in events]
    assert kinds[:2] == [ModelLoading, Ready]
    results = [e.prediction.image_id for e in events if isinstance(e, Result)]
    assert results[0] == ids[3] and sorted(results) == sorted(set(ids) - {bad})  # prioritised first, the rest go on
    assert [e.image_id for e in events if isinstance(e, Failed)] == [bad]
    assert [e for e in events if isinstance(e, Progress)][-1] == Progress(4, 4)
    client.enqueue((i, phantom_dataset.paths[i]) for i in ids)  # done already: nothing queued again
    assert client.pending() == 0
    client.request_stop()
    thread.join(10)
    assert not thread.is_alive()
