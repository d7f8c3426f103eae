"""packaging/real/seed_table.py: the blog-vs-ours table rendered from per-run JSONs, and report.py's scoring of the
one-model bundles the seed runs produce (no real data, no real training: crafted figures and a tiny phantom run)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REAL = Path(__file__).resolve().parents[2] / "packaging" / "real"


def _load(name: str) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(f"pv_real_{name}", str(REAL / f"{name}.py"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


sys.path.insert(0, str(REAL))  # seed_table imports card.py, its sibling, as the script does
card = _load("card")
seed_table = _load("seed_table")


def _fig(base: float, *, dice: bool = True) -> dict:
    keys = ("auc", "sensitivity", "specificity", "accuracy", "precision")
    keys += ("kaggle_mean_dice", "mean_dice_positive") if dice else ()
    out: dict = {"n_images": 189, "n_positive": 124}
    for i, k in enumerate(keys):
        out[k] = round(base + 0.01 * i, 4)
        out[f"{k}_ci95"] = [round(base + 0.01 * i - 0.05, 4), round(base + 0.01 * i + 0.05, 4)]
    return out


def _result(run, steps: int, base: float) -> dict:
    return {"run": run.name, "task": run.task, "note": run.note, "wall_s": 1500.0,
            "training": {"arch": run.args[1], "steps": steps, "batch": 8, "s_per_step": 7.57, "images_train": 800},
            "validation": _fig(base, dice=run.task == "segmenter")}


def test_table_puts_the_blogs_figure_beside_ours_with_intervals():
    runs = {r.name: r for r in seed_table.RUNS}
    results = [_result(runs["unet"], 50, 0.3), _result(runs["densenet121-unet"], 50, 0.5),
               _result(runs["densenet121-classifier"], 50, 0.7)]
    results[0]["kaggle_mean_dice_unpostprocessed"] = 0.0123
    text = card.seed_recipe_table(results)
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert len(lines) == 1 + 3  # header + one row per run, in the given order
    unet, dense, cls = lines[1:]
    assert "simple U-Net" in unet and "Dice 0.2509" in unet and "(`unet`, width 16)" in unet
    assert "Dice 0.4608" in dense
    # Kaggle Dice of the DenseNet U-Net: value and its 95 % interval, formatted from the JSON
    assert "0.550 [0.500, 0.600]" in dense and "0.300 [0.250, 0.350]" in unet
    assert "| 0.012 | 50 × 8" in unet  # the raw masks' Kaggle Dice, before post-processing
    assert "50 × 8" in dense and "25 min" in dense and "7.6" in dense
    cells = [c.strip() for c in cls.strip("|").split("|")]
    assert cells[2] == cells[3] == "n/a"  # a classifier has no mask: its Dice cells say so
    assert cells[4] == "0.700 [0.650, 0.750]"  # its AUC
    assert "every segmenter 50 steps of batch 8 (400 images seen, 0.50 of one pass" in text
    assert "10,675 SIIM images alone is 27× that" in text  # the budget ratio against the blog's data
    assert "the classifier 50 steps of batch 8" in text
    assert "test split is not used" in text


def test_table_says_when_the_segmenter_budgets_differ():
    runs = {r.name: r for r in seed_table.RUNS}
    text = card.seed_recipe_table([_result(runs["unet"], 40, 0.3), _result(runs["densenet121-unet"], 50, 0.5)])
    assert "segmenter steps differ: [40, 50]" in text


def test_results_are_read_in_table_order_and_written_beside_them(tmp_path):
    runs = {r.name: r for r in seed_table.RUNS}
    for name, base in (("unet", 0.3), ("densenet121-unet-noaug", 0.4), ("densenet121-unet", 0.5)):
        (tmp_path / f"{name}.json").write_text(json.dumps(_result(runs[name], 50, base)), encoding="utf-8")
    (tmp_path / "stray.json").write_text(json.dumps({"run": "not-a-seed-run"}), encoding="utf-8")
    assert [r["run"] for r in seed_table.load_results(tmp_path)] == [
        "densenet121-unet", "densenet121-unet-noaug", "unet"]  # the order of RUNS, the stray file left out
    target = seed_table.write_table(tmp_path)
    assert target == tmp_path / seed_table.TABLE_NAME
    assert target.read_text(encoding="utf-8").count("\n| ") == 1 + 3


def test_every_segmenter_run_gets_the_same_command_but_its_own_configuration(tmp_path):
    cmds = {r.name: seed_table.train_command(r, tmp_path / "kit", tmp_path / "split", tmp_path / r.name, 50, "",
                                             resume=False) for r in seed_table.RUNS if r.task == "segmenter"}
    budget = {tuple(c[c.index(flag) + 1] for flag in ("--size", "--batch", "--epochs", "--steps-per-epoch",
                                                      "--seed", "--lr")) for c in cmds.values()}
    assert budget == {("256", "8", str(seed_table.EPOCHS), str(50 // seed_table.EPOCHS), "0", "1e-3")}
    assert "--no-augment" in cmds["densenet121-unet-noaug"] and "--no-augment" not in cmds["densenet121-unet"]
    assert "--dropout" in cmds["densenet121-unet-dropout"] and "--dropout" not in cmds["densenet121-unet"]


def test_classifier_threshold_is_chosen_by_youden_j():
    report = _load("report")
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    p = np.array([0.1, 0.2, 0.3, 0.62, 0.58, 0.7, 0.8, 0.9])
    # 0.35 .. 0.55 catch every positive at one false alarm (J 0.75), 0.65 .. 0.7 trade the alarm for a miss (J 0.75
    # too), lower thresholds add alarms: the tie goes to the lower threshold
    assert report.choose_threshold(y, p) == pytest.approx(0.35)


@pytest.mark.slow
def test_report_scores_a_segmenter_only_bundle_by_its_max_probability(phantom_dataset_readonly, tmp_path):
    from pneumoviewer.cli import main
    from pneumoviewer.training.data import collect_examples

    report = _load("report")
    ds = phantom_dataset_readonly
    out = tmp_path / "seg"
    assert main(["train", "segmenter", "--data", str(ds.root), "--labels", str(ds.csv_path), "--out", str(out),
                 "--size", "32", "--batch", "2", "--epochs", "1", "--steps-per-epoch", "2", "--width", "4",
                 "--depth", "2", "--seed", "1", "--val-fraction", "0.3", "-q"]) == 0
    labelled = collect_examples(ds.root, ds.csv_path)
    scored = report._score(out, labelled.examples, labelled.table)
    np.testing.assert_allclose(scored.p, scored.seg_max)  # no classifier: the image score is the map's maximum
    assert len(scored.ids) == len(labelled.examples)
    figures = report._figures(scored, *report.choose_postprocess(scored))
    assert 0.0 <= figures["kaggle_mean_dice"] <= 1.0 and figures["n_images"] == len(labelled.examples)


def test_card_gets_the_table_and_the_bundle_stays_verifiable(tmp_path):
    import shutil

    from pneumoviewer.inference.bundle import read_manifest, verify_files

    bundle = tmp_path / "siim"
    shutil.copytree(Path(__file__).resolve().parents[2] / "models" / "siim", bundle)
    before = read_manifest(bundle)
    runs = {r.name: r for r in seed_table.RUNS}
    results = tmp_path / "seed"
    results.mkdir()
    (results / "unet.json").write_text(json.dumps(_result(runs["unet"], 24, 0.3)), encoding="utf-8")
    card_path = seed_table.write_card(bundle, results)
    text = card_path.read_text(encoding="utf-8")
    assert "## Seed recipe table" in text and "0.300 [0.250, 0.350]" in text
    assert "not trained here" not in text  # the old placeholder rows are gone
    after = read_manifest(bundle)
    verify_files(after)  # re-hashed: the changed card is covered
    assert after.files["MODEL_CARD.md"] != before.files["MODEL_CARD.md"]
    assert {k: v for k, v in after.files.items() if k != "MODEL_CARD.md"} == {
        k: v for k, v in before.files.items() if k != "MODEL_CARD.md"}  # models and figures untouched
    assert after.config == before.config and after.models == before.models
