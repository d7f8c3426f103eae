"""Network architectures: classifiers (compact CNN, DenseNet121, and two built from a segmenter's layers: the U-Net's
max-pooled map ``unet-mil`` and the empty-mask branch ``unet-empty``) and segmenters (U-Net, DenseNet121 U-Net, each
optionally with the SIIM 4th-place deep-supervision branch, P(mask non-empty), as a second output for training).

Only built-in Keras layers are used (no ``Lambda``), so every model saved from here loads under Keras safe mode.
Grayscale inputs reach the 3-channel DenseNet121 through a parameter-free ``Concatenate`` of the one channel three
times, followed by a fixed ImageNet normalisation. Weights are never downloaded: DenseNet121 starts random unless
the user names a local ImageNet weights file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

CLASSIFIER_ARCHS: tuple[str, ...] = ("small", "unet-mil", "densenet121", "unet-empty", "unet-densenet121-empty")
SEGMENTER_ARCHS: tuple[str, ...] = ("unet-small", "unet", "unet-densenet121")

#: Classifiers that are a segmenter's encoder plus its empty-mask branch (``train segmenter --empty-weight``), with
#: the segmenter architecture whose encoder they share (layer names match, so ``--init-from`` copies the branch).
EMPTY_BRANCH_CLASSIFIERS: dict[str, str] = {"unet-empty": "unet", "unet-densenet121-empty": "unet-densenet121"}

#: Keras 3 names of the DenseNet121 layers the U-Net decoder taps, from stride 2 to stride 32.
DENSENET_SKIPS: tuple[str, ...] = ("conv1_relu", "pool2_relu", "pool3_relu", "pool4_relu", "relu")

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ArchOptions:
    """Knobs of the configurable architectures (defaults per architecture name in :func:`arch_options`)."""

    width: int = 16  # filters in the first U-Net / CNN level, doubled each level
    depth: int = 4  # number of down-sampling levels
    dropout: float = 0.0  # dropout before the bottleneck / classifier head
    imagenet_weights: str | None = None  # local .h5 path for DenseNet121 (never downloaded)


def arch_options(arch: str, **overrides: Any) -> ArchOptions:
    base = {
        "small": ArchOptions(width=16, depth=4, dropout=0.2),
        "densenet121": ArchOptions(dropout=0.2),
        "unet-mil": ArchOptions(width=8, depth=4, dropout=0.0),
        "unet-small": ArchOptions(width=8, depth=4, dropout=0.0),
        "unet": ArchOptions(width=32, depth=5, dropout=0.2),
        "unet-densenet121": ArchOptions(dropout=0.0),
        "unet-empty": ArchOptions(width=8, depth=4, dropout=0.0),  # unet-small's encoder, like unet-mil
        "unet-densenet121-empty": ArchOptions(dropout=0.0),
    }.get(arch)
    if base is None:
        raise ValueError(f"unknown architecture {arch!r}; choose from {CLASSIFIER_ARCHS + SEGMENTER_ARCHS}")
    fields = {k: v for k, v in overrides.items() if v is not None}
    return ArchOptions(**{**base.__dict__, **fields})


def _conv_bn_relu(x: Any, filters: int, name: str, kernel: int = 3) -> Any:
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _gray_to_imagenet_rgb(x: Any) -> Any:
    """(H, W, 1) in [0,1] → (H, W, 3) ImageNet-normalised, with built-in layers only (safe-mode loadable)."""
    x = layers.Concatenate(axis=-1, name="gray_to_rgb")([x, x, x])
    return layers.Normalization(
        axis=-1, mean=list(_IMAGENET_MEAN), variance=[s * s for s in _IMAGENET_STD], name="imagenet_norm"
    )(x)


def _densenet_encoder(inputs: Any, opts: ArchOptions, skips: tuple[str, ...] = ()) -> list[Any]:
    """DenseNet121 on our grayscale input; returns its final features, or the ``skips`` feature maps.

    The backbone is built on its own 3-channel input (so a standard ImageNet "notop" weights file loads into it
    unchanged) and called as a nested model named ``densenet121`` after the grayscale→RGB layers.
    """
    weights = None
    if opts.imagenet_weights:
        path = os.fspath(opts.imagenet_weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: ImageNet weights file not found (weights are never downloaded)")
        weights = path
    size = int(inputs.shape[1])
    base = keras.applications.DenseNet121(include_top=False, weights=weights, input_shape=(size, size, 3),
                                          pooling=None)
    outputs = [base.get_layer(n).output for n in skips] if skips else [base.output]
    encoder = keras.Model(base.input, outputs, name="densenet121")
    feats = encoder(_gray_to_imagenet_rgb(inputs))
    return list(feats) if isinstance(feats, (list, tuple)) else [feats]


def build_classifier(arch: str, size: int, opts: ArchOptions | None = None) -> keras.Model:
    """(size, size, 1) → P(pneumothorax), one sigmoid unit (float32 even under mixed precision)."""
    opts = opts or arch_options(arch)
    inputs = keras.Input((size, size, 1), name="image")
    if arch == "small":
        # a 5x5 stride-2 stem keeps the full-resolution cost low; then `depth` levels of two 3x3 convs + max-pool
        x = layers.Conv2D(opts.width, 5, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
        x = layers.BatchNormalization(name="stem_bn")(x)
        x = layers.Activation("relu", name="stem_relu")(x)
        for level in range(opts.depth):
            f = opts.width * 2 ** min(level, 4)
            x = _conv_bn_relu(x, f, f"c{level}a")
            x = _conv_bn_relu(x, f, f"c{level}b")
            x = layers.MaxPooling2D(2, name=f"c{level}_pool")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    elif arch == "unet-mil":
        # multiple-instance classifier: a U-Net's per-pixel probability map, max-pooled to one image probability.
        # Layer names match `build_unet`, so it can start from a trained segmenter (`train --init-from`).
        pixel = _unet_body(inputs, opts)
        out = layers.GlobalMaxPooling2D(name="probability", dtype="float32")(pixel)
        return keras.Model(inputs, out, name="classifier_unet_mil")
    elif arch == "unet-empty":
        # the empty-mask branch of a U-Net segmenter trained with --empty-weight: P(mask non-empty) from its
        # deepest encoder features; names match `build_unet(..., empty_branch=True)` for `--init-from`
        out = _empty_head(_unet_encoder(inputs, opts)[0])
        return keras.Model(inputs, out, name="classifier_unet_empty")
    elif arch == "unet-densenet121-empty":
        out = _empty_head(_densenet_deepest(_densenet_encoder(inputs, opts)[0], opts))
        return keras.Model(inputs, out, name="classifier_unet_densenet121_empty")
    elif arch == "densenet121":
        x = layers.GlobalAveragePooling2D(name="gap")(_densenet_encoder(inputs, opts)[0])
    else:
        raise ValueError(f"unknown classifier architecture {arch!r}; choose from {CLASSIFIER_ARCHS}")
    if opts.dropout:
        x = layers.Dropout(opts.dropout, name="head_dropout")(x)
    out = layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(x)
    return keras.Model(inputs, out, name=f"classifier_{arch.replace('-', '_')}")


def _unet_decoder_block(x: Any, skip: Any | None, filters: int, name: str) -> Any:
    x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_up")(x)
    if skip is not None:
        x = layers.Concatenate(name=f"{name}_concat")([x, skip])
    x = _conv_bn_relu(x, filters, f"{name}_a")
    return _conv_bn_relu(x, filters, f"{name}_b")


def _mask_head(x: Any) -> Any:
    return layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="mask")(x)


def _empty_head(x: Any) -> Any:
    """The deep-supervision empty-mask branch (SIIM 4th place): global average pool → one sigmoid, P(non-empty)."""
    x = layers.GlobalAveragePooling2D(name="empty_gap")(x)
    return layers.Dense(1, activation="sigmoid", dtype="float32", name="empty")(x)


def _unet_encoder(inputs: Any, opts: ArchOptions) -> tuple[Any, list[Any]]:
    """The U-Net's encoder: its deepest features (after ``mid_b``) and the skip tensors, shallowest first."""
    size = int(inputs.shape[1])
    if size % (2**opts.depth):
        raise ValueError(f"input size {size} must be divisible by 2**depth = {2**opts.depth}")
    x = inputs
    skips = []
    for level in range(opts.depth):
        f = opts.width * 2**level
        x = _conv_bn_relu(x, f, f"enc{level}a")
        x = _conv_bn_relu(x, f, f"enc{level}b")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    f = opts.width * 2**opts.depth
    if opts.dropout:
        x = layers.Dropout(opts.dropout, name="bottleneck_dropout")(x)
    x = _conv_bn_relu(x, f, "mid_a")
    return _conv_bn_relu(x, f, "mid_b"), skips


