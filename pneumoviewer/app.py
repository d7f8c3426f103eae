"""The composition root (Briefcase entry point): builds the QApplication, the review session, every widget and
controller, wires them, and hands them to the main window shell; the only place that wires everything.

`main([])` opens the demo studies (generated on first run), `main([FOLDER])` opens that folder. TensorFlow is never
imported here: the inference worker loads it in a child process after the first image is on screen.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pneumoviewer.core.logs import configure_logging
from pneumoviewer.core.paths import APP_NAME


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pneumoviewer open", description="Open the PneumoViewer review app.")
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `pneumoviewer open` and the GUI entry point."""
    parser.add_argument("folder", nargs="?", help="folder of DICOM studies (default: the bundled demo studies)")
    parser.add_argument("--model", metavar="DIR", help="model bundle folder (default: the folder's choice in AI ▸ "
                        "Model…, else the demo model for phantom folders and the real one for real films)")
    parser.add_argument("--no-ai", action="store_true", help="do not run the AI on open (AI ▸ Run AI still can)")
    parser.add_argument(
        "--inference", choices=("process", "thread"), help="run the model in a child process (default) or a thread"
    )


def build_window(
    settings: Any = None,
    bundle_dir: str | os.PathLike[str] | None = None,
    inference_mode: str | None = None,
    run_ai: bool = True,
    engine_factory: Callable[[str | None], Any] | None = None,
    open_store: Callable[[Path], Any] | None = None,
) -> Any:
    """The composition root: the review session, the widgets and the controllers, wired and handed to the window.

    The bundle of a folder (issue 10): the one chosen for it in AI ▸ Model… (if it still exists), else `bundle_dir`
    (``--model``), else `catalog.default_bundle`: the demo bundle when every indexed image is one of our phantoms
    (decided when the index is ready, before the first AI run), the real bundle otherwise. The default is not
    written down per folder, so a real bundle installed later is picked up; only a choice in the picker is.

    `engine_factory(bundle_dir)` replaces the real InferenceEngine (a tiny engine in tests); `open_store(folder)`
    replaces `ReviewStore.open` (tests keep stores out of shared folders). Nothing is loaded until a folder opens.
    """
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QWidget

    from pneumoviewer.core.paths import default_model_dir
    from pneumoviewer.core.types import SYNTHETIC_NOTE
    from pneumoviewer.gui import theme
    from pneumoviewer.gui.actions import EDITING_ACTIONS, PRESET_ACTIONS, build_actions, follow_history
    from pneumoviewer.gui.ai_controller import AI_PRIORITY_AHEAD, AiController, AiStatus
    from pneumoviewer.gui.dataset_view import DatasetController
    from pneumoviewer.gui.domain_guard import DomainGuard, with_banner
    from pneumoviewer.gui.editing_controller import EditingController
    from pneumoviewer.gui.export_dialog import ExportController
    from pneumoviewer.gui.folders import FolderController, demo_folder
    from pneumoviewer.gui.layers import LayerController
    from pneumoviewer.gui.main_window import MainWindow, WindowParts
    from pneumoviewer.gui.metadata_panel import MetadataPanel
    from pneumoviewer.gui.model_picker import ModelPickerDialog
    from pneumoviewer.gui.navigation import Navigator
    from pneumoviewer.gui.review_controller import ReviewController, SessionSignals
    from pneumoviewer.gui.settings import Settings
    from pneumoviewer.gui.tool_panel import ToolPanel
    from pneumoviewer.gui.view_controls import ViewControls
    from pneumoviewer.gui.viewer import ImageViewer
    from pneumoviewer.gui.worklist import DISAGREE, WorklistModel, WorklistPanel
    from pneumoviewer.inference import catalog
    from pneumoviewer.review import ReviewStore
    from pneumoviewer.review.session import ReviewSession

    settings = settings or Settings()
    mode = inference_mode or settings.inference_mode()
    window = MainWindow(settings)
    session = ReviewSession(open_store or ReviewStore.open)
    signals = SessionSignals(session, window)
    viewer = ImageViewer(window)
    opacity, style = settings.overlay_opacity(), settings.overlay_mode()
    ai_overlay = viewer.add_overlay("ai", settings.overlay_color("ai", theme.AI_MASK_COLOR), opacity, style, z=10)
    review_overlay = viewer.add_overlay(
        "review", settings.overlay_color("review", theme.REVIEW_MASK_COLOR), opacity, style, z=11
    )
    layers = LayerController(viewer, ai_overlay, review_overlay, opacity, style, window)
    worklist_model = WorklistModel(parent=window)
    worklist = WorklistPanel(worklist_model, window)
    metadata = MetadataPanel(window)
    # the navigator and the view controls each ask the other one thing (the image on screen / keep the window?)
    nav = Navigator(session, viewer, worklist, lambda: view.keeps_window(), parent=window)
    view = ViewControls(viewer, metadata, settings, layers, nav.current_image, window)
    nav.imageShown.connect(lambda _i: view.after_image_shown())
    editor = EditingController(viewer, review_overlay, window)
    editor.message.connect(lambda m: window.message(m, 4000))
    editor.historyChanged.connect(layers.refresh)
    editor.maskChanged.connect(layers.mask_changed)
    metadata.layerToggled.connect(lambda name, on: layers.set_difference(on) if name == "difference"
                                  else layers.set_layer_shown(name, on))
    layers.visibilityChanged.connect(metadata.set_layer_checked)
    layers.agreementChanged.connect(metadata.set_agreement)
    tool_panel = ToolPanel(editor)
    command_line_bundle = Path(bundle_dir) if bundle_dir is not None else None
    ai = AiController(session, command_line_bundle or default_model_dir(), mode, engine_factory, run_ai, window)
    guard = DomainGuard(session, settings, ai.model_info, window)

    def ai_pending() -> str:
        if not ai.has_model():
            return "no model"
        return "AI not run (AI ▸ Run AI)" if ai.worker is None and not run_ai else "waiting for AI…"

    review = ReviewController(session, signals, nav, editor, worklist_model, metadata, layers, window.message,
                              ai_pending, confirm_accept=guard.confirm_accept, parent=window)
    exporter = ExportController(window, session)
    auto_run = {"queued": False}  # the AI runs once per folder, after its first image is on screen
    default_pending = {"on": False}  # the folder's bundle waits for its index (phantoms or real films?)

    def chosen_bundle(folder: Path) -> Path | None:
        """The bundle known before the index: the folder's saved choice, else --model, else (demo) the demo one."""
        saved = settings.folder_model(folder)
        if saved and (Path(saved) / "manifest.json").is_file():
            return Path(saved)
        if command_line_bundle is not None:
            return command_line_bundle
        if folder.resolve() == demo_folder().resolve():
            return catalog.default_bundle(folder_is_phantoms=True)
        return None

    def on_open(folder: Path) -> None:
        window.set_folder_title(folder)
        metadata.set_meta(None)
        metadata.set_prediction(None, pending="")
        auto_run["queued"] = False
        ai.forget()
        bundle = chosen_bundle(folder)
        default_pending["on"] = bundle is None
        if bundle is not None:
            use_bundle(bundle)
        if run_ai and mode == "process" and bundle is not None:
            # spawning the child briefly holds this process (fork/exec): do it while the user waits for the index
            ai.ensure_worker()

    def on_index(_n: int) -> None:
        """No saved choice and no --model: the demo bundle for a folder of phantoms only, else the real one."""
        if not default_pending["on"]:
            return
        default_pending["on"] = False
        ids = session.image_ids()
        phantoms = bool(ids) and all(m.synthetic_phantom for i in ids if (m := session.meta(i)) is not None)
        use_bundle(catalog.default_bundle(folder_is_phantoms=phantoms))

    def use_bundle(bundle: Path) -> None:
        if ai.set_bundle(bundle):
            model_state()

    def model_state() -> None:
        """Actions, details, toolbar note and banner after the bundle is known or changed."""
        has = ai.has_model()
        for name in ("run_ai", "rerun_ai"):
            actions[name].setEnabled(has)
        info = ai.model_info()
        if not has:
            metadata.set_model(None, state="no model")
        elif info is not None:
            metadata.set_model(info, state="not loaded yet")
        view.disclaimer_label.setText(f"AI model: {SYNTHETIC_NOTE}" if info is not None and info.synthetic else "")
        guard.refresh()

    def choose_model() -> None:
        """AI ▸ Model…: the picker (non-blocking); the choice is kept for this folder and used at once."""
        dialog = ModelPickerDialog(ai.bundle_dir, parent=window)
        dialog.setObjectName("modelPicker")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.bundle_chosen.connect(lambda path: apply_model(Path(path)))
        dialog.open()

    def apply_model(bundle: Path) -> None:
        if session.folder is not None:
            settings.set_folder_model(session.folder, bundle)
        default_pending["on"] = False
        if not ai.set_bundle(bundle):
            return
        model_state()
        window.message(f"AI model: {bundle.name}", 4000)
        if run_ai and session.image_ids():
            start_ai()  # only the images this bundle has no stored result for (the session shows its stored ones)

    folders = FolderController(session, nav, worklist, worklist_model, settings, window.task_progress,
                               window.message, on_open, window)
    dataset = DatasetController(session, window, worklist.select_image, window.message, ai.classifier_threshold)
    folders.folderClosing.connect(dataset.stop)
    folders.folderClosing.connect(lambda: worklist.set_disagreement([]))
    # each folder reopens with its own sort and filters (a new one: the last sort, no filter), see Settings
    folders.folderOpened.connect(lambda folder: worklist.restore_state(settings.worklist_state(folder)))
    worklist.stateChanged.connect(
        lambda state: settings.set_worklist_state(session.folder, state) if session.folder is not None else None
    )
    worklist.disagreementWanted.connect(dataset.refresh)
    dataset.statsReady.connect(lambda stats: worklist.set_disagreement([i for i, _ in stats.disagree_most()]))
    signals.indexChanged.connect(on_index)

    def stats_after_index(_n: int) -> None:
        """The dashboard on screen, or the disagreement filter chosen: the new folder's statistics."""
        if (dataset.dock is not None and dataset.dock.isVisible()) or worklist.status_filter.currentText() == DISAGREE:
            dataset.refresh()

    signals.indexChanged.connect(stats_after_index)
    nav.imageShown.connect(guard.refresh)
    ai.modelInfo.connect(guard.refresh)

    def start_ai(rerun: bool = False) -> None:
        if not ai.has_model():
            return
        ai.start(worklist.visible_image_ids(), rerun=rerun)

    def cancel_ai() -> None:
        ai.cancel()
        ai_status.hide()
        window.message("AI stopped for the remaining images (AI ▸ Run AI resumes)", 4000)

    def after_paint(_image_id: str) -> None:
        if run_ai and not auto_run["queued"] and session.image_ids():
            auto_run["queued"] = True
            QTimer.singleShot(0, start_ai)  # after the first image is on screen, not before

    nav.imagePainted.connect(after_paint)
    worklist.currentImageChanged.connect(
        lambda image_id: ai.prioritize(nav.neighbours(image_id, AI_PRIORITY_AHEAD))
    )
    def triage() -> None:
        """T: highest AI probability first, and the top of that list on screen."""
        worklist.sort_by_probability()
        ids = worklist.visible_image_ids()
        if ids:
            worklist.select_image(ids[0])

    slots: dict[str, Callable[..., Any]] = {
        "open": folders.choose_folder, "open_demo": folders.open_demo, "quit": window.close,
        "next": lambda: nav.step(+1), "previous": lambda: nav.step(-1),
        "accept": review.accept_ai, "negative": review.mark_negative, "flag": review.flag,
        "flag_comment": review.flag_with_comment, "clear_flag": review.clear_flag,
        "auto_advance": lambda on: (review.set_auto_advance(on), settings.set_auto_advance(on)),
        "triage": triage, "search": window.focus_search,
        "fit": viewer.fit, "one_to_one": viewer.one_to_one,
        "zoom_in": lambda: viewer.zoom_by(1.25), "zoom_out": lambda: viewer.zoom_by(0.8),
        "invert": viewer.set_inverted, "reset": view.reset_view,
        **{name: (lambda p=preset: view.apply_preset(p)) for name, preset in PRESET_ACTIONS.items()},
        "save_preset": view.save_window_preset, "masks": view.set_masks_visible, "contour": view.set_contour,
        "layer_ai": lambda on: layers.set_layer_shown("ai", on),
        "layer_mine": lambda on: layers.set_layer_shown("mine", on),
        "reference_layer": lambda on: layers.set_layer_shown("reference", on), "difference": layers.set_difference,
        "run_ai": start_ai, "rerun_ai": lambda: start_ai(rerun=True), "cancel_ai": cancel_ai,
        "undo": editor.undo, "redo": editor.redo, "shrink": editor.shrink, "grow": editor.grow,
        "pan": lambda: editor.set_tool(None),
        **{f"tool_{name}": (lambda n=name: editor.set_tool(n)) for name in editor.tools},
        "choose_model": choose_model, "dataset": dataset.show,
        "shortcuts": window.show_shortcuts, "about": window.about, "show_ids": view.set_show_ids,
    }
    actions = build_actions(window, slots)
    follow_history(actions, editor)
    layers.bind(actions)
    actions["auto_advance"].setChecked(settings.auto_advance())
    review.set_auto_advance(settings.auto_advance())
    view.bind(actions)
    ai_status = AiStatus(ai, actions["cancel_ai"], window)

    def on_model_info(info: Any) -> None:
        metadata.set_model(info, state="loading…")
        view.disclaimer_label.setText(f"AI model: {SYNTHETIC_NOTE}" if info.synthetic else "")

    def on_model_failed(message: str) -> None:
        metadata.set_model(None, state=f"no model — {message}")
        window.message(f"AI unavailable: {message}", 10000)

    def on_store_opened(_path: str, read_only: bool, message: str) -> None:
        """A store that opened read-only is shown, not edited; what happened is said where it cannot be missed."""
        for name in EDITING_ACTIONS:
            actions[name].setEnabled(not read_only)
        tool_panel.setEnabled(not read_only)
        metadata.edit_comment.setEnabled(not read_only)
        if read_only:
            editor.set_tool(None)
        if message:
            window.warn("Review store", message + ("\n\nThis folder is open read-only." if read_only else ""))

    signals.storeOpened.connect(on_store_opened)
    ai.modelInfo.connect(on_model_info)
    ai.modelReady.connect(lambda device: metadata.set_model(ai.model_info(), device=device))
    ai.modelFailed.connect(on_model_failed)
    ai.progress.connect(lambda _d, _t: worklist.update_summary())
    ai.inferenceIdle.connect(worklist.update_summary)
    if not ai.has_model():
        metadata.set_model(None, state="no model")
        metadata.set_prediction(None, pending="no model")
        for name in ("run_ai", "rerun_ai", "cancel_ai"):
            actions[name].setEnabled(False)
    ai.bundleChanged.connect(lambda _b: ai_status.show_bundle())
    parts = WindowParts(
        session=session, signals=signals, viewer=viewer, ai_overlay=ai_overlay, review_overlay=review_overlay,
        worklist=worklist, worklist_model=worklist_model, metadata=metadata, view=view, nav=nav, editor=editor,
        tool_panel=tool_panel, ai=ai, ai_status=ai_status, review=review, folders=folders, exporter=exporter,
        guard=guard, dataset=dataset, layers=layers, central=with_banner(viewer, guard.banner), actions=actions,
        shutdown=[exporter.wait, folders.stop, dataset.stop, ai.stop, nav.stop, session.close],
    )
    window.assemble(parts)
    # the keyboard starts on the worklist (J / K / A / N / F act at once, nothing is typed into the search box), and
    # comes back to it when the canvas hides its image while a folder opens
    QWidget.setTabOrder(viewer.graphics, worklist.table)
    worklist.focus_list()
    return window


