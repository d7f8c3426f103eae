"""Bundle integrity: manifest parsing, sha256 verification, Keras safe mode, shape checks."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from pneumoviewer.inference.bundle import (
    BundleError,
    ModelEntry,
    bundle_files,
    load_bundle,
    read_manifest,
    rehash,
    verify_files,
    write_manifest,
)
from pneumoviewer.inference.config import ModelConfig


@pytest.fixture
def bundle_copy(rule_bundle, tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(rule_bundle, dst)
    return dst


def test_manifest_records_everything(rule_bundle):
    data = json.loads((rule_bundle / "manifest.json").read_text())
    for key in ("format_version", "name", "version", "created", "preprocessing", "thresholds", "models", "files"):
        assert key in data, key
    assert data["synthetic"] is True
    assert data["thresholds"] == {"classifier_probability": 0.5, "mask_probability": 0.5,
                                  "min_mask_area_px_at_1024": 1024}
    assert set(data["files"]) == {"classifier.keras", "segmenter.keras"}
    m = read_manifest(rule_bundle)
    assert m.model_info.name == "rule" and m.config.segmenter_size == 64
    assert m.models["classifier"].input_shape == (64, 64, 1)


def test_load_verified_bundle(rule_bundle):
    b = load_bundle(rule_bundle)
    assert set(b.models) == {"classifier", "segmenter"}
    p = b.models["classifier"](np.ones((1, 64, 64, 1), np.float32)).numpy()
    assert p[0, 0] > 0.99


def test_tampered_file_is_refused_naming_it(bundle_copy):
    target = bundle_copy / "segmenter.keras"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"segmenter\.keras: sha256 mismatch"):
        load_bundle(bundle_copy)


def test_missing_file_and_bad_manifest(bundle_copy):
    (bundle_copy / "classifier.keras").unlink()
    with pytest.raises(BundleError, match=r"classifier\.keras: listed in manifest.json but missing"):
        verify_files(read_manifest(bundle_copy))
    (bundle_copy / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"manifest\.json: unreadable manifest"):
        read_manifest(bundle_copy)
    (bundle_copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match="manifest not found"):
        read_manifest(bundle_copy)


def test_manifest_refuses_paths_outside_bundle(bundle_copy):
    data = json.loads((bundle_copy / "manifest.json").read_text())
    data["models"]["classifier"]["file"] = "../evil.keras"
    data["files"]["../evil.keras"] = {"sha256": "0" * 64}
    (bundle_copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="plain name"):
        read_manifest(bundle_copy)


def test_newer_format_is_refused(bundle_copy):
    data = json.loads((bundle_copy / "manifest.json").read_text())
    data["format_version"] = 99
    (bundle_copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="newer"):
        read_manifest(bundle_copy)


def test_lambda_layer_is_refused(tmp_path):
    import keras

    inp = keras.Input((64, 64, 1))
    out = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(out))
    keras.Model(inp, out).save(tmp_path / "classifier.keras")
    write_manifest(tmp_path, ModelConfig(name="evil", classifier_size=64),
                   {"classifier": ModelEntry("classifier", "classifier.keras", "evil", 64)})
    verify_files(read_manifest(tmp_path))  # hashes are fine: the refusal must come from safe mode
    with pytest.raises(BundleError, match=r"classifier\.keras: could not load the classifier model safely.*Lambda"):
        load_bundle(tmp_path)


def test_input_shape_mismatch_is_refused(bundle_copy):
    data = json.loads((bundle_copy / "manifest.json").read_text())
    data["models"]["segmenter"]["input_size"] = 128
    (bundle_copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"segmenter\.keras: input shape \(64, 64, 1\) does not match"):
        load_bundle(bundle_copy)


def test_rehash_covers_added_files(bundle_copy):
    (bundle_copy / "MODEL_CARD.md").write_text("# card\n")
    rehash(bundle_copy)
    m = read_manifest(bundle_copy)
    assert "MODEL_CARD.md" in m.files
    verify_files(m)
    (bundle_copy / "MODEL_CARD.md").write_text("# edited\n")
    with pytest.raises(BundleError, match=r"MODEL_CARD\.md: sha256 mismatch"):
        verify_files(read_manifest(bundle_copy))


# --- a bundle is someone else's folder: nothing it names may reach outside it -------------------------------------

def _edit_manifest(bundle, edit):
    data = json.loads((bundle / "manifest.json").read_text())
    edit(data)
    (bundle / "manifest.json").write_text(json.dumps(data))


@pytest.mark.parametrize("name", ["../outside.bin", "/etc/hostname", "sub/x.bin", "..", "C:x.bin", "a\\b", "a\x1bb"])
def test_listed_files_must_be_plain_names(bundle_copy, name):
    _edit_manifest(bundle_copy, lambda d: d["files"].update({name: {"sha256": "0" * 64}}))
    with pytest.raises(BundleError, match="listed file must be a plain name inside the bundle") as info:
        read_manifest(bundle_copy)
    assert "\x1b" not in str(info.value)


def test_symlink_pointing_out_of_the_bundle_is_refused(bundle_copy, tmp_path):
    outside = tmp_path / "elsewhere.keras"
    shutil.copy(bundle_copy / "classifier.keras", outside)  # same bytes: the sha256 alone would pass it
    (bundle_copy / "classifier.keras").unlink()
    (bundle_copy / "classifier.keras").symlink_to(outside)
    with pytest.raises(BundleError, match=r"classifier\.keras: points outside the bundle folder"):
        verify_files(read_manifest(bundle_copy))
    assert "classifier.keras" not in bundle_files(bundle_copy)  # and the writer never lists it
    (bundle_copy / "manifest.json").unlink()
    (bundle_copy / "manifest.json").symlink_to(outside)
    with pytest.raises(BundleError, match=r"manifest\.json: points outside the bundle folder"):
        read_manifest(bundle_copy)


def test_fifo_and_huge_sparse_files_are_refused_without_reading(bundle_copy):
    import os

    from pneumoviewer.inference.bundle import MAX_FILE_BYTES

    os.mkfifo(bundle_copy / "pipe.bin")  # opening it would block for ever
    _edit_manifest(bundle_copy, lambda d: d["files"].update({"pipe.bin": {"sha256": "0" * 64}}))
    with pytest.raises(BundleError, match=r"pipe\.bin: not a regular file"):
        verify_files(read_manifest(bundle_copy))
    (bundle_copy / "pipe.bin").unlink()
    with open(bundle_copy / "pipe.bin", "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: hashing it would read 4 GiB of zeros
    with pytest.raises(BundleError, match=r"pipe\.bin: 4,294,967,297 bytes, more than a bundle file may have"):
        verify_files(read_manifest(bundle_copy))


def test_deeply_nested_or_oversized_manifest_is_a_bundle_error(bundle_copy):
    (bundle_copy / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(BundleError, match="unreadable manifest: nested too deeply"):
        read_manifest(bundle_copy)
    with open(bundle_copy / "manifest.json", "wb") as fh:
        fh.truncate(32 << 20)
    with pytest.raises(BundleError, match=r"manifest\.json: 33,554,432 bytes, more than a bundle file may have"):
        read_manifest(bundle_copy)


@pytest.mark.parametrize("field", ["name", "version"])
def test_control_characters_in_names_are_refused(bundle_copy, field):
    _edit_manifest(bundle_copy, lambda d: d.update({field: "demo\x1b]0;pwned\x07\x1b[2J"}))
    shown = re.escape(field + r" 'demo\x1b]0;pwned\x07\x1b[2J' holds control characters")
    with pytest.raises(BundleError, match=shown) as info:
        read_manifest(bundle_copy)
    assert not any(ord(c) < 0x20 for c in str(info.value))


def test_keras_floor_excludes_versions_with_safe_mode_bypasses():
    from importlib.metadata import version
    from pathlib import Path

    import tomllib
    from packaging.requirements import Requirement

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    spec = next(Requirement(d) for d in deps if Requirement(d).name == "keras").specifier
    for bypassed in ("3.3.3", "3.8.0", "3.10.0", "3.11.3", "3.12.0", "3.13.0", "3.13.1"):
        assert bypassed not in spec, bypassed
    assert "3.12.1" in spec and "3.13.2" in spec
    assert version("keras") in spec


def test_model_config_cannot_switch_safe_mode_off(tmp_path):
    """The CVE-2025-9906 chain: a Lambda whose function is `keras.config.enable_unsafe_deserialization`."""
    import zipfile

    import keras
    from keras.src.saving import serialization_lib

    inp = keras.Input((64, 64, 1))
    out = keras.layers.Lambda(lambda t: t, name="switch")(inp)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(out))
    keras.Model(inp, out).save(tmp_path / "clean.keras")
    with zipfile.ZipFile(tmp_path / "clean.keras") as src:
        config = json.loads(src.read("config.json"))
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "Lambda":
                layer["config"]["function"] = {"module": "keras.config", "class_name": "function",
                                               "config": "enable_unsafe_deserialization",
                                               "registered_name": "function"}
        with zipfile.ZipFile(tmp_path / "classifier.keras", "w") as dst:
            for name in src.namelist():
                dst.writestr(name, json.dumps(config) if name == "config.json" else src.read(name))
    (tmp_path / "clean.keras").unlink()
    write_manifest(tmp_path, ModelConfig(name="evil", classifier_size=64),
                   {"classifier": ModelEntry("classifier", "classifier.keras", "evil", 64)})
    with pytest.raises(BundleError, match=r"classifier\.keras: could not load the classifier model safely"):
        load_bundle(tmp_path)
    assert serialization_lib.in_safe_mode() is not False  # the process-wide switch was not flipped