def _unet_decoder(x: Any, skips: list[Any], opts: ArchOptions) -> Any:
    for level in reversed(range(opts.depth)):
        x = _unet_decoder_block(x, skips[level], opts.width * 2**level, f"dec{level}")
    return _mask_head(x)


def _unet_body(inputs: Any, opts: ArchOptions) -> Any:
    """Encoder-decoder of :func:`build_unet` up to and including the sigmoid ``mask`` head."""
    return _unet_decoder(*_unet_encoder(inputs, opts), opts)


def _outputs(mask: Any, deepest: Any, empty_branch: bool) -> Any:
    return [mask, _empty_head(deepest)] if empty_branch else mask


def build_unet(size: int, opts: ArchOptions, empty_branch: bool = False) -> keras.Model:
    """Plain U-Net: ``depth`` levels of two conv-BN-ReLU, max-pool down, bilinear up + skip concat.

    ``empty_branch`` adds a second output, P(mask non-empty), on the features after ``mid_b`` (training only).
    """
    inputs = keras.Input((size, size, 1), name="image")
    deepest, skips = _unet_encoder(inputs, opts)
    mask = _unet_decoder(deepest, skips, opts)
    return keras.Model(inputs, _outputs(mask, deepest, empty_branch), name="segmenter_unet")


