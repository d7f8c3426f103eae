"""The tf.data input pipeline: SIIM folder + RLE CSV → (image, label|mask) batches.

Decoding goes through ``pneumoviewer.io.dicom.load_image`` (the display pipeline) and the one shared
``pneumoviewer.inference.preprocess.preprocess_image``, so training sees exactly what inference will see. Order:
decode → cache (memory or file) → shuffle(1500) → repeat → sample positives/negatives by the epoch's positive rate
→ augment (stateless, seeded per element; masks get the same geometric transform as their image) → random crop
(``crop``, segmenter only) → batch → prefetch(AUTOTUNE).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from pneumoviewer.inference.preprocess import preprocess_image, preprocess_mask
from pneumoviewer.training.split import positive_rate_schedule

SHUFFLE_BUFFER = 1500
#: Share of the random crops of a positive image whose window is made to contain one of its mask pixels.
CROP_ON_MASK_P = 0.5


@dataclass(frozen=True)
class Example:
    """One labelled image: where it is and what the CSV says about it."""

    image_id: str
    path: Path
    positive: bool
    patient_key: str | None = None


@dataclass
class LabelledSet:
    """Images of a folder that the CSV labels, plus what could not be used (reported, never silently dropped)."""

    examples: list[Example]
    table: Any  # pneumoviewer.io.siim_csv.RleTable
    unlabelled: int = 0  # DICOMs in the folder with no CSV row
    missing: list[str] = field(default_factory=list)  # CSV ImageIds with no DICOM in the folder
    failures: list[tuple[Path, str]] = field(default_factory=list)  # unreadable files


def collect_examples(
    data_dir: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str],
    progress: Callable[[int, int], None] | None = None,
) -> LabelledSet:
    """Index ``data_dir`` (any nesting) and join it with the SIIM CSV (training or submission style) by ImageId."""
    from pneumoviewer.io.folder import scan_folder
    from pneumoviewer.io.siim_csv import read_rle_csv

    table = read_rle_csv(labels_csv)
    index = scan_folder(data_dir, progress=progress)
    labelled = set(table.image_ids)
    examples: list[Example] = []
    seen: set[str] = set()
    unlabelled = 0
    for item in index.images:
        iid = item.meta.image_id
        if iid not in labelled:
            unlabelled += 1
            continue
        if iid in seen:  # duplicate SOPInstanceUID: keep the first file
            continue
        seen.add(iid)
        examples.append(
            Example(image_id=iid, path=Path(item.path), positive=bool(table.is_positive(iid)),
                    patient_key=item.meta.patient_key)
        )
    missing = [i for i in table.image_ids if i not in seen]
    failures = [(Path(f.path), str(f.reason)) for f in index.failures]
    return LabelledSet(examples=examples, table=table, unlabelled=unlabelled, missing=missing, failures=failures)


def load_example(example: Example, table: Any, size: int, with_mask: bool) -> tuple[np.ndarray, np.ndarray]:
    """Decode one DICOM and its label: image (S, S, 1) and either the mask (S, S, 1) or the label (1,)."""
    from pneumoviewer.io.dicom import load_image

    try:
        img = load_image(example.path)
    except Exception as exc:
        raise RuntimeError(f"{example.path}: cannot decode for training: {exc}") from exc
    display = np.asarray(img.display, dtype=np.float32)
    x = preprocess_image(display, size)
    if with_mask:
        h, w = display.shape[:2]
        mask = table.union_mask(example.image_id, h, w)
        return x, preprocess_mask(mask, size)
    return x, np.array([1.0 if example.positive else 0.0], dtype=np.float32)


def _decoded(examples: Sequence[Example], table: Any, size: int, with_mask: bool) -> tf.data.Dataset:
    """Dataset of decoded (image, target) pairs in the order of ``examples``."""
    target_shape = (size, size, 1) if with_mask else (1,)

    def _py(i: Any) -> tuple[np.ndarray, np.ndarray]:
        return load_example(examples[int(i)], table, size, with_mask)

    def _map(i: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x, y = tf.numpy_function(_py, [i], [tf.float32, tf.float32], stateful=False)
        x.set_shape((size, size, 1))
        y.set_shape(target_shape)
        return x, y

    ds = tf.data.Dataset.from_tensor_slices(np.arange(len(examples), dtype=np.int64))
    return ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the on-the-fly augmentation (all uniform, symmetric)."""

    flip: bool = True
    rotate_deg: float = 10.0
    shift: float = 0.06  # fraction of the side
    scale: float = 0.10  # zoom factor range 1±scale
    brightness: float = 0.08
    contrast: float = 0.15
    # JPEG re-encoding at a random quality in [jpeg_min, jpeg_max] with probability jpeg_p. Real training sets mix
    # compression chains (the kit's positives and negatives came through different ones): without this a classifier
    # can learn the codec instead of the disease. jpeg_p = 0 turns it off.
    jpeg_p: float = 0.7
    jpeg_min: int = 30
    jpeg_max: int = 95
    # Elastic deformation (the 4th-place SIIM recipe's), with probability elastic_p: random offsets in
    # [-alpha, alpha] (alpha = elastic_alpha × side, per axis) at the (elastic_grid + 1)² corners of a coarse grid,
    # bilinearly upsampled to a smooth displacement field. The grid spacing, side / elastic_grid, plays the role of
    # the usual Gaussian sigma (the length over which the field varies); bilinear upsampling keeps every pixel's
    # displacement within alpha. Image bilinear, mask with it (then re-binarised at 0.5). elastic_p = 0 turns it off.
    elastic_p: float = 0.5
    elastic_alpha: float = 0.02
    elastic_grid: int = 4

    def __post_init__(self) -> None:
        if self.elastic_grid < 1:
            raise ValueError(f"elastic_grid must be at least 1 (cells per side), got {self.elastic_grid}")

    @classmethod
    def none(cls) -> AugmentConfig:
        return cls(flip=False, rotate_deg=0.0, shift=0.0, scale=0.0, brightness=0.0, contrast=0.0, jpeg_p=0.0,
                   elastic_p=0.0)


