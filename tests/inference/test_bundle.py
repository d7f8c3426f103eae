"""Bundle integrity: manifest parsing, sha256 verification, Keras safe mode, shape checks."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pneumoviewer.inference.bundle import (
    BundleError,
    ModelEntry,
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
