"""The only inference module that touches TensorFlow/Keras, always lazily (importing it costs seconds).

Everything here imports TensorFlow inside the function, so importing ``pneumoviewer.inference`` (or constructing
an ``InferenceEngine``) stays free; the first call that needs a model pays the import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def tensorflow() -> Any:
    """Import TensorFlow quietly and return the module.

    The first call imports it and probes the GPUs with fd 2 sent to the log file (``TF_CPP_MIN_LOG_LEVEL`` does not
    silence absl's and the CUDA stub's start-up lines), so a CPU machine's terminal shows none of them.
    """
    import contextlib
    import sys

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pneumoviewer.core.logs import native_stderr_to_log

    with native_stderr_to_log():
        import tensorflow as tf

        # where cuInit complains; TensorFlow caches the answer. A broken driver is reported by gpu_devices().
        with contextlib.suppress(Exception):
            tf.config.list_physical_devices("GPU")
    return tf


def gpu_devices() -> list[Any]:
    tf = tensorflow()
    try:
        return list(tf.config.list_physical_devices("GPU"))
    except Exception:  # a broken driver must not stop CPU inference
        return []


def device_name() -> str:
    """'CPU', or the first visible GPU's marketing name (e.g. 'GPU: NVIDIA H100')."""
    tf = tensorflow()
    gpus = gpu_devices()
    if not gpus:
        return "CPU"
    try:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name") or gpus[0].name
    except Exception:
        name = gpus[0].name
    return f"GPU: {name}"


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a ``.keras`` file in safe mode without compiling (no custom losses needed; Lambda layers refused)."""
    tensorflow()
    import keras

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such model file")
    return keras.models.load_model(p, compile=False, safe_mode=True)


def make_predictor(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A graph-compiled ``x -> model(x)`` with a batch-agnostic signature, so it is traced exactly once."""
    tf = tensorflow()
    shape = [None, *[int(d) for d in model.inputs[0].shape[1:]]]

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)], reduce_retracing=True)
    def _call(x: Any) -> Any:
        return tf.cast(model(x, training=False), tf.float32)

    def run(batch: np.ndarray) -> np.ndarray:
        return _call(tf.convert_to_tensor(np.asarray(batch, dtype=np.float32))).numpy()

    return run


def is_out_of_memory(exc: BaseException) -> bool:
    """True for TensorFlow's GPU out-of-memory errors (ResourceExhaustedError or an OOM message)."""
    tf = tensorflow()
    if isinstance(exc, tf.errors.ResourceExhaustedError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "oom" in text.split()


def on_cpu() -> Any:
    """Context manager placing ops on the CPU."""
    return tensorflow().device("/CPU:0")