def _densenet_deepest(x: Any, opts: ArchOptions) -> Any:
    """DenseNet121's stride-32 features as the decoder (and the empty-mask branch) sees them."""
    if opts.dropout:  # the reference recipe's "with dropout" variant: on the deepest features, before decoding
        x = layers.Dropout(opts.dropout, name="bottleneck_dropout")(x)
    return x


def build_densenet_unet(size: int, opts: ArchOptions, empty_branch: bool = False) -> keras.Model:
    """U-Net decoder on DenseNet121's skips (stride 2..32); the reference SIIM recipe.

    ``empty_branch`` adds a second output, P(mask non-empty), on the stride-32 DenseNet features (training only).
    """
    if size % 32:
        raise ValueError(f"input size {size} must be divisible by 32 for the DenseNet121 U-Net")
    inputs = keras.Input((size, size, 1), name="image")
    feats = _densenet_encoder(inputs, opts, DENSENET_SKIPS)
    deepest = x = _densenet_deepest(feats[-1], opts)  # stride 32
    for i, filters in zip(range(len(feats) - 2, -1, -1), (256, 128, 64, 32)):
        x = _unet_decoder_block(x, feats[i], filters, f"dec{i}")
    x = _unet_decoder_block(x, None, 16, "dec_full")  # stride 2 -> full resolution
    return keras.Model(inputs, _outputs(_mask_head(x), deepest, empty_branch), name="segmenter_unet_densenet121")


def build_segmenter(arch: str, size: int, opts: ArchOptions | None = None, empty_branch: bool = False) -> keras.Model:
    """(size, size, 1) → (size, size, 1) sigmoid mask probability; with ``empty_branch``, [mask, P(non-empty)]."""
    opts = opts or arch_options(arch)
    if arch in ("unet", "unet-small"):
        return build_unet(size, opts, empty_branch)
    if arch == "unet-densenet121":
        return build_densenet_unet(size, opts, empty_branch)
    raise ValueError(f"unknown segmenter architecture {arch!r}; choose from {SEGMENTER_ARCHS}")


def mask_only(model: keras.Model) -> keras.Model:
    """The image → mask model inside a segmenter built with ``empty_branch`` (the same layers, the branch left out).

    The bundle ships this: the app's segmenter contract is one input, one mask output.
    """
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.inputs[0], model.get_layer("mask").output, name=model.name)


def init_from(model: keras.Model, source: keras.Model) -> int:
    """Copy weights layer by layer (same name, same shapes) from ``source``; returns how many layers were copied.

    Used to start a ``unet-mil`` classifier from a trained U-Net segmenter: the per-pixel evidence is already
    learnt, the classifier only has to learn how much of it makes an image positive.
    """
    by_name = {la.name: la for la in source.layers}
    copied = 0
    for layer in model.layers:
        src = by_name.get(layer.name)
        if src is None or not layer.weights:
            continue
        w = src.get_weights()
        if [tuple(a.shape) for a in w] != [tuple(v.shape) for v in layer.weights]:
            continue
        layer.set_weights(w)
        copied += 1
    return copied


def builder(task: str) -> Callable[[str, int, ArchOptions | None], keras.Model]:
    if task == "classifier":
        return build_classifier
    if task == "segmenter":
        return build_segmenter
    raise ValueError(f"unknown task {task!r}")


def archs_for(task: str) -> tuple[str, ...]:
    return CLASSIFIER_ARCHS if task == "classifier" else SEGMENTER_ARCHS
