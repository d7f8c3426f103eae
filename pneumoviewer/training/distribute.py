"""Pick the distribution strategy and precision for the machine we are on.

- ``TF_CONFIG`` set → ``MultiWorkerMirroredStrategy`` (one process per node; see README "multi-node training").
- more than one visible GPU → ``MirroredStrategy`` over them; more than one *logical* CPU device (only when the
  process configured them, e.g. to rehearse a multi-GPU run on a laptop) → ``MirroredStrategy`` over those.
- otherwise the default strategy (one GPU or the CPU).

Every strategy goes through the same train step (``training/loop.py`` runs it under ``strategy.run``); only the
number of replicas changes. Mixed precision (``mixed_float16``) only when a GPU is visible: on CPU it is slower.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf


@dataclass
class Placement:
    strategy: Any
    description: str
    replicas: int
    mixed_precision: bool
    is_chief: bool  # only the chief writes checkpoints, logs and the manifest
    worker: int = 0  # this process's index among the workers (0 without TF_CONFIG)
    workers: int = 1  # processes taking part (1 without TF_CONFIG)


def tf_config_task(raw: str) -> tuple[bool, int, int]:
    """(is chief, this task's index among all tasks, number of tasks) from a TF_CONFIG string."""
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from exc
    if not isinstance(cfg, dict) or not isinstance(cfg.get("cluster"), dict):
        raise ValueError("TF_CONFIG needs a 'cluster' object (see README, multi-node training)")
    cluster = cfg["cluster"]
    task = cfg.get("task", {})
    ttype, index = task.get("type", "worker"), int(task.get("index", 0))
    has_chief = "chief" in cluster
    is_chief = ttype == "chief" or (not has_chief and ttype == "worker" and index == 0)
    n_chief = len(cluster.get("chief", []))
    position = index if ttype == "chief" else n_chief + index
    return is_chief, position, n_chief + len(cluster.get("worker", []))


def choose_placement(mixed_precision: str = "auto") -> Placement:
    """Strategy + precision policy; ``mixed_precision`` is "auto" (GPU only), "on" or "off"."""
    gpus = tf.config.list_physical_devices("GPU")
    for g in gpus:  # share the GPU politely with the GUI's inference worker
        with contextlib.suppress(RuntimeError, ValueError):
            tf.config.experimental.set_memory_growth(g, True)
    tf_config = os.environ.get("TF_CONFIG", "").strip()
    worker, workers = 0, 1
    if tf_config:
        is_chief, worker, workers = tf_config_task(tf_config)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        desc = (f"MultiWorkerMirroredStrategy ({strategy.num_replicas_in_sync} replicas on {workers} workers, "
                f"this is worker {worker}{', the chief' if is_chief else ''})")
    else:
        is_chief = True
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        if len(devices) > 1:
            kind = "GPU" if gpus else "CPU"
            strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
            desc = f"MirroredStrategy over {len(devices)} {kind} devices"
        else:
            strategy = tf.distribute.get_strategy()
            desc = "single GPU" if gpus else f"CPU ({os.cpu_count()} cores)"
    use_mp = {"auto": bool(gpus), "on": True, "off": False}[mixed_precision]
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mp else "float32")
    return Placement(
        strategy=strategy,
        description=desc + (", mixed precision" if use_mp else ""),
        replicas=int(strategy.num_replicas_in_sync),
        mixed_precision=use_mp,
        is_chief=is_chief,
        worker=worker,
        workers=workers,
    )
