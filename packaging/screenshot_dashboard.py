"""Save the README screenshot of the dataset dashboard, made from SYNTHETIC phantoms only (never real data).

    .venv/bin/python packaging/screenshot_dashboard.py [--model DIR] [--images 90]
        [--out resources/docs/dataset_dashboard.png]

Generates phantom studies, runs the real model bundle (default: the shipped demo bundle) on every image, then plays
a reviewer who follows the phantoms' ground truth on two thirds of them (accepts an AI mask that matches it well,
else draws the true mask, or marks the image negative), and grabs `gui.dataset_dashboard.DatasetDashboard`
with `widget.grab()`; offscreen Qt.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    from pneumoviewer.core.paths import default_model_dir, resources_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model_dir())
    ap.add_argument("--out", type=Path, default=resources_dir() / "docs" / "dataset_dashboard.png")
    ap.add_argument("--images", type=int, default=90)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="pv-dash-"))
    for var, sub in (("PNEUMOVIEWER_CACHE", "cache"), ("PNEUMOVIEWER_DATA", "data"), ("XDG_CONFIG_HOME", "config")):
        os.environ[var] = str(tmp / sub)
    if not (args.model / "manifest.json").is_file():
        print(f"no model bundle at {args.model}: the screenshot must show real AI results", file=sys.stderr)
        return 2

    from pneumoviewer.inference.engine import InferenceEngine
    from pneumoviewer.io.dicom import load_image
    from pneumoviewer.io.folder import scan_folder
    from pneumoviewer.io.siim_csv import read_rle_csv
    from pneumoviewer.metrics import dice
    from pneumoviewer.phantom import generate_dataset
    from pneumoviewer.review.dataset_stats import dataset_stats
    from pneumoviewer.review.store import ReviewStore

    data = generate_dataset(tmp / "studies", args.images, seed=21, size=args.size, positive_rate=0.4)
    index = scan_folder(data.root)
    truth = read_rle_csv(data.csv_path)
    engine = InferenceEngine(args.model, keep_probability_maps=False)
    engine.load()
    with ReviewStore.open(data.root) as store:
        for start in range(0, len(index.images), 8):
            for pred in engine.predict_batch([load_image(img.path) for img in index.images[start:start + 8]]):
                store.set_ai_result(pred)
        for k, img in enumerate(sorted(index.images, key=lambda i: i.image_id)):
            if k % 3 == 2:
                continue  # not reviewed yet
            h, w = img.meta.rows, img.meta.columns
            true_mask = truth.union_mask(img.image_id, h, w)
            ai = store.original_mask(img.image_id)
            if not true_mask.any():
                store.mark_negative(img.image_id)
            elif ai is not None and dice(ai, true_mask) >= 0.7:
                store.accept_ai(img.image_id)
            else:
                store.set_final_mask(img.image_id, true_mask)
        stats = dataset_stats([img.meta for img in index.images], store, engine.config.classifier_threshold)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from pneumoviewer.gui.dataset_dashboard import DatasetDashboard
    from pneumoviewer.gui.theme import apply_dark_theme

    app = QApplication([])
    app.setApplicationName("PneumoViewer")
    apply_dark_theme(app)
    dash = DatasetDashboard()
    dash.set_stats(stats)
    dash.resize(1600, 1000)
    dash.show()
    result: list[bool] = []

    def shoot() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result.append(dash.grab().save(str(args.out)))
        app.quit()

    QTimer.singleShot(500, shoot)
    app.exec()
    ok = bool(result and result[0])
    print(f"{'saved' if ok else 'FAILED to save'} {args.out} ({stats.n_images} phantom images, "
          f"{stats.n_labelled} reviewed)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
