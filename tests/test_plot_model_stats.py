"""packaging/plot_model_stats.py draws the demo-model statistics figure from logs and held-out predictions."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from pneumoviewer.metrics import roc_auc

ROOT = Path(__file__).resolve().parents[1]

CLS_HEADER = ("epoch,seconds,positive_rate,accuracy,auc,loss,precision,recall,val_accuracy,val_auc,val_loss,"
              "val_precision,val_recall")
SEG_HEADER = "epoch,seconds,positive_rate,dice,loss,val_dice,val_loss"


def _load() -> ModuleType:
    path = ROOT / "packaging" / "plot_model_stats.py"
    loader = importlib.machinery.SourceFileLoader("plot_model_stats", str(path))
    spec = importlib.util.spec_from_loader("plot_model_stats", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    cls = tmp_path / "classifier-training-log.csv"
    cls.write_text(CLS_HEADER + "\n"
                   "1,10.0,0.8,0.70,0.75,0.60,0.7,0.7,0.72,0.78,0.55,0.7,0.7\n"
                   "2,9.0,0.7,0.80,0.85,0.45,0.8,0.8,0.81,0.86,0.44,0.8,0.8\n"
                   "3,9.5,0.6,0.85,0.90,0.35,0.85,0.85,0.84,0.91,0.40,0.85,0.85\n")
    seg = tmp_path / "segmenter-training-log.csv"
    seg.write_text(SEG_HEADER + "\n1,20.0,0.8,0.10,1.20,0.20,1.30\n2,18.0,0.7,0.40,0.90,0.45,1.00\n"
                   "3,17.0,0.6,0.60,0.70,0.62,0.80\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"thresholds": {"classifier_probability": 0.4}}))
    # 6 images: 3 positive (RLE rows, one with two instances), 3 negative; one positive scored below a negative
    truth = tmp_path / "truth.csv"
    truth.write_text("ImageId, EncodedPixels\n"
                     "img1, 10 5 20 5\nimg2, -1\nimg3, 3 4\nimg3, 40 2\nimg4, -1\nimg5, 7 7\nimg6, -1\n")
    probs = tmp_path / "probs.csv"
    probs.write_text("ImageId,probability\nimg1,0.9\nimg2,0.2\nimg3,0.35\nimg4,0.5\nimg5,0.8\nimg6,0.1\n")
    return {"cls": cls, "seg": seg, "manifest": manifest, "truth": truth, "probs": probs,
            "out": tmp_path / "out" / "stats.png"}


def _args(p: dict[str, Path], held_out: bool = True) -> list[str]:
    args = ["--classifier-log", str(p["cls"]), "--segmenter-log", str(p["seg"]), "--manifest", str(p["manifest"]),
            "--out", str(p["out"]), "--width", "700", "--height", "450"]
    if held_out:
        args += ["--probs", str(p["probs"]), "--truth", str(p["truth"])]
    return args


def test_figure_and_summary(inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    mod = _load()
    assert mod.main(_args(inputs)) == 0
    summary = json.loads(capsys.readouterr().out)

    y = [True, False, True, False, True, False]
    s = [0.9, 0.2, 0.35, 0.5, 0.8, 0.1]
    expected = roc_auc(y, s)
    assert expected == pytest.approx(8 / 9)  # the data itself is not trivially separable
    assert summary["auc"] == pytest.approx(expected, abs=1e-6)
    assert summary["n_pos"] == 3 and summary["n_neg"] == 3
    assert summary["threshold"] == 0.4
    assert summary["classifier"]["final_val_auc"] == pytest.approx(0.91)
    assert summary["classifier"]["final_val_loss"] == pytest.approx(0.40)
    assert summary["segmenter"]["final_val_dice"] == pytest.approx(0.62)
    assert summary["segmenter"]["final_val_loss"] == pytest.approx(0.80)
    assert summary["at_threshold"]["tp"] == 2 and summary["at_threshold"]["fp"] == 1

    out = inputs["out"]
    assert out.is_file() and out.stat().st_size == summary["bytes"]
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (700, 450)
        pixels = np.asarray(img.convert("L"), dtype=np.float64)
    assert pixels.var() > 100.0
    assert (pixels < 100).mean() > 0.005  # dark ink on a white page
    assert (pixels > 245).mean() > 0.5


def test_without_held_out_predictions(inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    mod = _load()
    assert mod.main(_args(inputs, held_out=False)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["auc"] is None and summary["n_pos"] is None
    assert inputs["out"].is_file()


def test_bad_log_names_file_and_line(inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    mod = _load()
    text = inputs["seg"].read_text().replace("2,18.0,0.7,0.40,0.90", "2,18.0,0.7,oops,0.90")
    inputs["seg"].write_text(text)
    assert mod.main(_args(inputs)) == 2
    err = capsys.readouterr().err
    assert str(inputs["seg"]) in err and "line 3" in err
    assert not inputs["out"].exists()


def test_missing_probability_is_an_error(inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    mod = _load()
    inputs["probs"].write_text("ImageId,probability\nimg1,0.9\nimg2,0.2\n")
    assert mod.main(_args(inputs)) == 2
    err = capsys.readouterr().err
    assert str(inputs["probs"]) in err and "4 of 6" in err
