"""`pneumoviewer selftest`: the report, its exit status, and that each check can fail for the right reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pneumoviewer.app import needs_offscreen as _needs_offscreen
from pneumoviewer.commands import selftest
from pneumoviewer.commands.selftest import CheckResult, SelfTest, format_report

ROOT = Path(__file__).resolve().parents[1]
TINY = 64


def _run_selftest(*args: str, env_extra: dict[str, str] | None = None, timeout: int = 600) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PNEUMOVIEWER_")}
    env.update(QT_QPA_PLATFORM="offscreen", TF_CPP_MIN_LOG_LEVEL="2", PYTHONIOENCODING="utf-8")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "pneumoviewer", "selftest", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, encoding="utf-8")


CHECKS = ("model bundle", "phantom DICOM", "main window", "app AI worker", "model load", "classifier + segmenter",
          "review store")


def _lines(stdout: str) -> dict[str, str]:
    """Check name -> its report line ("  <mark> <name>  <seconds> s  <detail>")."""
    out = {}
    for line in stdout.splitlines():
        rest = line.strip()[1:].strip()
        for name in CHECKS:
            if rest.startswith(name + " "):
                out[name] = line
    return out


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny, untrained) classifier + segmenter bundle written with the project's own manifest code."""
    import keras

    from pneumoviewer.inference.bundle import ModelEntry, write_manifest
    from pneumoviewer.inference.config import ModelConfig

    root = tmp_path_factory.mktemp("tiny-bundle")
    inp = keras.Input((TINY, TINY, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    cls = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))
    inp2 = keras.Input((TINY, TINY, 1))
    seg = keras.Model(inp2, keras.layers.Conv2D(1, 1, activation="sigmoid")(inp2))
    cls.save(root / "classifier.keras")
    seg.save(root / "segmenter.keras")
    config = ModelConfig(name="selftest-tiny", version="0.0.1", classifier_size=TINY, segmenter_size=TINY,
                         classifier_threshold=0.0, synthetic=True)
    entries = {
        "classifier": ModelEntry("classifier", "classifier.keras", "tiny-cnn", TINY),
        "segmenter": ModelEntry("segmenter", "segmenter.keras", "tiny-fcn", TINY),
    }
    write_manifest(root, config, entries, notes="tiny untrained bundle for the selftest tests")
    return root


def _copy_with_threshold(src: Path, dst: Path, threshold: float) -> Path:
    shutil.copytree(src, dst)
    manifest = dst / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data.setdefault("thresholds", {})["classifier_probability"] = threshold
    manifest.write_text(json.dumps(data), encoding="utf-8")
    return dst


# -- fast, no TensorFlow ---------------------------------------------------------------------------------------------
def test_report_marks_each_check_and_counts() -> None:
    results = [CheckResult("model bundle", True, 0.5, "demo 1.0"), CheckResult("main window", False, 1.25, "", "boom")]
    text = format_report(results, "header", 2.0)
    lines = text.splitlines()
    assert lines[0] == "header"
    assert "model bundle" in lines[1] and "demo 1.0" in lines[1] and "0.50 s" in lines[1]
    assert "main window" in lines[2] and "boom" in lines[2] and "1.25 s" in lines[2]
    assert lines[1].split()[0] != lines[2].split()[0]  # passed and failed marks differ
    assert lines[-1].startswith("selftest FAILED: 1/2 checks")


def test_offscreen_only_without_a_display() -> None:
    assert _needs_offscreen({}, "linux")
    assert not _needs_offscreen({"DISPLAY": ":0"}, "linux")
    assert not _needs_offscreen({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not _needs_offscreen({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not _needs_offscreen({}, "win32")
    assert not _needs_offscreen({}, "darwin")


def test_dependent_checks_fail_when_their_input_failed(tmp_path: Path) -> None:
    test = SelfTest(model_dir=tmp_path / "nowhere", work=tmp_path)
    assert not test.check("model bundle", test.check_bundle)
    assert not test.check("model load", test.check_load, needs=("manifest",))
    assert [r.ok for r in test.results] == [False, False]
    assert "manifest.json missing" in test.results[0].error
    assert "needs manifest" in test.results[1].error


def test_review_store_check_round_trips_without_a_model(tmp_path: Path) -> None:
    test = SelfTest(model_dir=tmp_path, work=tmp_path)
    assert test.check("review store", test.check_review_store), test.results[-1].error
    assert "re-read" in test.results[-1].detail


def test_missing_bundle_fails_with_a_clear_message(tmp_path: Path) -> None:
    proc = _run_selftest("--model", str(tmp_path / "no-such-bundle"), timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = _lines(proc.stdout)
    assert "no model bundle" in lines["model bundle"] and "no-such-bundle" in lines["model bundle"]
    assert lines["model load"].lstrip().startswith("✗")
    assert lines["app AI worker"].lstrip().startswith("✗")
    # the checks that do not need the model still ran and passed
    for name in ("phantom DICOM", "main window", "review store"):
        assert lines[name].lstrip().startswith("✓"), lines[name]
    assert "selftest FAILED: 3/7" in proc.stdout


def test_selftest_is_a_cli_command() -> None:
    from pneumoviewer.cli import build_parser

    args = build_parser().parse_args(["selftest", "--model", "x"])
    assert args._run is selftest.run and args.model == "x"


# -- with TensorFlow (tiny models) ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_selftest_passes_on_a_good_bundle(tiny_bundle: Path) -> None:
    proc = _run_selftest("--model", str(tiny_bundle))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = _lines(proc.stdout)
    assert set(lines) == set(CHECKS)
    assert all(line.lstrip().startswith("✓") for line in lines.values()), proc.stdout
    assert "selftest-tiny 0.0.1" in lines["model bundle"] and "sha256" in lines["model bundle"]
    assert "mask px" in lines["classifier + segmenter"]  # gate open (threshold 0): segmenter ran in the pipeline
    assert "worker loaded the model and returned P=" in lines["app AI worker"]
    assert "selftest passed: 7/7" in proc.stdout


@pytest.mark.slow
def test_selftest_forces_the_segmenter_when_the_gate_stays_shut(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy_with_threshold(tiny_bundle, tmp_path / "shut", 1.0)
    from pneumoviewer.inference.bundle import rehash

    rehash(bundle)
    proc = _run_selftest("--model", str(bundle))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "segmenter forced" in _lines(proc.stdout)["classifier + segmenter"]


@pytest.mark.slow
def test_tampered_model_file_fails_the_integrity_check(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "tampered"
    shutil.copytree(tiny_bundle, bundle)
    with open(bundle / "segmenter.keras", "ab") as fh:
        fh.write(b"\0")
    proc = _run_selftest("--model", str(bundle))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = _lines(proc.stdout)
    assert "sha256 mismatch" in lines["model bundle"] and "segmenter.keras" in lines["model bundle"]
    assert lines["classifier + segmenter"].lstrip().startswith("✗")


@pytest.mark.slow
def test_selftest_passes_on_the_shipped_demo_bundle() -> None:
    """What installers run: the default bundle in models/demo (shipped with the app)."""
    from pneumoviewer.core.paths import default_model_dir

    assert (default_model_dir() / "manifest.json").is_file(), "the demo model bundle is not in models/demo"
    proc = _run_selftest()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "selftest passed: 7/7" in proc.stdout
