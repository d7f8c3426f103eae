"""`pneumoviewer report`: PNG figures, a self-contained HTML page, JSON numbers; read-only, no patient identifiers."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from pneumoviewer.cli import main
from pneumoviewer.core.types import ModelInfo, Prediction
from pneumoviewer.io.folder import scan_folder
from pneumoviewer.metrics import roc_auc
from pneumoviewer.review.store import ReviewStore, existing_store_path

PATIENT_NAME = "ZZTESTPATIENT^QUENTINA"
PATIENT_ID = "PID-4711-XQZW"
FIGURES = {"class_balance", "sex_by_label", "age_by_label", "view_by_label", "image_sizes", "mask_area", "roc",
           "probability_histogram", "dice_by_status"}


@pytest.fixture
def folder(phantom_dataset) -> Path:
    """The phantom folder with a patient name and ID written into every file (phantoms carry only UUIDs)."""
    for path in phantom_dataset.paths.values():
        ds = pydicom.dcmread(path)
        ds.PatientName = PATIENT_NAME
        ds.PatientID = PATIENT_ID
        ds.save_as(path)
        assert PATIENT_ID.encode() in path.read_bytes()  # so the greps below look for something that is there
    return phantom_dataset.root


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _no_identifiers(*blobs: bytes) -> None:
    for blob in blobs:
        for secret in (PATIENT_NAME, PATIENT_ID, "ZZTESTPATIENT", "QUENTINA", "4711-XQZW"):
            assert secret.encode() not in blob
            assert secret.lower().encode() not in blob.lower()


def _outputs(out: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()]


def test_report_without_store_creates_nothing(folder: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    before = _tree(folder)
    out = tmp_path / "out"
    code = main(["report", str(folder), "--html", str(out / "report.html"), "--png", str(out / "png"), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    numbers = json.loads(captured.out)
    assert numbers["images"] == 12 and not numbers["has_store"] and numbers["labelled"] == 0
    assert sum(numbers["sex_by_label"]["unlabelled"].values()) == 12
    assert numbers["roc"] is None and numbers["disagree_most"] == []
    assert existing_store_path(folder) is None
    assert _tree(folder) == before  # nothing written into the study folder

    pngs = {p.stem: p for p in (out / "png").glob("*.png")}
    assert set(pngs) == FIGURES
    for path in pngs.values():
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size == (640, 420)
            grey = np.asarray(img.convert("L"))
        assert grey.std() > 10 and (grey < 100).mean() > 0.003
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "no reviews yet" in page.lower()
    _self_contained(page, n_figures=len(FIGURES))
    _no_identifiers(captured.out.encode(), captured.err.encode(), *_outputs(out))


def _self_contained(page: str, n_figures: int) -> None:
    sources = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert len(sources) == n_figures and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page and "<script" not in page and "@import" not in page
    for src in sources:
        import base64

        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as img:
            assert img.format == "PNG"


def _review(folder: Path) -> tuple[dict[str, tuple[bool, float]], list[str]]:
    """AI results for every image and reviews of some; returns {id: (reviewer label, AI probability)} of the
    labelled ones, and the ids in the order their probabilities rise."""
    index = scan_folder(folder)
    ids = sorted(img.image_id for img in index.images)
    labelled: dict[str, tuple[bool, float]] = {}
    model = ModelInfo("demo", "1.0.0", synthetic=True)
    probabilities = np.linspace(0.05, 0.95, len(ids))
    with ReviewStore.open(folder) as store:
        store.register_images((i, *index.sizes()[i]) for i in ids)
        for k, (image_id, p) in enumerate(zip(ids, probabilities)):
            mask = np.zeros(index.sizes()[image_id], dtype=bool)
            if p >= 0.5:
                mask[40:80, 30:70] = True
            store.set_ai_result(Prediction(image_id, float(p), mask, model))
            if k in (7, 9, 11):  # high probability, accepted: positives
                store.accept_ai(image_id)
                labelled[image_id] = (True, float(p))
            elif k in (0, 1, 8):  # 8: the AI said positive, the reviewer says negative
                store.mark_negative(image_id)
                labelled[image_id] = (False, float(p))
            elif k == 3:  # low probability, but the reviewer draws a mask: a miss
                corrected = np.zeros_like(mask)
                corrected[100:120, 100:140] = True
                store.set_final_mask(image_id, corrected)
                labelled[image_id] = (True, float(p))
    return labelled, ids


def test_report_with_reviews(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labelled, ids = _review(folder)
    before = _tree(folder)
    out = tmp_path / "report.html"
    assert main(["report", str(folder), "--json", "--html", str(out)]) == 0
    captured = capsys.readouterr()
    numbers = json.loads(captured.out)
    assert any(k.startswith(".pneumoviewer") for k in before)
    assert _tree(folder) == before, "the review store or the study folder changed"

    y = [lab for lab, _ in labelled.values()]
    s = [p for _, p in labelled.values()]
    assert numbers["has_store"] and numbers["labelled"] == 7 and numbers["ai_results"] == 12
    assert numbers["threshold"] == 0.5  # the demo bundle's classifier threshold (the stored results' model)
    assert numbers["class_balance"]["reviewer"] == {"positive": 4, "negative": 3, "none": 5}
    assert numbers["class_balance"]["ai"] == {"positive": 6, "negative": 6, "none": 0}
    assert numbers["roc"]["auc"] == pytest.approx(roc_auc(y, s), abs=1e-6)
    assert numbers["roc"]["at_threshold"]["fn"] == 1 and numbers["roc"]["at_threshold"]["fp"] == 1
    dice = numbers["dice_by_status"]
    assert dice["accepted"] == {"n": 3, "mean": 1.0, "counts": [0] * 9 + [3]}
    assert dice["corrected"]["mean"] == 0.0 and dice["negative"]["n"] == 3
    worst = numbers["disagree_most"]
    assert {d["image_id"] for d in worst} == set(labelled) and len(worst) == 7
    # the missed positive (3: no AI mask, the reviewer drew one) and the false positive (8): Dice 0 both
    assert {d["image_id"] for d in worst[:2]} == {ids[3], ids[8]} and [d["score"] for d in worst[:2]] == [1.0, 1.0]
    assert [d["score"] for d in worst] == sorted((d["score"] for d in worst), reverse=True)
    page = out.read_text(encoding="utf-8")
    assert "no reviews yet" not in page.lower() and "AI and reviewer disagree most" in page
    _self_contained(page, n_figures=len(FIGURES))
    _no_identifiers(captured.out.encode(), captured.err.encode(), out.read_bytes())

    assert main(["report", str(folder), "--threshold", "0.9"]) == 0
    text = capsys.readouterr().out
    assert "threshold 0.9" in text and "AI:       1 positive, 11 negative" in text
    _no_identifiers(text.encode())


def test_report_bad_arguments(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["report", str(folder), "--threshold", "1.5"]) == 2
    assert "within [0, 1]" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 1
    assert "no readable DICOM images" in capsys.readouterr().err


def test_damaged_store_is_a_clear_error(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_file = folder / ".pneumoviewer" / "review.sqlite"
    store_file.parent.mkdir()
    store_file.write_bytes(b"this is not a database" * 100)
    before = _tree(folder)
    assert main(["report", str(folder), "--json"]) == 1
    err = capsys.readouterr().err
    assert "cannot read the review store" in err and "Traceback" not in err
    assert _tree(folder) == before
