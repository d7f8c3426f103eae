"""The training loop behind ``pneumoviewer train``: data → split → strategy → distributed steps → bundle.

The train and validation steps are our own, run under ``strategy.run`` for every strategy (one device, several
GPUs, several workers): Keras 3's ``fit`` cannot run under ``MultiWorkerMirroredStrategy`` on the pinned stack (it
reduces the ``(x, y)`` tuple and the scalar logs along axis 0). Gradients are all-reduced by the Keras optimizer;
the per-replica loss is the sum over its share of the global batch divided by the global batch, so every replica
ends the step with identical weights. Batch-norm moving statistics, which Keras keeps per replica, are averaged
across all replicas after every epoch, so every worker holds the same model and the chief saves what all trained.

Validation pads the last global batch with zero-weight copies of a blank image, so no replica ever gets an empty
batch (batch norm under oneDNN crashes on one) and every image counts exactly once in the figures.

Every epoch the chief writes, each file atomically: the CSV log, the resume checkpoint (hidden
``.train-<task>/last.keras`` with optimizer state), the best model so far (``<task>.keras``, uncompiled, float32,
no custom objects) when the validation metric improved, and ``manifest.json`` with fresh sha256s. So Ctrl+C at any
moment leaves a loadable bundle holding the best model, and ``--resume`` continues from the last epoch: the cosine
schedule is the one of a run planned for the new ``--epochs`` from the start, and the data stream continues where
the checkpoint left it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from pneumoviewer.inference.bundle import BundleError, Manifest, ModelEntry, read_manifest, write_manifest
from pneumoviewer.inference.config import ModelConfig
from pneumoviewer.io.atomic import atomic_write
from pneumoviewer.training import architectures, data, losses
from pneumoviewer.training.distribute import Placement, choose_placement
from pneumoviewer.training.split import patient_split, positive_rate_schedule

DENSENET_ARCHS = ("densenet121", "unet-densenet121")  # the architectures --imagenet-weights can start
#: In ``.train-segmenter/`` of a segmenter trained with ``--empty-weight``: the best epoch's whole training model
#: (mask and empty-mask branch, float32, uncompiled), what ``train classifier --arch unet-empty --init-from`` reads.
WITH_BRANCH_FILE = "best-with-empty-branch.keras"


class TrainError(RuntimeError):
    """Training cannot start or continue (bad data, incompatible resume state); the message says why."""


@dataclass
class TrainConfig:
    """Everything one ``pneumoviewer train`` run needs; recorded in the manifest so a bundle says how it was made."""

    task: str
    arch: str | None = None
    size: int = 256
    crop: int | None = None  # segmenter: train on random crop×crop windows of the size² images (None: whole)
    epochs: int = 10
    batch: int = 8  # per replica
    lr: float = 1e-3
    steps_per_epoch: int | None = None
    val_fraction: float = 0.2
    seed: int = 0
    cache: str = ""  # "" = memory; else a file prefix for tf.data's cache
    augment: bool = True
    elastic: bool = True  # with augment: the elastic deformation too (off reproduces bundles made before it)
    start_positive_rate: float = 0.8
    positives_only: bool = False
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    pos_weight: float = 1.0
    empty_weight: float = 0.0  # segmenter: weight of the empty-mask branch's BCE (0 = no branch)
    width: int | None = None
    depth: int | None = None
    dropout: float | None = None
    imagenet_weights: str | None = None
    init_from: str | None = None  # .keras file or bundle folder whose weights start this model (by layer name)
    resume: bool = False
    deterministic: bool = False
    mixed_precision: str = "auto"
    verbose: int = 1
    # bundle-level settings; None keeps what the bundle already says (or the ModelConfig default)
    name: str | None = None
    version: str | None = None
    synthetic: bool | None = None
    classifier_threshold: float | None = None
    mask_threshold: float | None = None
    min_area_px_1024: int | None = None

    def __post_init__(self) -> None:
        if self.task not in ("classifier", "segmenter"):
            raise ValueError(f"task must be 'classifier' or 'segmenter', got {self.task!r}")
        if self.arch is None:
            self.arch = "small" if self.task == "classifier" else "unet-small"
        if self.arch not in architectures.archs_for(self.task):
            raise ValueError(f"{self.arch!r} is not a {self.task} architecture; choose from "
                             f"{architectures.archs_for(self.task)}")
        if self.size % 32 or self.size < 32:
            raise ValueError(f"--size must be a multiple of 32, got {self.size}")
        if self.crop == self.size:
            self.crop = None  # a window the size of the image is the whole image: today's run exactly
        if self.crop is not None:
            if self.task != "segmenter":
                raise ValueError("--crop is for the segmenter only: a crop of a positive image may miss the "
                                 "pneumothorax, so the image's label would be wrong for it")
            if self.crop % 32 or not 32 <= self.crop < self.size:
                raise ValueError(f"--crop must be a multiple of 32 and at most --size {self.size}, got {self.crop}")
        if self.epochs < 0 or self.batch < 1:
            raise ValueError("--epochs must be at least 0 and --batch at least 1")
        if self.epochs == 0 and (not self.init_from or self.resume):
            raise ValueError("--epochs 0 writes the --init-from model as it is (evaluated, not trained): "
                             "give --init-from, without --resume")
        if self.empty_weight < 0 or (self.empty_weight and self.task != "segmenter"):
            raise ValueError(f"--empty-weight {self.empty_weight}: a segmenter option, at least 0")
        if self.imagenet_weights:  # checked before any folder scan or TensorFlow import
            if self.arch not in DENSENET_ARCHS:
                raise ValueError(f"--imagenet-weights applies to {' and '.join(DENSENET_ARCHS)} only, "
                                 f"not {self.arch}")
            if not Path(self.imagenet_weights).is_file():
                raise ValueError(f"--imagenet-weights {self.imagenet_weights}: no such file "
                                 "(weights are never downloaded)")

    @property
    def train_size(self) -> int:
        """Side of the training batches (``--crop``, else ``--size``); validation and the bundle use ``size``."""
        return self.crop or self.size

    def augment_config(self) -> data.AugmentConfig | None:
        """The augmentation of this run (None with ``--no-augment``), as the manifest records it."""
        if not self.augment:
            return None
        return data.AugmentConfig() if self.elastic else replace(data.AugmentConfig(), elastic_p=0.0)

    @property
    def loads_imagenet_weights(self) -> bool:
        """True when building this model loads DenseNet121 ImageNet weights (what the manifest records)."""
        return bool(self.imagenet_weights) and self.arch in DENSENET_ARCHS

    @property
    def monitor(self) -> str:
        """Validation figure that picks the best epoch: classifier AUC (higher is better); segmenter loss (lower).

        Not the segmenter's Dice: with empty-vs-empty scoring 1, an all-empty model wins early epochs on any
        validation set with many negatives, and the gate plus min-area clean-up handle negatives at inference.
        """
        return "auc" if self.task == "classifier" else "loss"

    @property
    def monitor_higher_is_better(self) -> bool:
        return self.monitor != "loss"

    @property
    def empty_branch(self) -> bool:
        """The segmenter trains with the deep-supervision empty-mask branch (a second output)."""
        return self.task == "segmenter" and self.empty_weight > 0

    def arch_options(self) -> architectures.ArchOptions:
        return architectures.arch_options(
            self.arch or "", width=self.width, depth=self.depth, dropout=self.dropout,
            imagenet_weights=self.imagenet_weights,
        )


@dataclass
class TrainResult:
    manifest: Manifest | None
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    is_chief: bool = True  # False on the other workers of a multi-worker run: they write nothing
    fingerprint: str = ""  # weights_fingerprint() of the final weights (the same on every worker)


def _build(
    cfg: TrainConfig, opts: architectures.ArchOptions | None = None, size: int | None = None
) -> keras.Model:
    """``cfg``'s model built at ``size`` (default ``--size``, what the bundle holds; the train step's is
    ``cfg.train_size``, see :func:`_any_side`)."""
    opts = opts or cfg.arch_options()
    size = size or cfg.size
    if cfg.empty_branch:
        return architectures.build_segmenter(cfg.arch or "", size, opts, empty_branch=True)
    return architectures.builder(cfg.task)(cfg.arch or "", size, opts)


def _any_side(model: keras.Model) -> keras.Model:
    """Let ``model``, built at the crop side, also run on whole size² validation images, with the same weights.

    Our U-Nets are fully convolutional (no layer depends on the side), so only the functional models' input
    check stands in the way: it is relaxed here, on the model and its nested DenseNet121 encoder. The relaxed
    check is not saved: the resume checkpoint reloads at the crop side (relaxed again on load) and the bundle's
    model is rebuilt at ``size`` (``BundleWriter._inference_copy``), so every saved file is an ordinary model.
    """
    stack = [model]
    while stack:
        m = stack.pop()
        specs = m.input_spec if isinstance(m.input_spec, list) else [m.input_spec]
        free = [keras.layers.InputSpec(shape=(None, None, None, spec.shape[-1]), allow_last_axis_squeeze=True,
                                       name=spec.name) for spec in specs]
        m.input_spec = free if isinstance(m.input_spec, list) else free[0]
        stack += [la for la in m.layers if isinstance(la, keras.Model)]
    return model


def _schedule(cfg: TrainConfig, total_steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    return keras.optimizers.schedules.CosineDecay(cfg.lr, decay_steps=max(total_steps, 1), alpha=0.05)


def _compile(model: keras.Model, cfg: TrainConfig, total_steps: int) -> None:
    """Attach the optimizer (built now, inside the strategy scope): the checkpoint carries it for ``--resume``."""
    model.compile(optimizer=keras.optimizers.Adam(_schedule(cfg, total_steps)))
    model.optimizer.build(model.trainable_variables)


def per_sample_loss(cfg: TrainConfig) -> Callable[[Any, Any], Any]:
    """``(y_true, y_pred) -> (batch,)`` per-sample loss of the task (with the empty-mask branch: y_pred = [mask, p])."""
    if cfg.task == "classifier":
        return keras.losses.BinaryCrossentropy(name="bce", reduction=None)
    mask_loss = losses.BceDiceLoss(cfg.bce_weight, cfg.dice_weight, cfg.pos_weight, reduction=None)
    return losses.EmptyBranchLoss(mask_loss, cfg.empty_weight) if cfg.empty_branch else mask_loss


def weights_fingerprint(model: keras.Model) -> str:
    """Short sha256 of every weight, in order: equal on every worker of a run, and equal to the saved model's."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def padded_validation(ds: tf.data.Dataset, global_batch: int) -> tf.data.Dataset:
    """``(x, y)`` batches → ``(x, y, w)`` global batches, the last padded with blank ``w = 0`` examples.

    Without it the remainder batch hands some replica an empty batch whenever it is smaller than the number of
    replicas; padding (rather than dropping) keeps every validation image in the figures.
    """
    x_spec, y_spec = ds.element_spec
    blank = (tf.zeros(x_spec.shape[1:], x_spec.dtype), tf.zeros(y_spec.shape[1:], y_spec.dtype), tf.constant(0.0))
    real = ds.unbatch().map(lambda x, y: (x, y, tf.constant(1.0)))
    filler = tf.data.Dataset.from_tensors(blank).repeat(global_batch - 1)
    return real.concatenate(filler).batch(global_batch, drop_remainder=True)


