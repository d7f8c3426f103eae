"""The inference engine: preprocess → classifier → gate → segmenter → resize → threshold → min-area.

No Qt here, and no TensorFlow until :meth:`InferenceEngine.load` (or the first predict): constructing an engine
and asking for its ``model_info`` only reads ``manifest.json``, so the GUI can show the model name at start-up.
The GUI's worker thread calls ``load()`` (which also warms the graphs up) before the user needs the CPU.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pneumoviewer.core.paths import default_model_dir
from pneumoviewer.core.types import ModelInfo, Prediction
from pneumoviewer.inference.bundle import BundleError, Manifest, read_manifest
from pneumoviewer.inference.config import ModelConfig
from pneumoviewer.inference.postprocess import binarize
from pneumoviewer.inference.preprocess import preprocess_image, resize_probability

log = logging.getLogger(__name__)

OOM_NOTE = "CPU (GPU out of memory; batch retried on CPU)"


class InferenceEngine:
    """Runs a bundle's classifier and segmenter on display images; results at each image's own size."""

    def __init__(
        self,
        bundle_dir: str | os.PathLike[str] | None = None,
        *,
        keep_probability_maps: bool = True,
        max_batch: int = 8,
    ) -> None:
        self.bundle_dir = Path(bundle_dir) if bundle_dir is not None else default_model_dir()
        self.keep_probability_maps = keep_probability_maps
        self.max_batch = max(1, int(max_batch))
        self._manifest: Manifest | None = None
        self._bundle: Any = None
        self._predictors: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
        self._device = "not loaded"
        self._lock = threading.RLock()
        self.oom_fallbacks = 0

    # -- cheap, TensorFlow-free --------------------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = read_manifest(self.bundle_dir)
        return self._manifest

    @property
    def config(self) -> ModelConfig:
        return self.manifest.config

    @property
    def model_info(self) -> ModelInfo:
        return self.manifest.model_info

    @property
    def loaded(self) -> bool:
        return self._bundle is not None

    @property
    def device(self) -> str:
        """'CPU', 'GPU: <name>', or 'not loaded' before :meth:`load`."""
        return self._device

    # -- loading ---------------------------------------------------------------------------------------------
    def load(self, warm_up: bool = True) -> None:
        """Import TensorFlow, verify and load the bundle, compile the predict graphs and (optionally) warm up."""
        with self._lock:
            if self._bundle is not None:
                return
            from pneumoviewer.inference import backend
            from pneumoviewer.inference.bundle import load_bundle

            bundle = load_bundle(self.bundle_dir)
            if "classifier" not in bundle.models or "segmenter" not in bundle.models:
                raise BundleError(f"{self.bundle_dir}: the engine needs both a classifier and a segmenter "
                                  f"(found {sorted(bundle.models)}); train the missing one into this bundle")
            self._manifest = bundle.manifest
            self._predictors = {task: backend.make_predictor(m) for task, m in bundle.models.items()}
            self._device = backend.device_name()
            self._bundle = bundle
            if warm_up:
                self.warm_up()

    def warm_up(self) -> float:
        """Trace both graphs with one dummy image each (so the first real image is fast); returns seconds."""
        self.load(warm_up=False)
        t0 = time.perf_counter()
        for task in ("classifier", "segmenter"):
            s = self.config.input_size(task)
            self._run(task, np.zeros((1, s, s, 1), np.float32))
        return time.perf_counter() - t0

    def _run(self, task: str, batch: np.ndarray) -> tuple[np.ndarray, str]:
        """Run one model on a batch; on GPU out-of-memory retry the batch on the CPU and say so."""
        try:
            return self._predictors[task](batch), self._device
        except Exception as exc:
            from pneumoviewer.inference import backend

            if self._device == "CPU" or not backend.is_out_of_memory(exc):
                raise
            self.oom_fallbacks += 1
            log.warning("%s: GPU out of memory on a batch of %d; retrying on the CPU", task, len(batch))
            with backend.on_cpu():
                out = self._bundle.models[task](batch, training=False)
            return np.asarray(out, dtype=np.float32), OOM_NOTE

    # -- prediction --------------------------------------------------------------------------------------------
    def predict(self, image: Any) -> Prediction:
        """One ``DicomImage`` (uses ``.display`` and ``.meta.image_id``) → Prediction at the image's size."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[Any]) -> list[Prediction]:
        """Several ``DicomImage``s, batched through each network (chunks of ``max_batch``)."""
        return self.predict_arrays([im.display for im in images], [im.meta.image_id for im in images])

    def predict_array(self, display: np.ndarray, image_id: str = "image") -> Prediction:
        return self.predict_arrays([display], [image_id])[0]

    def predict_arrays(self, displays: Sequence[np.ndarray], image_ids: Sequence[str]) -> list[Prediction]:
        """Display images (2-D float32 [0,1], any sizes) → Predictions, in order."""
        if len(displays) != len(image_ids):
            raise ValueError("displays and image_ids differ in length")
        self.load()
        out: list[Prediction] = []
        for start in range(0, len(displays), self.max_batch):
            out += self._predict_chunk(displays[start:start + self.max_batch], image_ids[start:start + self.max_batch])
        return out

    def _predict_chunk(self, displays: Sequence[np.ndarray], image_ids: Sequence[str]) -> list[Prediction]:
        cfg = self.config
        n = len(displays)
        t0 = time.perf_counter()
        xs_cls = np.stack([preprocess_image(d, cfg.classifier_size) for d in displays])
        t_pre = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        probs, device = self._run("classifier", xs_cls)
        probs = probs.reshape(n, -1)[:, 0].astype(float)
        t_cls = (time.perf_counter() - t0) / n
        gated = np.flatnonzero((probs >= cfg.classifier_threshold) & np.isfinite(probs)).tolist()
        seg_maps: dict[int, np.ndarray] = {}
        t_seg = 0.0
        t_pre_seg = 0.0
        if gated:
            t0 = time.perf_counter()
            if cfg.segmenter_size == cfg.classifier_size:
                xs_seg = xs_cls[gated]
            else:
                xs_seg = np.stack([preprocess_image(displays[i], cfg.segmenter_size) for i in gated])
            t_pre_seg = (time.perf_counter() - t0) / len(gated)
            t0 = time.perf_counter()
            maps, seg_device = self._run("segmenter", xs_seg)
            if seg_device != self._device:
                device = seg_device
            t_seg = (time.perf_counter() - t0) / len(gated)
            seg_maps = {i: maps[k] for k, i in enumerate(gated)}
        info = self.model_info
        results = []
        for i, (display, iid) in enumerate(zip(displays, image_ids)):
            h, w = np.asarray(display).shape[:2]
            t0 = time.perf_counter()
            prob_map = None
            if i in seg_maps:
                prob_map = resize_probability(seg_maps[i], h, w)
                mask = binarize(prob_map, cfg.mask_threshold, cfg.min_area_for(h, w))
            else:
                mask = np.zeros((h, w), dtype=bool)
            t_post = time.perf_counter() - t0
            timings = {
                "preprocess": t_pre + (t_pre_seg if i in seg_maps else 0.0),
                "classifier": t_cls,
                "segmenter": t_seg if i in seg_maps else 0.0,
                "postprocess": t_post,
            }
            timings["total"] = sum(timings.values())
            results.append(Prediction(
                image_id=str(iid),
                probability=float(probs[i]),
                mask=mask,
                model=info,
                mask_probability=prob_map if self.keep_probability_maps else None,
                timings=timings,
                device=device,
            ))
        return results
