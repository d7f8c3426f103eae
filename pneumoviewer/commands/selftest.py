"""`pneumoviewer selftest`: check an installation end to end and print one line per check.

Installers and support staff run this after installing (or in a freshly unpacked package) to see that the pieces
a reviewer meets actually work on this machine: the bundled model is intact (sha256) and loads, one phantom
DICOM goes through the classifier and the segmenter, the main window opens and closes (offscreen when there is
no display), and a review store can be written and read back. Exit status 0 only if every check passed.

Everything runs in a temporary folder that is removed afterwards; nothing touches the user's studies or
settings, and the report carries no patient data (the image is a generated phantom).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME = "selftest"
HELP = "Check this installation: model integrity, inference on a phantom, main window, review store"

PHANTOM_SIZE = 512  # big enough for the demo models' input sizes, small enough to be quick


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="DIR", default=None,
                        help="model bundle to check (default: the bundled one, or $PNEUMOVIEWER_MODELS/demo)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and say where it is")
    parser.add_argument("--verbose", "-v", action="store_true", help="print the traceback of a failed check")


@dataclass
class CheckResult:
    """One line of the report."""

    name: str
    ok: bool
    seconds: float
    detail: str
    error: str = ""


@dataclass
class SelfTest:
    """Runs the checks in order; later checks use what earlier ones produced (engine, image, prediction)."""

    model_dir: Path
    work: Path
    verbose: bool = False
    results: list[CheckResult] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, fn: Callable[[], str], needs: tuple[str, ...] = ()) -> bool:
        missing = [n for n in needs if n not in self.state]
        if missing:
            self.results.append(CheckResult(name, False, 0.0, "not run", f"needs {', '.join(missing)}, which failed"))
            return False
        t0 = time.perf_counter()
        try:
            detail = fn()
            ok, error = True, ""
        except Exception as exc:  # a failed check is a report line, not a crash
            detail, ok = "", False
            error = f"{type(exc).__name__}: {exc}"
            if self.verbose:
                error += "\n" + traceback.format_exc()
        self.results.append(CheckResult(name, ok, time.perf_counter() - t0, detail, error))
        return ok

    # -- the checks ---------------------------------------------------------------------------------------------
    def check_bundle(self) -> str:
        from pneumoviewer.inference.bundle import read_manifest, verify_files

        if not (self.model_dir / "manifest.json").is_file():
            raise FileNotFoundError(
                f"no model bundle at {self.model_dir} (manifest.json missing): the installation is incomplete, "
                "or PNEUMOVIEWER_MODELS points elsewhere"
            )
        manifest = read_manifest(self.model_dir)
        verify_files(manifest)
        self.state["manifest"] = manifest
        kind = "synthetic demo, not for clinical use" if manifest.synthetic else "site model"
        return f"{manifest.name} {manifest.version} ({kind}); {len(manifest.files)} file(s) match their sha256"

    def check_load(self) -> str:
        from pneumoviewer.inference.engine import InferenceEngine

        engine = InferenceEngine(self.model_dir)
        engine.load(warm_up=True)
        self.state["engine"] = engine
        from pneumoviewer.inference.backend import tensorflow

        tf = tensorflow()  # already imported by load(); only its version is read here
        return f"TensorFlow {tf.__version__}, keras {_version('keras')}, device {engine.device}"

    def check_phantom(self) -> str:
        from pneumoviewer.io.dicom import load_image
        from pneumoviewer.phantom import generate_dataset

        data = generate_dataset(self.work / "phantom", n=1, seed=2024, size=PHANTOM_SIZE, positive_rate=1.0)
        image_id = data.image_ids[0]
        path = data.paths.get(image_id) or next(data.dicom_dir.rglob("*.dcm"))
        image = load_image(path)
        if image.display.shape != (PHANTOM_SIZE, PHANTOM_SIZE):
            raise AssertionError(f"decoded display is {image.display.shape}, expected {PHANTOM_SIZE}²")
        self.state["image"] = image
        self.state["folder"] = data.root
        self.state["truth"] = _truth_mask(data, image_id)
        return f"{_syntax_name(image.meta.transfer_syntax)} {image.meta.columns}×{image.meta.rows} read and decoded"

    def check_inference(self) -> str:
        import numpy as np

        from pneumoviewer.inference.preprocess import preprocess_image

        engine = self.state["engine"]
        image = self.state["image"]
        pred = engine.predict(image)
        h, w = image.display.shape
        if not (0.0 <= pred.probability <= 1.0):
            raise AssertionError(f"classifier probability {pred.probability} is outside [0, 1]")
        if pred.mask.shape != (h, w) or pred.mask.dtype != bool:
            raise AssertionError(f"mask is {pred.mask.dtype} {pred.mask.shape}, expected bool {(h, w)}")
        segmenter_s = pred.timings.get("segmenter", 0.0)
        if segmenter_s == 0.0:
            # The classifier kept the gate shut for this image: run the segmenter on it anyway, so that an
            # installation with a broken segmenter cannot pass the selftest.
            size = engine.config.segmenter_size
            t0 = time.perf_counter()
            out, _ = engine._run("segmenter", preprocess_image(image.display, size)[None])
            segmenter_s = time.perf_counter() - t0
            out = np.asarray(out)
            if out.shape[:3] != (1, size, size) or not np.all(np.isfinite(out)):
                raise AssertionError(f"segmenter output {out.shape} is not a finite {size}² map")
            seg_note = "segmenter forced (gate closed)"
        else:
            seg_note = f"{int(pred.mask.sum())} mask px"
        self.state["prediction"] = pred
        truth = self.state.get("truth")
        dice = ""
        if truth is not None and truth.shape == pred.mask.shape:
            from pneumoviewer.metrics import dice as dice_fn

            dice = f", Dice vs phantom truth {dice_fn(pred.mask, truth):.2f}"
        return (f"P(pneumothorax)={pred.probability:.3f}, {seg_note}{dice}; classifier "
                f"{pred.timings.get('classifier', 0.0) * 1000:.0f} ms, segmenter {segmenter_s * 1000:.0f} ms "
                f"on {pred.device}")

    def check_window(self) -> str:
        model = self.model_dir if "manifest" in self.state else None
        from pneumoviewer.app import open_and_close_main_window

        events = open_and_close_main_window(self.state["folder"], self.work / "config", model)
        self.state["window"] = events
        if "error" in events:
            raise RuntimeError(f"the window could not open the phantom folder: {events['error']}")
        if "painted" not in events:
            raise TimeoutError(f"the window showed no image within {events['timeout']:.0f} s")
        if not events["visible"] or events["visible_after_close"]:
            raise AssertionError(f"window visible while open: {events['visible']}, "
                                 f"after close: {events['visible_after_close']}")
        if events["imported_tf"]:
            raise AssertionError("opening the main window imported TensorFlow (it must stay lazy)")
        return (f"'{events['title']}' opened the phantom folder and painted its image in {events['painted']:.2f} s, "
                f"then closed (Qt platform: {events['platform']})")

    def check_app_ai(self) -> str:
        events = self.state["window"]
        if "ai_error" in events:
            raise RuntimeError(f"the app's AI worker failed: {events['ai_error']}")
        if "prediction" not in events:
            raise TimeoutError(f"the app's AI worker returned no result within {events['timeout']:.0f} s "
                               f"(inference mode: {events['inference_mode']})")
        return (f"{events['inference_mode']} worker loaded the model and returned P={events['prediction']:.3f} "
                f"{events['prediction_s']:.1f} s after start")

    def check_review_store(self) -> str:
        import numpy as np

        from pneumoviewer.core.types import ReviewStatus
        from pneumoviewer.review import ReviewStore

        # The model's prediction when inference worked; otherwise a stand-in, so that a broken model does not hide
        # whether the review store itself works.
        pred = self.state.get("prediction") or _stand_in_prediction()
        folder = self.work / "review"
        folder.mkdir()
        h, w = pred.mask.shape
        final = np.zeros((h, w), dtype=bool)
        final[h // 4: h // 2, w // 5: w // 3] = True
        store = ReviewStore.open(folder)
        try:
            store.set_ai_result(pred)
            store.set_final_mask(pred.image_id, final)
            store.set_status(pred.image_id, ReviewStatus.FLAGGED)
        finally:
            store.close()
        store = ReviewStore.open(folder)
        try:
            back = store.final_mask(pred.image_id)
            status = store.status(pred.image_id)
            ai = store.ai_result(pred.image_id)
        finally:
            store.close()
        if back is None or not np.array_equal(back, final):
            raise AssertionError("the final mask read back differs from the one written")
        if status != ReviewStatus.FLAGGED:
            raise AssertionError(f"status read back is {status}, expected flagged")
        if ai is None or abs(ai.probability - pred.probability) > 1e-6 or not np.array_equal(ai.mask, pred.mask):
            raise AssertionError("the AI result read back differs from the one written")
        return f"wrote and re-read AI result, final mask and status ({store.path.name})"

    def run(self) -> bool:
        self.check("model bundle", self.check_bundle)
        self.check("phantom DICOM", self.check_phantom)
        # Before TensorFlow is imported: the window must open without it (the app loads TF in a worker later).
        self.check("main window", self.check_window, needs=("folder",))
        self.check("app AI worker", self.check_app_ai, needs=("manifest", "window"))
        self.check("model load", self.check_load, needs=("manifest",))
        self.check("classifier + segmenter", self.check_inference, needs=("engine", "image"))
        self.check("review store", self.check_review_store)
        return all(r.ok for r in self.results)


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _syntax_name(uid: str | None) -> str:
    if not uid:
        return "DICOM"
    try:
        from pydicom.uid import UID

        return f"{UID(uid).name} DICOM"
    except Exception:
        return f"DICOM ({uid})"


def _stand_in_prediction() -> Any:
    import numpy as np

    from pneumoviewer.core.types import ModelInfo, Prediction

    mask = np.zeros((64, 48), dtype=bool)
    mask[10:30, 5:20] = True
    return Prediction(image_id="2.25.1", probability=0.75, mask=mask, model=ModelInfo("selftest", "0", True))


def _truth_mask(data: Any, image_id: str) -> Any:
    try:
        from pneumoviewer.io.siim_csv import read_rle_csv

        return read_rle_csv(data.csv_path).union_mask(image_id, PHANTOM_SIZE, PHANTOM_SIZE)
    except Exception:  # the Dice figure is informational only
        return None


def _symbols() -> tuple[str, str]:
    enc = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗".encode(enc)
        return "✓", "✗"
    except (UnicodeEncodeError, LookupError):
        return "OK", "FAIL"


def format_report(results: list[CheckResult], header: str, total_s: float) -> str:
    yes, no = _symbols()
    width = max((len(r.name) for r in results), default=10)
    lines = [header]
    for r in results:
        mark = (yes if r.ok else no).ljust(max(len(yes), len(no)))
        text = r.detail if r.ok else (r.error or "failed")
        lines.append(f"  {mark} {r.name:<{width}}  {r.seconds:6.2f} s  {text}")
    passed = sum(r.ok for r in results)
    verdict = "passed" if passed == len(results) else "FAILED"
    lines.append(f"selftest {verdict}: {passed}/{len(results)} checks in {total_s:.1f} s")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from pneumoviewer import __version__
    from pneumoviewer.core.paths import default_model_dir

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    model_dir = Path(args.model).expanduser() if args.model else default_model_dir()
    work = Path(tempfile.mkdtemp(prefix="pneumoviewer-selftest-"))
    # The index cache and per-user data go to the temporary folder too: the selftest leaves no trace.
    saved = {k: os.environ.get(k) for k in ("PNEUMOVIEWER_CACHE", "PNEUMOVIEWER_DATA")}
    os.environ["PNEUMOVIEWER_CACHE"] = str(work / "cache")
    os.environ["PNEUMOVIEWER_DATA"] = str(work / "data")
    t0 = time.perf_counter()
    try:
        test = SelfTest(model_dir=model_dir.resolve(), work=work, verbose=args.verbose)
        ok = test.run()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if args.keep:
            print(f"temporary files kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    header = (f"PneumoViewer {__version__} selftest — Python {platform.python_version()} on "
              f"{platform.system()} {platform.machine()}; models: {model_dir}")
    report = format_report(test.results, header, time.perf_counter() - t0)
    enc = getattr(sys.stdout, "encoding", None) or "utf-8"
    print(report.encode(enc, errors="replace").decode(enc), flush=True)  # e.g. '×' on a cp1252 console
    return 0 if ok else 1