class DistributedSteps:
    """The train and validation steps under ``strategy.run``, with Keras loss objects and metrics.

    Metrics live in the strategy scope (Keras makes their variables sync-on-read sums), so reading a result after
    an epoch aggregates over every replica of every worker; every worker reads them in the same order. With the
    empty-mask branch the model has two outputs: the loss takes both, the task's metrics the mask, and the branch's
    own metrics (after the task's in each list) score P(non-empty) against "the truth mask has any pixel".
    """

    def __init__(self, model: keras.Model, cfg: TrainConfig, placement: Placement, global_batch: int) -> None:
        self.model = model
        self.strategy = placement.strategy
        self.global_batch = global_batch
        self.replicas = placement.replicas
        with self.strategy.scope():
            self.loss = per_sample_loss(cfg)
            extra = losses.classifier_metrics if cfg.task == "classifier" else losses.segmenter_metrics
            branch = losses.empty_branch_metrics if cfg.empty_branch else list
            self.train_metrics = [keras.metrics.Mean(name="loss"), *extra(), *branch()]
            self.val_metrics = [keras.metrics.Mean(name="loss"), *extra(), *branch()]
        self.empty_branch = cfg.empty_branch
        self._n_task_metrics = 1 + len(extra())  # the loss and the task's metrics; the branch's come after
        self._train = tf.function(self._train_global)
        self._val = tf.function(self._val_global)
        self._sync = tf.function(self._sync_global)

    def _train_replica(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        model, opt = self.model, self.model.optimizer
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            per = self.loss(y, pred)
            loss = tf.reduce_sum(per) / self.global_batch
            if model.losses:
                loss += tf.add_n(model.losses) / self.replicas
            scaled = opt.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        self.train_metrics[0].update_state(per)
        self._update_metrics(self.train_metrics, y, pred)
        return loss

    def _update_metrics(self, metrics: list[keras.metrics.Metric], y: tf.Tensor, pred: Any,
                        w: tf.Tensor | None = None) -> None:
        mask, p_non_empty = pred if self.empty_branch else (pred, None)
        for m in metrics[1:self._n_task_metrics]:
            m.update_state(y, mask, sample_weight=w)
        if p_non_empty is not None:
            present = losses.mask_present(y)
            for m in metrics[self._n_task_metrics:]:
                m.update_state(present, p_non_empty, sample_weight=w)

    def _train_global(self, batch: Any) -> tf.Tensor:
        per_replica = self.strategy.run(self._train_replica, args=batch)
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _val_replica(self, x: tf.Tensor, y: tf.Tensor, w: tf.Tensor) -> None:
        pred = self.model(x, training=False)
        self.val_metrics[0].update_state(self.loss(y, pred), sample_weight=w)
        self._update_metrics(self.val_metrics, y, pred, w)

    def _val_global(self, batch: Any) -> None:
        self.strategy.run(self._val_replica, args=batch)

    def _sync_replica(self) -> None:
        stats = [v for v in self.model.non_trainable_variables if keras.backend.is_float_dtype(v.dtype)]
        if not stats:
            return
        ctx = tf.distribute.get_replica_context()
        means = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in stats])
        for v, mean in zip(stats, means):
            v.assign(mean)

    def _sync_global(self) -> None:
        self.strategy.run(self._sync_replica)

    def train_step(self, batch: Any) -> float:
        """One global step; returns the global mean loss of this batch."""
        return float(self._train(batch))

    def validate(self, dist_val: Any) -> None:
        for batch in dist_val:
            self._val(batch)

    def sync_statistics(self) -> None:
        """Average batch-norm moving statistics over the replicas (Keras updates each replica's copy alone)."""
        if self.replicas > 1:
            self._sync()

    @staticmethod
    def results(metrics: list[keras.metrics.Metric], prefix: str = "") -> dict[str, float]:
        return {prefix + m.name: float(m.result()) for m in metrics}

    @staticmethod
    def reset(metrics: list[keras.metrics.Metric]) -> None:
        for m in metrics:
            m.reset_state()