def _affine_params(seed: tf.Tensor, size: int, cfg: AugmentConfig) -> tf.Tensor:
    """8-parameter projective transform (output → input pixel) for a random flip/rotation/zoom/shift."""
    seeds = tf.random.experimental.stateless_split(seed, num=5)

    def u(i: int, lo: float, hi: float) -> tf.Tensor:
        return tf.random.stateless_uniform([], seed=seeds[i], minval=lo, maxval=hi)

    theta = u(0, -cfg.rotate_deg, cfg.rotate_deg) * (math.pi / 180.0) if cfg.rotate_deg else tf.constant(0.0)
    zoom = u(1, 1.0 - cfg.scale, 1.0 + cfg.scale) if cfg.scale else tf.constant(1.0)
    tx = u(2, -cfg.shift, cfg.shift) * size if cfg.shift else tf.constant(0.0)
    ty = u(3, -cfg.shift, cfg.shift) * size if cfg.shift else tf.constant(0.0)
    flip = (u(4, 0.0, 1.0) < 0.5) if cfg.flip else tf.constant(False)
    sx = tf.where(flip, -1.0, 1.0)
    c = (size - 1) / 2.0
    cos, sin = tf.cos(theta) / zoom, tf.sin(theta) / zoom
    # forward: out = c + t + zoom·R(θ)·F·(in − c); inverse: in = c + M·(out − c − t), M = F·R(−θ)/zoom.
    a0, a1 = sx * cos, sx * sin
    b0, b1 = -sin, cos
    ox, oy = c + tx, c + ty
    a2 = c - (a0 * ox + a1 * oy)
    b2 = c - (b0 * ox + b1 * oy)
    return tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])


