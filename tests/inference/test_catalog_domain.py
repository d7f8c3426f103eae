"""Model catalog (which bundles exist, which a folder opens with) and the training-domain checks."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pneumoviewer.core.paths import models_dir
from pneumoviewer.core.types import ImageMeta, ModelInfo
from pneumoviewer.inference import catalog, domain
from pneumoviewer.inference.bundle import read_manifest


def _copy_bundle(src: Path, dst: Path, **changes: object) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".*"))
    path = dst / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))
    return dst


@pytest.fixture
def model_roots(tmp_path, monkeypatch):
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    shipped.mkdir()
    user.mkdir()
    _copy_bundle(models_dir() / "demo", shipped / "demo")
    monkeypatch.setenv("PNEUMOVIEWER_MODELS", str(shipped))
    monkeypatch.setenv("PNEUMOVIEWER_USER_MODELS", str(user))
    return shipped, user


def test_find_bundles_lists_shipped_then_user_and_broken_ones(model_roots):
    shipped, user = model_roots
    _copy_bundle(shipped / "demo", shipped / "siim", name="siim", synthetic=False)
    _copy_bundle(shipped / "demo", user / "mine", name="mine", synthetic=False, version="2.0")
    (user / "broken").mkdir()
    (user / "broken" / "manifest.json").write_text("{not json")
    (user / "not-a-bundle").mkdir()
    found = catalog.find_bundles()
    assert [(b.path.name, b.origin) for b in found] == [
        ("demo", "shipped"), ("siim", "shipped"), ("broken", "user"), ("mine", "user")]
    demo, siim, broken, mine = found
    assert demo.info.synthetic and "synthetic" in demo.training_data
    assert not siim.info.synthetic and siim.training_data.startswith("real radiographs")
    assert not broken.usable and "manifest" in broken.error
    assert mine.info == ModelInfo("mine", "2.0", False)
    assert demo.card is not None and "demo" in demo.card_text().lower()
    secret = shipped / "secret.txt"
    secret.write_text("not a card")
    (mine.path / "MODEL_CARD.md").unlink(missing_ok=True)
    (mine.path / "MODEL_CARD.md").symlink_to(secret)
    assert mine.card is None and "not a card" not in mine.card_text()


def test_bundle_sha256_changes_with_any_weight_file(model_roots):
    shipped, _ = model_roots
    a = read_manifest(shipped / "demo").sha256
    data = json.loads((shipped / "demo" / "manifest.json").read_text())
    data["files"]["segmenter.keras"]["sha256"] = "0" * 64
    (shipped / "demo" / "manifest.json").write_text(json.dumps(data))
    b = read_manifest(shipped / "demo").sha256
    assert len(a) == 64 and a != b


def test_default_bundle_demo_for_phantoms_real_otherwise(model_roots):
    shipped, user = model_roots
    assert catalog.default_bundle(True) == shipped / "demo"
    assert catalog.default_bundle(False) == shipped / "demo"  # no real bundle on this machine: fall back
    _copy_bundle(shipped / "demo", user / "zzz-real", name="zzz", synthetic=False)
    assert catalog.default_bundle(False) == user / "zzz-real"
    _copy_bundle(shipped / "demo", shipped / "siim", name="siim", synthetic=False)
    assert catalog.default_bundle(False) == shipped / "siim"  # the shipped real bundle wins
    assert catalog.default_bundle(True) == shipped / "demo"


REAL = ModelInfo("siim", "1.0.0", synthetic=False)
SYNTH = ModelInfo("demo", "1.0.0", synthetic=True)
CHEST = ImageMeta(image_id="1.2.3", modality="CR", body_part="CHEST", view_position="PA", rows=1024, columns=1024,
                  bits_stored=8)


def test_synthetic_guard_only_for_non_phantoms():
    assert domain.synthetic_on_real(SYNTH, CHEST)
    assert not domain.synthetic_on_real(SYNTH, replace(CHEST, synthetic_phantom=True))
    assert not domain.synthetic_on_real(REAL, CHEST)
    assert not domain.synthetic_on_real(None, CHEST)


@pytest.mark.parametrize(("change", "phrase"), [
    ({"modality": "CT"}, "modality CT"),
    ({"body_part": "KNEE"}, "body part KNEE"),
    ({"view_position": "LL"}, "lateral"),
    ({"rows": 128, "columns": 128}, "128×128"),
    ({"rows": 1024, "columns": 3000}, "shape"),
    ({"bits_stored": 32}, "32-bit"),
    ({"n_frames": 40}, "40 frames"),
])
def test_outside_domain_names_the_reason(change, phrase):
    why = domain.outside_domain(REAL, replace(CHEST, **change))
    assert why is not None and why.startswith(domain.OUTSIDE_DOMAIN) and phrase in why


@pytest.mark.parametrize("change", [
    {}, {"modality": "DX"}, {"modality": "OT"}, {"body_part": ""}, {"view_position": "AP"},
    {"rows": 2500, "columns": 2048, "bits_stored": 12}, {"rows": 3000, "columns": 2000},
])
def test_inside_domain_is_quiet(change):
    assert domain.outside_domain(REAL, replace(CHEST, **change)) is None
    assert domain.outside_domain(SYNTH, replace(CHEST, modality="CT")) is None  # synthetic: the other warning


def test_phantoms_carry_the_mark_and_other_files_do_not(phantom_dataset_readonly, tmp_path):
    import numpy as np

    from pneumoviewer.io.dicom import read_header
    from pneumoviewer.io.dicom.write import build_dataset, dataset_bytes
    from pneumoviewer.io.folder import scan_folder

    index = scan_folder(phantom_dataset_readonly.root, use_cache=False)
    assert index.images and all(item.meta.synthetic_phantom for item in index.images)
    assert all(domain.synthetic_on_real(SYNTH, item.meta) is False for item in index.images)
    other = tmp_path / "real-looking.dcm"
    other.write_bytes(dataset_bytes(build_dataset(np.zeros((300, 300), np.uint16), bits_stored=12,
                                                  attrs={"Modality": "CR", "Manufacturer": "PneumoViewer"})))
    meta = read_header(other)
    assert not meta.synthetic_phantom and domain.synthetic_on_real(SYNTH, meta)
