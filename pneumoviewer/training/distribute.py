"""Pick the distribution strategy and precision for the machine we are on.

- ``TF_CONFIG`` set → ``MultiWorkerMirroredStrategy`` (one process per node; see README "multi-node training").
- more than one visible GPU → ``MirroredStrategy``.
- otherwise the default strategy (one GPU or the CPU).

Mixed precision (``mixed_float16``) only when a GPU is visible: on CPU it is slower, not faster.
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


def _chief_from_tf_config(raw: str) -> bool:
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from exc
    task = cfg.get("task", {})
    ttype, index = task.get("type", "worker"), int(task.get("index", 0))
    has_chief = "chief" in cfg.get("cluster", {})
    return ttype == "chief" or (not has_chief and ttype == "worker" and index == 0)


def choose_placement(mixed_precision: str = "auto") -> Placement:
    """Strategy + precision policy; ``mixed_precision`` is "auto" (GPU only), "on" or "off"."""
    gpus = tf.config.list_physical_devices("GPU")
    for g in gpus:  # share the GPU politely with the GUI's inference worker
        with contextlib.suppress(RuntimeError, ValueError):
            tf.config.experimental.set_memory_growth(g, True)
    tf_config = os.environ.get("TF_CONFIG", "").strip()
    if tf_config:
        is_chief = _chief_from_tf_config(tf_config)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        desc = f"MultiWorkerMirroredStrategy ({strategy.num_replicas_in_sync} replicas, TF_CONFIG)"
    elif len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
        desc = f"MirroredStrategy over {len(gpus)} GPUs"
        is_chief = True
    else:
        strategy = tf.distribute.get_strategy()
        desc = "single GPU" if gpus else f"CPU ({os.cpu_count()} cores)"
        is_chief = True
    use_mp = {"auto": bool(gpus), "on": True, "off": False}[mixed_precision]
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mp else "float32")
    return Placement(
        strategy=strategy,
        description=desc + (", mixed precision" if use_mp else ""),
        replicas=int(strategy.num_replicas_in_sync),
        mixed_precision=use_mp,
        is_chief=is_chief,
    )
