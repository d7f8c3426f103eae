"""Shared test setup: offscreen Qt, no network, per-test user data folders, Hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Hypothesis profiles. `ci`: the same examples on every run and every machine (derandomized, no example database,
# so nothing depends on a `.hypothesis` folder a fresh clone lacks), a fixed number of examples, no deadline (the
# shared CI machine's timing is not the code's). `dev`: random examples and the local database, to find new
# failures on a developer's machine (still no deadline). `.ci/run` exports HYPOTHESIS_PROFILE=ci; without it `ci`
# is chosen when CI is set (CI services set CI=true) or when the tests run from an installed app bundle (no
# pyproject.toml: read-only, and a verification run must be reproducible), else `dev`. Tests set only
# max_examples (and health checks) themselves: decorating a test with `settings(...)` inherits the loaded profile.
# Both built on Hypothesis' own defaults: under CI, Hypothesis has already loaded its built-in `ci` profile.
_BASE = settings.get_profile("default")
settings.register_profile(
    "ci",
    parent=_BASE,
    derandomize=True,
    database=None,
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", parent=_BASE, deadline=None)


def hypothesis_profile(env: os._Environ[str] | dict[str, str], project: Path) -> str:
    """The profile for this run: HYPOTHESIS_PROFILE, else `ci` under CI or in an app bundle, else `dev`."""
    if env.get("HYPOTHESIS_PROFILE"):
        return env["HYPOTHESIS_PROFILE"]
    if env.get("CI", "").lower() not in ("", "0", "false") or not (project / "pyproject.toml").is_file():
        return "ci"
    return "dev"


settings.load_profile(hypothesis_profile(os.environ, Path(__file__).resolve().parent.parent))


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests out of the real user's data/cache folders and QSettings."""
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("PNEUMOVIEWER_DATA", str(base / "data"))
    monkeypatch.setenv("PNEUMOVIEWER_CACHE", str(base / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))


@pytest.fixture(scope="session")
def phantom_dataset_readonly(tmp_path_factory: pytest.TempPathFactory):
    """Generated once per session, never to be written into (module fixtures may read it); tests that open the
    folder in the app or store reviews use `phantom_dataset`, a private copy."""
    from pneumoviewer.phantom import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("phantom"), n=12, seed=7, size=256, positive_rate=0.5)


@pytest.fixture
def phantom_dataset(phantom_dataset_readonly, tmp_path_factory: pytest.TempPathFactory):
    """12 synthetic SIIM-layout DICOMs (256², half positive, seed 7) + train-rle.csv, in a folder of this test's own."""
    import dataclasses
    import shutil

    master = phantom_dataset_readonly
    root = tmp_path_factory.mktemp("phantom-copy") / master.root.name
    shutil.copytree(master.root, root)

    def moved(path):
        return root / path.relative_to(master.root)

    return dataclasses.replace(
        master,
        root=root,
        dicom_dir=moved(master.dicom_dir),
        csv_path=moved(master.csv_path),
        paths={k: moved(v) for k, v in master.paths.items()},
    )


@pytest.fixture(scope="session")
def rule_bundle(tmp_path_factory: pytest.TempPathFactory):
    """A model bundle of two untrained-but-predictable Keras models (built in ~1 s, no training).

    classifier: P = sigmoid(40·(mean(image) − 0.5)) — bright images are 'positive';
    segmenter: p = sigmoid(40·(pixel − 0.5)) — the mask is where the image is brighter than 0.5.
    Input 64², thresholds 0.5, min area 1024 px at 1024² (64 px at 256²).
    """
    import keras
    import numpy as np

    from pneumoviewer.inference.bundle import ModelEntry, write_manifest
    from pneumoviewer.inference.config import ModelConfig

    root = tmp_path_factory.mktemp("rule_bundle")
    inp = keras.Input((64, 64, 1), name="image")
    out = keras.layers.Dense(1, activation="sigmoid", name="probability")(keras.layers.GlobalAveragePooling2D()(inp))
    cls = keras.Model(inp, out)
    cls.get_layer("probability").set_weights([np.array([[40.0]], np.float32), np.array([-20.0], np.float32)])
    inp = keras.Input((64, 64, 1), name="image")
    seg = keras.Model(inp, keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")(inp))
    seg.get_layer("mask").set_weights([np.full((1, 1, 1, 1), 40.0, np.float32), np.array([-20.0], np.float32)])
    cls.save(root / "classifier.keras")
    seg.save(root / "segmenter.keras")
    cfg = ModelConfig(name="rule", version="0.0.1", classifier_size=64, segmenter_size=64, min_area_px_1024=1024,
                      synthetic=True)
    write_manifest(root, cfg, {
        "classifier": ModelEntry("classifier", "classifier.keras", "rule", 64),
        "segmenter": ModelEntry("segmenter", "segmenter.keras", "rule", 64),
    })
    return root