def _save_keras_atomic(model: keras.Model, target: Path) -> None:
    """``model.save`` to a hidden temp file beside ``target``, then rename: the old file survives any crash."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp.keras", dir=target.parent)
    os.close(fd)
    try:
        model.save(tmp, overwrite=True)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class BundleWriter(keras.callbacks.Callback):
    """Per epoch: CSV log, resume checkpoint, best model + manifest (all atomic; chief only)."""

    def __init__(
        self,
        cfg: TrainConfig,
        out_dir: Path,
        model_config: ModelConfig,
        other_entries: dict[str, ModelEntry],
        summary: dict[str, Any],
        placement: Placement,
        best: float | None,
        best_logs: dict[str, float],
        history: list[dict[str, float]],
        base_rate: float,
        monitor_key: str,
        log: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.out_dir = out_dir
        self.model_config = model_config
        self.other_entries = other_entries
        self.summary = summary
        self.placement = placement
        self.best = best
        self.best_logs = dict(best_logs)
        self.history = history
        self.base_rate = base_rate
        self.monitor_key = monitor_key
        self.log = log
        self.state_dir = out_dir / f".train-{cfg.task}"
        self.model_file = f"{cfg.task}.keras"
        self.log_file = f"{cfg.task}-training-log.csv"
        self._t0 = time.perf_counter()
        self.epochs_saved = 0  # checkpoints this run wrote

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items() if np.isscalar(v) or np.ndim(v) == 0}
        rate = 1.0 if self.cfg.positives_only else positive_rate_schedule(
            epoch, self.cfg.epochs, self.base_rate, self.cfg.start_positive_rate)
        row = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self._t0, 2),
               "positive_rate": round(rate, 4), **{k: round(v, 6) for k, v in logs.items()}}
        self.history.append(row)
        value = logs.get(self.monitor_key)
        sign = 1.0 if self.cfg.monitor_higher_is_better else -1.0
        improved = value is not None and np.isfinite(value) and (self.best is None or sign * value > sign * self.best)
        if improved:
            self.best = float(value)
            self.best_logs = {"epoch": epoch + 1, **logs}
        if not self.placement.is_chief:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._write_log()
        _save_keras_atomic(self.model, self.state_dir / "last.keras")
        if improved:
            self._save_best()
            self.log(f"epoch {epoch + 1}: {self.monitor_key} improved to {value:.4f}; saved {self.model_file}")
        self._write_state(epoch + 1)
        self.epochs_saved += 1
        if (self.out_dir / self.model_file).exists():
            self.write_manifest()

    def kept(self) -> str:
        """What a stopped run leaves behind, in words (only what was really written)."""
        if not self.placement.is_chief:
            return "this worker writes nothing; the chief's messages say what its bundle keeps"
        parts = []
        if (self.out_dir / self.model_file).exists():
            parts.append(f"{self.out_dir / self.model_file} holds the best model so far "
                         f"(epoch {self.best_logs.get('epoch', '?')})")
        if (self.state_dir / "state.json").exists():
            done = len(self.history)
            parts.append(f"re-run with --resume to continue after epoch {done}")
        if not parts:
            return "no epoch finished, nothing was saved"
        return "; ".join(parts)

    def write_as_is(self, logs: dict[str, float]) -> None:
        """``--epochs 0``: the initialised model is the bundle's, with ``logs`` (its validation figures) as epoch 0."""
        self.best = logs.get(self.monitor_key)
        self.best_logs = {"epoch": 0, **logs}
        if self.placement.is_chief:
            self._save_best()

    def _save_best(self) -> None:
        """The bundle's model file (mask-only for a segmenter with the empty-mask branch, which goes beside the
        resume checkpoint whole, for ``--arch unet-empty --init-from``)."""
        copy = self._inference_copy()
        if self.cfg.empty_branch:
            _save_keras_atomic(copy, self.state_dir / WITH_BRANCH_FILE)
        _save_keras_atomic(architectures.mask_only(copy), self.out_dir / self.model_file)

    def _inference_copy(self) -> keras.Model:
        """The trained model rebuilt under float32 without optimizer or loss, carrying the trained weights."""
        policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy("float32")
        try:
            copy = _build(self.cfg, replace(self.cfg.arch_options(), imagenet_weights=None))
        finally:
            keras.mixed_precision.set_global_policy(policy)
        copy.set_weights([np.asarray(w) for w in self.model.get_weights()])
        return copy

    def _write_log(self) -> None:
        keys: list[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.history)
        with atomic_write(self.out_dir / self.log_file, "w", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())

    def _write_state(self, epochs_done: int) -> None:
        state = {"epochs_done": epochs_done, "best": self.best, "best_logs": self.best_logs,
                 "history": self.history, "config": asdict(self.cfg)}
        with atomic_write(self.state_dir / "state.json", "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=1)

    def write_manifest(self) -> Manifest:
        validation: dict[str, Any] = {k.removeprefix("val_"): round(float(v), 5) for k, v in self.best_logs.items()
                                      if k.startswith("val_")}
        validation = {"epoch": int(self.best_logs.get("epoch", 0)), **validation}
        if not any(k.startswith("val_") for k in self.best_logs):  # no validation split: say so
            validation = {"note": "no validation split; training metrics", **{
                k: round(float(v), 5) for k, v in self.best_logs.items()}}
        training = {**self.summary, "epochs_run": len(self.history), "best_epoch": self.best_logs.get("epoch")}
        entry = ModelEntry(task=self.cfg.task, file=self.model_file, arch=self.cfg.arch or "",
                           input_size=self.cfg.size, training=training, validation=validation)
        entries = {**self.other_entries, self.cfg.task: entry}
        return write_manifest(self.out_dir, self.model_config, entries, notes=self.model_config_notes())

    def model_config_notes(self) -> str:
        if self.model_config.synthetic:
            return "Trained on synthetic phantom images only. Not for clinical use."
        return "Research use only; not a diagnostic device."


def _init_source(cfg: TrainConfig) -> Path:
    """The .keras file named by --init-from (a bundle folder gives its segmenter, or its model of this task).

    For an empty-branch classifier a bundle folder gives its segmenter's whole training model (``WITH_BRANCH_FILE``),
    which only a segmenter trained with ``--empty-weight`` > 0 leaves.
    """
    p = Path(cfg.init_from or "")
    if p.is_dir() and cfg.arch in architectures.EMPTY_BRANCH_CLASSIFIERS:
        m = read_manifest(p)
        seg = m.models.get("segmenter")
        if seg is None or not (seg.training.get("loss") or {}).get("empty_weight"):
            raise TrainError(f"--init-from {p}: {cfg.arch} starts from a segmenter trained with --empty-weight > 0; "
                             "this bundle's segmenter has no empty-mask branch")
        p = p / f".train-segmenter/{WITH_BRANCH_FILE}"
    elif p.is_dir():
        m = read_manifest(p)
        task = "segmenter" if cfg.arch == "unet-mil" and "segmenter" in m.models else cfg.task
        if task not in m.models:
            raise TrainError(f"--init-from {p}: bundle has no {task} model")
        p = p / m.models[task].file
    if not p.is_file():
        raise TrainError(f"--init-from {p}: no such .keras file")
    return p


def _with_segmenter_shape(cfg: TrainConfig) -> TrainConfig:
    """A classifier made of a U-Net segmenter's layers (``unet-mil``, ``unet-empty``) started from a bundle folder
    takes the segmenter's recorded ``--width`` / ``--depth`` where not given: other values match no layer."""
    src = Path(cfg.init_from or "")
    if cfg.task != "classifier" or cfg.arch not in ("unet-mil", "unet-empty") or not src.is_dir():
        return cfg
    try:
        seg = read_manifest(src).models.get("segmenter")
    except BundleError as exc:
        raise TrainError(f"--init-from {src}: {exc}") from exc
    trained = dict(seg.training.get("arch_options") or {}) if seg is not None else {}
    width = cfg.width if cfg.width is not None else trained.get("width")
    depth = cfg.depth if cfg.depth is not None else trained.get("depth")
    return replace(cfg, width=width, depth=depth)


def _existing_bundle(out_dir: Path, task: str) -> tuple[ModelConfig | None, dict[str, ModelEntry]]:
    """What an existing bundle in ``out_dir`` already holds (the other task's model is kept)."""
    if not (out_dir / "manifest.json").exists():
        return None, {}
    try:
        m = read_manifest(out_dir)
    except BundleError as exc:
        raise TrainError(f"{exc} — fix or remove it, or choose another --out") from exc
    return m.config, {t: e for t, e in m.models.items() if t != task}


def _model_config(cfg: TrainConfig, existing: ModelConfig | None, out_dir: Path) -> ModelConfig:
    base = existing or ModelConfig(name=out_dir.resolve().name or "custom")
    changes: dict[str, Any] = {f"{cfg.task}_size": cfg.size}
    for key in ("name", "version", "synthetic", "classifier_threshold", "mask_threshold", "min_area_px_1024"):
        v = getattr(cfg, key)
        if v is not None:
            changes[key] = v
    return replace(base, **changes)


def _resume_state(cfg: TrainConfig, state_dir: Path, placement: Placement) -> dict[str, Any]:
    state_path = state_dir / "state.json"
    if not state_path.exists():
        hint = (" — every worker needs the same --out, on storage all of them can read (README, multi-node "
                "training)" if placement.workers > 1 else " (train without --resume first)")
        raise TrainError(f"--resume: no checkpoint in {state_dir}{hint}")
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        int(state["epochs_done"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainError(f"--resume: {state_path}: unreadable checkpoint state ({exc})") from exc
    old = state.get("config", {})
    if old.get("arch") != cfg.arch or int(old.get("size", -1)) != cfg.size:
        raise TrainError(f"--resume: checkpoint in {state_dir} is {old.get('arch')} at {old.get('size')}², "
                         f"not {cfg.arch} at {cfg.size}²")
    if old.get("crop") != cfg.crop:  # the data stream continues only with the same windows

        def said(crop: Any) -> str:
            return f"--crop {crop}" if crop else "whole images (no --crop)"

        raise TrainError(f"--resume: checkpoint in {state_dir} trained on {said(old.get('crop'))}, "
                         f"not {said(cfg.crop)}")
    old_weight = float(old.get("empty_weight", 0.0))
    if bool(old_weight) != cfg.empty_branch:
        raise TrainError(f"--resume: checkpoint in {state_dir} was trained {'with' if old_weight else 'without'} "
                         f"the empty-mask branch (--empty-weight {old_weight:g}), not --empty-weight "
                         f"{cfg.empty_weight:g}")
    return state


def train(
    cfg: TrainConfig,
    data_dir: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    log: Callable[[str], None] = print,
    scan_progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train one model of a bundle and write it into ``out_dir`` (created at the first epoch's end, chief only)."""
    out = Path(out_dir)
    cfg = _with_segmenter_shape(cfg)
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    placement = choose_placement(cfg.mixed_precision)
    log(f"device: {placement.description}")

    existing_config, other_entries = _existing_bundle(out, cfg.task)
    model_config = _model_config(cfg, existing_config, out)
    state_dir = out / f".train-{cfg.task}"
    state = _resume_state(cfg, state_dir, placement) if cfg.resume else None

    labelled = data.collect_examples(data_dir, labels_csv, progress=scan_progress)
    for path, reason in labelled.failures[:20]:
        log(f"skipped unreadable file {path}: {reason}")
    if labelled.missing:
        log(f"{len(labelled.missing)} ImageIds of {Path(labels_csv).name} have no DICOM under {data_dir}")
    if not labelled.examples:
        raise TrainError(f"no DICOM under {data_dir} is labelled in {labels_csv} (ImageId = SOPInstanceUID)")
    ex_by_id = {e.image_id: e for e in labelled.examples}
    ids = [e.image_id for e in labelled.examples]
    split = patient_split(ids, {e.image_id: e.patient_key for e in labelled.examples},
                          {e.image_id: e.positive for e in labelled.examples}, cfg.val_fraction, cfg.seed)
    train_ex = [ex_by_id[i] for i in split.train]
    val_ex = [ex_by_id[i] for i in split.val]
    n_pos_train = sum(e.positive for e in train_ex)
    base_rate = n_pos_train / max(len(train_ex), 1)
    if cfg.task == "segmenter" and n_pos_train == 0:
        raise TrainError("the segmenter needs positive (masked) images in the training split; none found")
    log(f"images: {len(train_ex)} train ({n_pos_train} positive, {split.n_patients_train} patients), "
        f"{len(val_ex)} validation ({sum(e.positive for e in val_ex)} positive, {split.n_patients_val} patients)")
    if cfg.epochs == 0 and not val_ex:
        raise TrainError("--epochs 0 evaluates the --init-from model on the validation split, which is empty "
                         "(raise --val-fraction)")

    global_batch = cfg.batch * placement.replicas
    n_train = n_pos_train if cfg.positives_only else len(train_ex)
    steps = cfg.steps_per_epoch or max(1, math.ceil(n_train / global_batch))

    initial_epoch, best, best_logs, history = 0, None, {}, []
    imagenet_init = cfg.loads_imagenet_weights
    if state is not None:
        initial_epoch = int(state["epochs_done"])
        best, best_logs, history = state.get("best"), state.get("best_logs", {}), state.get("history", [])
        # the first run's build decided the starting weights
        imagenet_init = bool(state.get("config", {}).get("imagenet_weights")) and cfg.arch in DENSENET_ARCHS
        if initial_epoch >= cfg.epochs:
            log(f"--resume: already trained {initial_epoch} of {cfg.epochs} epochs; raise --epochs to continue")

    with placement.strategy.scope():
        if state is not None:
            model = keras.models.load_model(state_dir / "last.keras", compile=True, safe_mode=True)
            if cfg.crop:
                _any_side(model)
            # the schedule of a run planned for --epochs from the start: a longer run extends it
            model.optimizer.learning_rate = _schedule(cfg, cfg.epochs * steps)
            log(f"resumed from {state_dir / 'last.keras'} after epoch {initial_epoch}")
        else:
            model = _build(cfg, size=cfg.train_size)
            if cfg.crop:
                _any_side(model)
            if cfg.init_from:
                source = _init_source(cfg)
                copied = architectures.init_from(model, keras.models.load_model(source, compile=False,
                                                                                safe_mode=True))
                if copied == 0:
                    raise TrainError(f"--init-from {source}: no layer matches {cfg.arch} (by name and shape)")
                weighted = sum(1 for la in model.layers if la.weights)
                if cfg.epochs == 0 and copied < weighted:  # written as it is: a half-random model is no baseline
                    raise TrainError(f"--epochs 0: only {copied} of the {weighted} layers of {cfg.arch} match "
                                     f"{source} by name and shape (give the --width/--depth it was trained with)")
                log(f"initialised {copied} of {weighted} layers from {source}")
            _compile(model, cfg, cfg.epochs * steps)
        steps_runner = DistributedSteps(model, cfg, placement, global_batch)

    cache = cfg.cache  # workers sharing storage must not write one cache file
    if cache and placement.workers > 1:
        cache = f"{cache}-worker{placement.worker}"
    train_ds = data.training_dataset(
        train_ex, labelled.table, task=cfg.task, size=cfg.size, batch=global_batch, epochs=cfg.epochs,
        steps_per_epoch=steps, seed=cfg.seed, cache=cache,
        augment=cfg.augment_config(), start_positive_rate=cfg.start_positive_rate,
        positives_only=cfg.positives_only, initial_epoch=initial_epoch, crop=cfg.crop,
    )
    val_ds = (padded_validation(data.validation_dataset(val_ex, labelled.table, task=cfg.task, size=cfg.size,
                                                        batch=global_batch, cache=cache), global_batch)
              if val_ex else None)
    monitor_key = ("val_" if val_ds is not None else "") + cfg.monitor
    summary = {
        "data": Path(data_dir).name,
        "labels": Path(labels_csv).name,
        "images_train": len(train_ex),
        "images_val": len(val_ex),
        "positives_train": n_pos_train,
        "positives_val": sum(e.positive for e in val_ex),
        "patients_train": split.n_patients_train,
        "patients_val": split.n_patients_val,
        "split": f"by patient (salt-free order: first ImageId), seed {cfg.seed}, val_fraction {cfg.val_fraction}",
        "positive_rate_schedule": "positives only" if cfg.positives_only else
        f"{max(cfg.start_positive_rate, base_rate):.2f} -> {base_rate:.3f} over {cfg.epochs} epochs",
        "augmentation": asdict(aug) if (aug := cfg.augment_config()) else None,
        # None: whole images; else random windows of that side, validation and the saved model at input_size
        "crop": {"window": cfg.crop, "on_mask_p": data.CROP_ON_MASK_P} if cfg.crop else None,
        "epochs": cfg.epochs, "steps_per_epoch": steps, "batch": global_batch, "lr": cfg.lr,
        "optimizer": "Adam, cosine decay", "seed": cfg.seed, "device": placement.description,
        "validation_padding": "last batch padded with zero-weight blanks",
        "arch_options": {k: v for k, v in asdict(cfg.arch_options()).items() if k != "imagenet_weights"},
        "imagenet_init": imagenet_init,
        "init_from": Path(cfg.init_from).name if cfg.init_from else None,
    }
    if cfg.task == "segmenter":
        summary["loss"] = {"bce_weight": cfg.bce_weight, "dice_weight": cfg.dice_weight,
                           "pos_weight": cfg.pos_weight, "empty_weight": cfg.empty_weight}
    if cfg.epochs == 0:
        summary["note"] = "--epochs 0: the --init-from model as it is, not trained; figures on the validation split"
    writer = BundleWriter(cfg, out, model_config, other_entries, summary, placement, best, best_logs, history,
                          base_rate, monitor_key, log)
    writer.set_model(model)
    result = TrainResult(manifest=None, history=history, is_chief=placement.is_chief)
    epoch = initial_epoch
    try:
        if cfg.epochs == 0:
            steps_runner.reset(steps_runner.val_metrics)
            steps_runner.validate(placement.strategy.experimental_distribute_dataset(val_ds))
            writer.write_as_is(steps_runner.results(steps_runner.val_metrics, "val_"))
        elif initial_epoch < cfg.epochs:
            dist_train = iter(placement.strategy.experimental_distribute_dataset(train_ds))
            dist_val = placement.strategy.experimental_distribute_dataset(val_ds) if val_ds is not None else None
            for epoch in range(initial_epoch, cfg.epochs):
                _run_epoch(steps_runner, writer, epoch, cfg, steps, dist_train, dist_val)
    except KeyboardInterrupt:
        result.interrupted = True
        log(f"interrupted in epoch {epoch + 1}: {writer.kept()}")
    except Exception as exc:  # e.g. a DICOM that fails to decode mid-epoch (tf.errors wrap the file name)
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [""]
        first = lines[-1 if lines[0].startswith("in user code") else 0][:500]  # autograph puts the cause last
        raise TrainError(f"training stopped in epoch {epoch + 1}: {type(exc).__name__}: {first} — "
                         f"{writer.kept()}") from exc
    finally:
        if placement.is_chief and (out / writer.model_file).exists():
            result.manifest = writer.write_manifest()
    result.best = dict(writer.best_logs)
    result.fingerprint = weights_fingerprint(model)
    if result.interrupted and not (out / writer.model_file).exists():
        raise KeyboardInterrupt
    if placement.is_chief and not (out / writer.model_file).exists():
        raise TrainError(f"no epoch reached a finite {monitor_key}, so {out} holds no {writer.model_file} "
                         f"(the per-epoch figures are in {out / writer.log_file})")
    return result


def _run_epoch(
    runner: DistributedSteps, writer: BundleWriter, epoch: int, cfg: TrainConfig, steps: int, dist_train: Any,
    dist_val: Any,
) -> None:
    """One epoch on every replica: ``steps`` global train steps, BN statistics synced, validation, checkpoint."""
    writer.on_epoch_begin(epoch)
    bar = keras.utils.Progbar(steps, verbose=cfg.verbose, stateful_metrics=None)
    if cfg.verbose:
        writer.log(f"epoch {epoch + 1}/{cfg.epochs}")
    runner.reset(runner.train_metrics)
    total = 0.0
    for step in range(steps):
        total += runner.train_step(next(dist_train))
        if step < steps - 1:
            bar.update(step + 1, values=[("loss", total / (step + 1))] if cfg.verbose == 1 else None)
    runner.sync_statistics()
    logs = runner.results(runner.train_metrics)
    if dist_val is not None:
        runner.reset(runner.val_metrics)
        runner.validate(dist_val)
        logs.update(runner.results(runner.val_metrics, "val_"))
    bar.stateful_metrics = set(logs)
    bar.update(steps, values=list(logs.items()), finalize=True)
    writer.on_epoch_end(epoch, logs)