def augment_pair(
    image: tf.Tensor, target: tf.Tensor, seed: tf.Tensor, cfg: AugmentConfig, with_mask: bool
) -> tuple[tf.Tensor, tf.Tensor]:
    """Randomly flip/rotate/zoom/shift and elastically deform ``image`` (and ``target`` when it is a mask,
    identically), then jitter brightness/contrast of the image only. Deterministic for a given ``seed`` (shape
    (2,), int)."""
    size = int(image.shape[0])
    seed = tf.cast(seed, tf.int64)
    geo_seed, tone_seed, jpeg_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=3))
    transform = _affine_params(geo_seed, size, cfg)
    stack = tf.concat([image, target], axis=-1) if with_mask else image
    if cfg.elastic_p > 0 and cfg.elastic_alpha > 0:  # its own seed: the other draws stay what they were without it
        s = tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(seed, 3), num=2)
        elastic = tf.random.stateless_uniform([], seed=s[0]) < cfg.elastic_p
        out = tf.cond(elastic, lambda: _elastic_affine_warp(stack, transform, s[1], cfg),
                      lambda: _affine_warp(stack, transform))
    else:
        out = _affine_warp(stack, transform)
    if with_mask:
        image = out[..., :1]
        target = tf.cast(out[..., 1:] >= 0.5, tf.float32)
    else:
        image = out
    if cfg.brightness or cfg.contrast:
        s = tf.random.experimental.stateless_split(tone_seed, num=2)
        contrast = tf.random.stateless_uniform([], seed=s[0], minval=1.0 - cfg.contrast, maxval=1.0 + cfg.contrast)
        bright = tf.random.stateless_uniform([], seed=s[1], minval=-cfg.brightness, maxval=cfg.brightness)
        mean = tf.reduce_mean(image)
        image = tf.clip_by_value((image - mean) * contrast + mean + bright, 0.0, 1.0)
    if cfg.jpeg_p > 0:
        image = _maybe_jpeg(image, jpeg_seed, cfg)
    image.set_shape((size, size, 1))
    return image, target


def _affine_warp(stack: tf.Tensor, transform: tf.Tensor) -> tf.Tensor:
    """``stack`` (S, S, C) through the projective ``transform``, bilinear, zero outside."""
    size = int(stack.shape[0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=stack[None],
        transforms=transform[None],
        output_shape=tf.constant([size, size], tf.int32),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )[0]


def _elastic_affine_warp(stack: tf.Tensor, transform: tf.Tensor, seed: tf.Tensor, cfg: AugmentConfig) -> tf.Tensor:
    """The affine warp followed by a smooth random displacement, as one bilinear resampling (zero outside).

    Output pixel p takes the affine image at p + d(p), i.e. the input at A(p + d(p)): one resampling instead of a
    second pass, so the deformation costs little more than the affine warp alone. Pure TF ops, no Python. Each
    channel is gathered as its own plane (scalar gathers beat strided channel slices on CPU), and an empty mask
    is not resampled at all (every negative's)."""
    size, channels = int(stack.shape[0]), int(stack.shape[-1])
    alpha = cfg.elastic_alpha * size
    coarse = tf.random.stateless_uniform([2, cfg.elastic_grid + 1, cfg.elastic_grid + 1], seed=seed,
                                         minval=-alpha, maxval=alpha)
    up = tf.constant(_linear_upsampling(size, cfg.elastic_grid + 1))
    field = tf.matmul(tf.matmul(up[None], coarse), up[None], transpose_b=True)  # (2, S, S); |d| <= alpha per axis
    rows, cols = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32), indexing="ij")
    r, c = rows + field[0], cols + field[1]
    a0, a1, a2, b0, b1, b2 = tf.unstack(transform[:6])
    # coordinates in the stack padded with fill (1 pixel before, 2 after, so x0 + 1 is always inside); a source
    # further out reads only fill
    side = size + 3
    x = tf.reshape(tf.clip_by_value(a0 * c + a1 * r + (a2 + 1.0), 0.0, size + 1.0), [-1])
    y = tf.reshape(tf.clip_by_value(b0 * c + b1 * r + (b2 + 1.0), 0.0, size + 1.0), [-1])
    x0, y0 = tf.floor(x), tf.floor(y)
    wx, wy = x - x0, y - y0
    i00 = tf.cast(y0, tf.int32) * side + tf.cast(x0, tf.int32)
    padded = tf.pad(stack, [[1, 2], [1, 2], [0, 0]])

    def plane(k: int) -> tf.Tensor:
        flat = tf.reshape(padded[..., k], [-1])
        top = tf.gather(flat, i00) * (1.0 - wx) + tf.gather(flat, i00 + 1) * wx
        bottom = tf.gather(flat, i00 + side) * (1.0 - wx) + tf.gather(flat, i00 + side + 1) * wx
        return tf.reshape(top * (1.0 - wy) + bottom * wy, [size, size])

    planes = [plane(0)]
    for k in range(1, channels):
        planes.append(tf.cond(tf.reduce_max(stack[..., k]) > 0, lambda k=k: plane(k),
                              lambda: tf.zeros([size, size], stack.dtype)))
    return tf.stack(planes, axis=-1)