def _no_display() -> bool:
    """Linux/BSD without an X or Wayland display and no platform chosen: the window cannot open."""
    if not sys.platform.startswith(("linux", "freebsd")) or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def create_app(argv: Sequence[str] | None = None) -> tuple[object, object]:
    """(QApplication, MainWindow), the window shown and opening its folder; the caller runs `app.exec()`."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if _no_display():
        # Qt would abort with advice to reinstall the application; one line says what is really missing
        raise SystemExit("pneumoviewer: no display found (set DISPLAY or use QT_QPA_PLATFORM=offscreen for tests)")
    from PySide6.QtWidgets import QApplication

    from pneumoviewer.gui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_NAME])
    app.setOrganizationName(APP_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    apply_dark_theme(app)  # type: ignore[arg-type]
    configure_logging()
    window = build_window(bundle_dir=args.model, inference_mode=args.inference, run_ai=not args.no_ai)
    window.show()
    folders = window.parts.folders
    if args.folder:
        folder = Path(args.folder).expanduser()
        if not folder.is_dir():
            raise SystemExit(f"pneumoviewer: {folder} is not a folder")
        folders.open_folder(folder)
    else:
        folders.open_demo()
    return app, window


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app until its window closes; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app, window = create_app(argv)
    _quit_on_ctrl_c(app, window)
    return int(app.exec())  # type: ignore[attr-defined]


def _quit_on_ctrl_c(app: object, window: object) -> None:
    """Ctrl+C in the terminal closes the window cleanly (workers joined, layout saved) instead of being ignored."""
    import signal

    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: window.close())  # type: ignore[attr-defined]
    signal.signal(signal.SIGTERM, lambda *_: window.close())  # type: ignore[attr-defined]
    timer = QTimer(app)  # type: ignore[arg-type]
    timer.timeout.connect(lambda: None)  # wakes the interpreter so Python sees the signal while Qt waits
    timer.start(250)


def needs_offscreen(env: dict[str, str], plat: str) -> bool:
    """True when Qt would find no display: Linux/BSD without X11 or Wayland and no platform chosen."""
    if env.get("QT_QPA_PLATFORM"):
        return False
    if plat.startswith(("win", "darwin")):
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def open_and_close_main_window(folder: Path, config_dir: Path, model_dir: Path | None,
                               timeout_s: float = 300.0) -> dict[str, Any]:
    """Start the real app on `folder` as a user would, wait for its first image and (with a model) its AI result.

    The AI runs the way the app runs it (a worker process by default), so a packaged app whose worker cannot start
    fails here. Offscreen when there is no display; settings go to `config_dir` so the user's layout is untouched.
    Returns what happened: painted/prediction times, errors, visibility, whether TensorFlow entered this process.
    """
    if needs_offscreen(dict(os.environ), sys.platform):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    saved_config = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(config_dir)
    tf_before = "tensorflow" in sys.modules
    events: dict[str, Any] = {"timeout": timeout_s}
    try:
        from PySide6.QtCore import QEventLoop, QTimer

        argv = [str(folder), *(["--model", str(model_dir)] if model_dir else ["--no-ai"])]
        t0 = time.perf_counter()
        app, window = create_app(argv)
        events["inference_mode"] = window.parts.ai.mode  # type: ignore[attr-defined]
        loop = QEventLoop()

        def done() -> bool:
            return "error" in events or ("painted" in events and (
                model_dir is None or "prediction" in events or "ai_error" in events))

        def note(key: str, value: Any) -> None:
            events.setdefault(key, value)
            if done():
                loop.quit()

        parts = window.parts  # type: ignore[attr-defined]
        parts.nav.imagePainted.connect(lambda _iid: note("painted", time.perf_counter() - t0))
        parts.folders.scanFailed.connect(lambda msg: note("error", msg))
        if model_dir is not None:
            def arrived(_iid: str, probability: float) -> None:
                events.setdefault("prediction_s", time.perf_counter() - t0)
                note("prediction", float(probability))

            parts.ai.predictionArrived.connect(arrived)
            parts.ai.predictionFailed.connect(lambda _iid, msg: note("ai_error", msg))
            parts.ai.modelFailed.connect(lambda msg: note("ai_error", msg))
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        if not done():
            loop.exec()
        events["visible"] = window.isVisible()
        events["title"] = window.windowTitle()
        window.close()  # stops and joins the app's worker threads and processes
        events["visible_after_close"] = window.isVisible()
        window.deleteLater()
        del app
    finally:
        if saved_config is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = saved_config
    events["imported_tf"] = not tf_before and "tensorflow" in sys.modules
    events["platform"] = os.environ.get("QT_QPA_PLATFORM") or "default"
    return events


if __name__ == "__main__":
    raise SystemExit(main())
