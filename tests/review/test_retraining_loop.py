"""The loop closes on one desktop: phantom folder → predict → edit → export CSV → train segmenter → new bundle loads."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pneumoviewer.cli import main
from pneumoviewer.core.types import ReviewStatus
from pneumoviewer.editing import MaskDocument
from pneumoviewer.editing.tools import BrushTool, ClearTool, EraserTool
from pneumoviewer.io.folder import scan_folder
from pneumoviewer.io.siim_csv import read_rle_csv
from pneumoviewer.review import ReviewStore

TINY = ["--size", "64", "--epochs", "1", "--steps-per-epoch", "2", "--batch", "4", "--val-fraction", "0.25", "-q"]


@pytest.mark.slow
def test_retraining_loop(phantom_dataset, tmp_path):
    from pneumoviewer.inference.bundle import load_bundle
    from pneumoviewer.inference.engine import InferenceEngine
    from pneumoviewer.io.dicom import load_image

    folder = tmp_path / "study"
    shutil.copytree(phantom_dataset.root, folder)
    truth_csv = folder / "train-rle.csv"
    first = tmp_path / "bundle-0"
    # a starting bundle (stands in for the shipped demo model)
    for task in ("classifier", "segmenter"):
        assert (
            main(
                [
                    "train",
                    task,
                    "--data",
                    str(folder),
                    "--labels",
                    str(truth_csv),
                    "--out",
                    str(first),
                    *TINY,
                    "--synthetic",
                    "--name",
                    "loop-test",
                    "--model-version",
                    "0",
                ]
            )
            == 0
        )

    # predict every image into the review store
    engine = InferenceEngine(first)
    engine.load()
    index = scan_folder(folder)
    truth = read_rle_csv(truth_csv)
    edited = {}
    with ReviewStore.open(folder, reviewer="loop-test") as store:
        for img in index.images:
            pred = engine.predict(load_image(img.path))
            assert pred.mask.shape == (img.meta.rows, img.meta.columns)
            store.set_ai_result(pred)
        # review: correct positives with real tool strokes, mark negatives
        for n, img in enumerate(index.images):
            iid = img.image_id
            h, w = img.meta.rows, img.meta.columns
            if not truth.is_positive(iid):
                store.mark_negative(iid)
                continue
            gt = truth.union_mask(iid, h, w)
            doc = MaskDocument.from_mask(store.ai_result(iid).mask)
            ClearTool().apply(doc)
            rows, cols = np.nonzero(gt)
            brush = BrushTool(radius=6)
            order = np.argsort(rows)
            pts = list(zip(rows[order][:: max(1, len(order) // 12)], cols[order][:: max(1, len(order) // 12)]))
            brush.press(doc, pts[0])
            for p in pts[1:]:
                brush.move(doc, p)
            brush.release(doc)
            eraser = EraserTool(radius=3)
            eraser.press(doc, (0, 0))
            eraser.release(doc)
            if n % 2:
                doc.undo()
                doc.redo()
            assert doc.mask.any()
            store.set_final_mask(iid, doc.mask)
            edited[iid] = doc.mask.copy()
        assert all(s in (ReviewStatus.CORRECTED, ReviewStatus.NEGATIVE) for s in store.statuses().values())

    labels = tmp_path / "reviewed.csv"
    assert main(["export", str(folder), "--csv", str(labels), "--only-reviewed"]) == 0
    exported = read_rle_csv(labels)
    assert len(exported) == len(index.images)
    for iid, m in edited.items():
        assert np.array_equal(exported.union_mask(iid, *m.shape), m)

    # retrain the segmenter on the reviewed labels into a new bundle (keeping the classifier)
    second = tmp_path / "bundle-1"
    shutil.copytree(first, second)
    assert (
        main(
            [
                "train",
                "segmenter",
                "--data",
                str(folder),
                "--labels",
                str(labels),
                "--out",
                str(second),
                *TINY,
                "--model-version",
                "1",
            ]
        )
        == 0
    )
    bundle = load_bundle(second)  # verifies checksums
    assert {"classifier", "segmenter"} <= set(bundle.models)
    new_engine = InferenceEngine(second)
    assert new_engine.model_info.version == "1"
    new_engine.load()
    pred = new_engine.predict(load_image(index.images[0].path))
    assert pred.model.version == "1" and pred.mask.shape == (index.images[0].meta.rows, index.images[0].meta.columns)