def _linear_upsampling(size: int, knots: int) -> np.ndarray:
    """(size, knots) matrix of linear interpolation weights, knots spread from the first pixel to the last."""
    pos = np.arange(size) * (knots - 1) / max(size - 1, 1)
    left = np.minimum(np.floor(pos).astype(int), knots - 2)
    w = pos - left
    m = np.zeros((size, knots), np.float32)
    m[np.arange(size), left] = 1.0 - w
    m[np.arange(size), left + 1] = w
    return m


def _maybe_jpeg(image: tf.Tensor, seed: tf.Tensor, cfg: AugmentConfig) -> tf.Tensor:
    """Re-encode ``image`` (S, S, 1) in [0, 1] as JPEG at a random quality, with probability ``cfg.jpeg_p``."""
    s = tf.random.experimental.stateless_split(seed, num=2)
    apply = tf.random.stateless_uniform([], seed=s[0]) < cfg.jpeg_p
    coded = tf.image.stateless_random_jpeg_quality(image, cfg.jpeg_min, cfg.jpeg_max, seed=s[1])
    return tf.where(apply, tf.cast(coded, tf.float32), image)


def random_crop(
    image: tf.Tensor, mask: tf.Tensor, seed: tf.Tensor, crop: int, on_mask_p: float = CROP_ON_MASK_P
) -> tuple[tf.Tensor, tf.Tensor]:
    """One random ``crop``×``crop`` window of ``image`` and ``mask`` (S, S, 1), the same window for both.

    A uniform window of a large image often misses a small pneumothorax, which turns a positive into a negative
    and starves the segmenter of the hard cases. So with probability ``on_mask_p`` (when the mask is not empty)
    the window is drawn uniformly among the windows that contain one randomly chosen mask pixel (the lesion lands
    anywhere in it, not always in the middle); otherwise it is uniform over the image. Negatives are always
    uniform. Deterministic for a given ``seed`` (shape (2,), int)."""
    size = int(image.shape[0])
    room = size - crop
    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)
    uniform = tf.random.stateless_uniform([2], seed=s[0], minval=0, maxval=room + 1, dtype=tf.int32)
    pixels = tf.cast(tf.where(mask[..., 0] >= 0.5), tf.int32)  # (K, 2) row, column
    count = tf.shape(pixels)[0]
    guided = (count > 0) & (tf.random.stateless_uniform([], seed=s[1]) < on_mask_p)

    def around_mask() -> tf.Tensor:
        pick = tf.cast(tf.random.stateless_uniform([], seed=s[2]) * tf.cast(count, tf.float32), tf.int32)
        p = pixels[tf.minimum(pick, count - 1)]
        lo, hi = tf.maximum(p - crop + 1, 0), tf.minimum(p, room)  # corners whose window holds p
        u = tf.random.stateless_uniform([2], seed=s[3])
        return lo + tf.minimum(tf.cast(u * tf.cast(hi - lo + 1, tf.float32), tf.int32), hi - lo)

    corner = tf.cond(guided, around_mask, lambda: uniform)
    begin = tf.concat([corner, [0]], axis=0)
    image = tf.slice(image, begin, [crop, crop, 1])
    mask = tf.slice(mask, begin, [crop, crop, 1])
    image.set_shape((crop, crop, 1))
    mask.set_shape((crop, crop, 1))
    return image, mask


