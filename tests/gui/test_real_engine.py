"""End to end with the real InferenceEngine and TensorFlow in the inference child process (a tiny untrained bundle).

The bundle is built in a subprocess with the project's own architectures and manifest writer, so this test process
never imports TensorFlow itself.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from .conftest import open_and_wait

BUILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pneumoviewer.inference.bundle import ModelEntry, write_manifest
    from pneumoviewer.inference.config import ModelConfig
    from pneumoviewer.training.architectures import build_classifier, build_segmenter

    out, size = Path(sys.argv[1]), 64
    out.mkdir(parents=True, exist_ok=True)
    build_classifier("small", size).save(out / "classifier.keras")
    build_segmenter("unet-small", size).save(out / "segmenter.keras")
    cfg = ModelConfig(name="tiny-gui-test", version="0.0.1", classifier_size=size, segmenter_size=size,
                      synthetic=True, classifier_threshold=0.0, mask_threshold=0.0, min_area_px_1024=0)
    write_manifest(out, cfg, {"classifier": ModelEntry("classifier", "classifier.keras", "small", size),
                              "segmenter": ModelEntry("segmenter", "segmenter.keras", "unet-small", size)})
    """
)


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    proc = subprocess.run([sys.executable, "-c", BUILD, str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.slow
def test_real_engine_predicts_the_folder_in_the_child_process(make_window, qtbot, phantom_dataset, tiny_bundle):
    w = make_window(bundle_dir=tiny_bundle, inference_mode="process")
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=240000):
        open_and_wait(qtbot, w, phantom_dataset.root)
    assert w.parts.ai.worker.device and w.parts.ai.worker.device.startswith(("CPU", "GPU"))
    assert set(w.parts.session.predictions()) == set(phantom_dataset.image_ids)
    for image_id in phantom_dataset.image_ids:
        pred = w.parts.session.prediction(image_id)
        assert pred.model.name == "tiny-gui-test" and pred.model.synthetic
        assert 0.0 <= pred.probability <= 1.0
        meta = next(r.meta for r in w.parts.worklist_model.rows() if r.meta.image_id == image_id)
        mask = w.parts.session.ai_mask(image_id)  # from the small LRU, else read back from the review store
        assert mask.shape == (meta.rows, meta.columns) and mask.dtype == bool
        assert pred.mask_area == int(mask.sum())
    assert "tiny-gui-test v0.0.1" in w.parts.ai_status.device_label.text()
    assert "not for clinical use" in w.parts.metadata.disclaimer.text()
    shown = w.parts.session.current
    assert w.parts.ai_overlay.mask is w.parts.session.ai_mask(shown)