def _rate_weights(epochs: int, base_rate: float, start_rate: float, per_epoch: int) -> tf.data.Dataset:
    """Infinite dataset of [p_pos, p_neg] per drawn element, following the per-epoch positive-rate schedule."""
    rates = [positive_rate_schedule(e, epochs, base_rate, start_rate) for e in range(max(epochs, 1))]
    table = tf.constant(rates, tf.float32)
    last = len(rates) - 1

    def w(i: tf.Tensor) -> tf.Tensor:
        epoch = tf.minimum(tf.cast(i // per_epoch, tf.int32), last)
        p = table[epoch]
        return tf.stack([p, 1.0 - p])

    return tf.data.Dataset.range(np.iinfo(np.int64).max).map(w)


def training_dataset(
    examples: Sequence[Example],
    table: Any,
    *,
    task: str,
    size: int,
    batch: int,
    epochs: int,
    steps_per_epoch: int,
    seed: int = 0,
    cache: str = "",
    augment: AugmentConfig | None = None,
    start_positive_rate: float = 0.8,
    positives_only: bool = False,
    initial_epoch: int = 0,
    crop: int | None = None,
) -> tf.data.Dataset:
    """Infinite, augmented, class-balanced-by-schedule global batches, ``steps_per_epoch`` of them per epoch.

    ``initial_epoch`` skips the elements (and augmentation seeds) the first epochs drew, so a resumed run sees
    exactly what an uninterrupted one would have (the skipped images are decoded once, as the cache needs them).

    ``crop`` (segmenter): images stay decoded and cached at ``size``; each one is augmented whole, then cut to a
    random ``crop``×``crop`` window (:func:`random_crop`), after the augmentation so rotations bring no black
    corners into a window and the mask-guided window sees the transformed mask. None or ``size``: whole images,
    the stream of a run without it, element for element."""
    with_mask = task == "segmenter"
    if crop == size:
        crop = None
    if crop is not None and (not with_mask or not 0 < crop < size):
        raise ValueError(f"crop {crop}: random crops are for the segmenter, smaller than the size {size}")
    pos = [e for e in examples if e.positive]
    neg = [e for e in examples if not e.positive]
    if positives_only:
        neg = []
    if not pos and not neg:
        raise ValueError("no training images (positives-only with no positive images?)")
    base_rate = len(pos) / max(len(pos) + len(neg), 1)

    def branch(items: Sequence[Example], tag: str, s: int) -> tf.data.Dataset:
        ds = _decoded(items, table, size, with_mask)
        ds = ds.cache(f"{cache}-{task}-{size}-{tag}" if cache else "")
        return ds.shuffle(SHUFFLE_BUFFER, seed=s, reshuffle_each_iteration=True).repeat()

    if pos and neg:
        ds = tf.data.Dataset.sample_from_datasets(
            [branch(pos, "pos", seed + 1), branch(neg, "neg", seed + 2)],
            weights=_rate_weights(epochs, base_rate, start_positive_rate, steps_per_epoch * batch),
            seed=seed + 3,
        )
    else:
        ds = branch(pos or neg, "pos" if pos else "neg", seed + 1)
    done = initial_epoch * steps_per_epoch * batch  # a resumed run continues the stream, never replays epoch 1
    ds = ds.skip(done)
    if augment is not None or crop is not None:

        def per_element(xy: tuple[tf.Tensor, tf.Tensor], s: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            x, y = augment_pair(xy[0], xy[1], s, augment, with_mask) if augment is not None else xy
            if crop is not None:  # a seed of its own: the augmentation draws what it draws without a crop
                x, y = random_crop(x, y, tf.random.experimental.stateless_fold_in(s, 1), crop)
            return x, y

        seeds = tf.data.Dataset.random(seed=seed + 4).batch(2).skip(done)
        ds = tf.data.Dataset.zip((ds, seeds)).map(per_element, num_parallel_calls=tf.data.AUTOTUNE,
                                                  deterministic=True)
    ds = ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    return _with_data_sharding(ds)


def validation_dataset(
    examples: Sequence[Example], table: Any, *, task: str, size: int, batch: int, cache: str = ""
) -> tf.data.Dataset:
    """Every validation image once, in order, unaugmented, at the dataset's own positive rate."""
    ds = _decoded(examples, table, size, task == "segmenter")
    ds = ds.cache(f"{cache}-{task}-{size}-val" if cache else "")
    return _with_data_sharding(ds.batch(batch).prefetch(tf.data.AUTOTUNE))


def _with_data_sharding(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Shard by element under multi-worker training (there are no files for tf.data to shard by)."""
    opts = tf.data.Options()
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(opts)
