"""Dataset and model-QA statistics of one folder: what `pneumoviewer report` draws and the dataset dashboard shows.

Computed in one pass over the folder index plus three store queries, with no mask decoded (areas and Dice come
from the RLE runs), so a 12,000-image folder takes about a second; `iter_dataset_stats` is a generator whose every
yield is progress and a cancel point, for a background thread.

Labels. An image's *reviewer label* is its final mask (positive when non-empty) when it is accepted, corrected or
marked negative, or when its final mask came from an imported CSV and has not been touched since (a truth file is
a reviewer's label too; the count of those is reported apart). Flagged and unreviewed images have no label. The
*AI label* is ``probability >= threshold`` (the engine gates the segmenter at the classifier threshold).

Disagreement (the worklist filter "AI and reviewer disagree most"): over labelled images with an AI result, the
larger of the classification miss ``|label - probability|`` and the mask miss ``1 - Dice(AI, reviewer)``.

Nothing here names a patient: ImageMeta holds no names or IDs, and `patient_key` is never read.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pneumoviewer.charts import BLUE, GREEN, GREY, ORANGE, RED, ChartSpec, Colour, Series
from pneumoviewer.core.types import ImageMeta, ModelInfo, ReviewStatus
from pneumoviewer.io import rle
from pneumoviewer.metrics import binary_report, roc_auc, roc_curve
from pneumoviewer.review.store import REVIEWED, ReviewStore

__all__ = [
    "LABELS",
    "DatasetStats",
    "StatsCancelled",
    "StoreRow",
    "dataset_stats",
    "iter_dataset_stats",
    "read_store_rows",
]

LABELS = ("positive", "negative", "unlabelled")
SEXES = ("M", "F", "other", "unknown")
VIEWS = ("PA", "AP", "other", "unknown")
STATUS_ORDER = (*(s.value for s in ReviewStatus if s is not ReviewStatus.UNREVIEWED), "unreviewed")
AGE_EDGES = np.arange(0, 101, 10, dtype=np.float64)  # the last bin takes every age >= 90
PROB_EDGES = np.linspace(0.0, 1.0, 21)
DICE_EDGES = np.linspace(0.0, 1.0, 11)
#: Mask area as a percentage of the image; SIIM masks span 0.01 % to ~30 %, so the bins widen geometrically.
AREA_EDGES_PCT = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, math.inf)
MAX_SIZES = 8  # image-size bars; the rest are summed into "other"
NO_REVIEWS = "no reviews yet"

LABEL_COLOURS: dict[str, Colour] = {"positive": ORANGE, "negative": BLUE, "unlabelled": GREY}
STATUS_COLOURS: dict[str, Colour] = {
    "accepted": GREEN, "corrected": ORANGE, "negative": BLUE, "flagged": RED, "unreviewed": GREY,
}


class StatsCancelled(Exception):
    """The computation was cancelled through `dataset_stats(cancel=...)`."""


@dataclass(frozen=True)
class StoreRow:
    """What the statistics need of one image's review state (RLE strings, never decoded masks)."""

    status: ReviewStatus
    ai_probability: float | None
    ai_model: ModelInfo | None
    ai_rle: str | None
    final_rle: str | None
    final_from_import: bool


def read_store_rows(store: ReviewStore | None) -> dict[str, StoreRow]:
    """Every image's review state in three queries; an empty dict without a store.

    The one place the statistics read the store: when the store grows a bulk reader, only this changes.
    """
    if store is None:
        return {}
    records = store.records()
    finals = {e.image_id: e.final_rle for e in store.final_entries()}
    ais = {e.image_id: e.final_rle for e in store.final_entries(layer="original")}
    return {
        image_id: StoreRow(
            status=rec.status,
            ai_probability=rec.ai_probability,
            ai_model=rec.ai_model,
            ai_rle=ais.get(image_id),
            final_rle=finals.get(image_id),
            final_from_import=rec.final_from_import,
        )
        for image_id, rec in records.items()
    }


def _runs(text: str) -> tuple[np.ndarray, np.ndarray]:
    starts, lengths = rle.parse(text)
    return starts, starts + lengths


def _overlap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> int:
    """Pixels covered by both run lists (each sorted and disjoint, as `rle.encode` writes them)."""
    if not a[0].size or not b[0].size:
        return 0
    points = np.concatenate([a[0], a[1], b[0], b[1]])
    ones = np.ones(a[0].size + b[0].size, dtype=np.int64)
    delta = np.concatenate([ones[: a[0].size], -ones[: a[0].size], ones[a[0].size:], -ones[a[0].size:]])
    order = np.argsort(points, kind="stable")
    depth = np.cumsum(delta[order])
    return int(np.diff(points[order])[depth[:-1] == 2].sum())


def _code(value: str | None, known: tuple[str, ...]) -> int:
    """Index into SEXES/VIEWS: the value itself, 'other', or 'unknown' (the last two entries)."""
    if value is None or value == "":
        return len(known) - 1
    v = value.upper()
    return known.index(v) if v in known[:-2] else len(known) - 2


def _sex_code(sex: str | None) -> int:
    return _code("other" if sex == "O" else sex, SEXES)


@dataclass(frozen=True)
class DatasetStats:
    """Per-image facts of one folder (arrays in folder-index order) and the figures drawn from them."""

    image_ids: tuple[str, ...]
    label: np.ndarray  # int8: 1 positive, 0 negative, -1 no reviewer label
    label_imported: np.ndarray  # bool: the label comes from an imported CSV, not a review
    status: tuple[str, ...]  # ReviewStatus values
    ai_probability: np.ndarray  # float64, NaN without an AI result
    sex: np.ndarray  # int8 index into SEXES
    view: np.ndarray  # int8 index into VIEWS
    age: np.ndarray  # float64 years, NaN when unknown
    rows: np.ndarray  # int64
    columns: np.ndarray  # int64
    final_area_pct: np.ndarray  # float64, reviewer mask area in % of the image, NaN without a final mask
    ai_area_pct: np.ndarray  # float64, AI mask area in %, NaN without an AI mask
    dice: np.ndarray  # float64 Dice(AI, final), NaN unless the image has both
    threshold: float
    has_store: bool
    models: tuple[str, ...]  # "name version" of the models whose results are stored, most frequent first

    # ------------------------------------------------------------------ the numbers

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    def ai_label(self) -> np.ndarray:
        """int8: 1 when probability >= threshold, 0 below, -1 without an AI result."""
        p = self.ai_probability
        out = np.full(p.shape, -1, dtype=np.int8)
        ok = np.isfinite(p)
        out[ok] = (p[ok] >= self.threshold).astype(np.int8)
        return out

    @property
    def n_labelled(self) -> int:
        return int(np.count_nonzero(self.label >= 0))

    def _label_masks(self) -> dict[str, np.ndarray]:
        return {"positive": self.label == 1, "negative": self.label == 0, "unlabelled": self.label < 0}

    def class_balance(self) -> dict[str, dict[str, int]]:
        """Reviewer labels and AI labels at the threshold: {"reviewer"|"ai": {positive, negative, none}}."""
        ai = self.ai_label
        return {
            "reviewer": {"positive": int(np.sum(self.label == 1)), "negative": int(np.sum(self.label == 0)),
                         "none": int(np.sum(self.label < 0))},
            "ai": {"positive": int(np.sum(ai == 1)), "negative": int(np.sum(ai == 0)), "none": int(np.sum(ai < 0))},
        }

    def _by_label(self, codes: np.ndarray, names: tuple[str, ...]) -> dict[str, dict[str, int]]:
        out = {}
        for label, sel in self._label_masks().items():
            counts = np.bincount(codes[sel].astype(np.int64), minlength=len(names))
            out[label] = {name: int(c) for name, c in zip(names, counts)}
        return out

    def sex_by_label(self) -> dict[str, dict[str, int]]:
        """{label: {M, F, other, unknown}}."""
        return self._by_label(self.sex, SEXES)

    def view_by_label(self) -> dict[str, dict[str, int]]:
        """{label: {PA, AP, other, unknown}} (other: LL, lateral, ...)."""
        return self._by_label(self.view, VIEWS)

    def age_histogram(self) -> dict[str, Any]:
        """Counts per 10-year bin and label (ages >= 90 in the last bin), and how many images lack an age."""
        ages = np.clip(self.age, AGE_EDGES[0], AGE_EDGES[-1])
        known = np.isfinite(ages)
        counts = {label: np.histogram(ages[sel & known], AGE_EDGES)[0].astype(int).tolist()
                  for label, sel in self._label_masks().items()}
        return {"edges": AGE_EDGES.tolist(), "counts": counts, "unknown": int(np.count_nonzero(~known))}

    def image_sizes(self) -> dict[str, int]:
        """"columns x rows" → images, most frequent first (the rest beyond MAX_SIZES summed as "other")."""
        counts = Counter(f"{c}x{r}" for c, r in zip(self.columns.tolist(), self.rows.tolist())).most_common()
        out = dict(counts[:MAX_SIZES])
        rest = sum(n for _, n in counts[MAX_SIZES:])
        if rest:
            out["other"] = rest
        return out

    def mask_area_histogram(self) -> dict[str, Any]:
        """Non-empty mask areas (% of the image) per AREA_EDGES_PCT bin: reviewer masks of positives, AI masks."""
        edges = np.asarray(AREA_EDGES_PCT)

        def hist(values: np.ndarray) -> list[int]:
            v = values[np.isfinite(values) & (values > 0)]
            return np.histogram(np.minimum(v, 100.0), np.r_[edges[:-1], 100.0 + 1e-9])[0].astype(int).tolist()

        final = np.where(self.label == 1, self.final_area_pct, np.nan)
        return {"edges_pct": [e if math.isfinite(e) else None for e in AREA_EDGES_PCT],
                "reviewer": hist(final), "ai": hist(self.ai_area_pct)}

    def _scored(self) -> np.ndarray:
        return (self.label >= 0) & np.isfinite(self.ai_probability)

    def roc(self) -> dict[str, Any] | None:
        """ROC of the AI probability against reviewer labels (None unless both classes are labelled and scored)."""
        sel = self._scored()
        y, s = self.label[sel] == 1, self.ai_probability[sel]
        n_pos, n_neg = int(y.sum()), int((~y).sum())
        if not n_pos or not n_neg:
            return None
        fpr, tpr = roc_curve(y, s)
        report = binary_report(y, s, self.threshold)
        return {"auc": roc_auc(y, s), "n_pos": n_pos, "n_neg": n_neg, "fpr": fpr.tolist(), "tpr": tpr.tolist(),
                "at_threshold": report}

    def probability_histogram(self) -> dict[str, Any]:
        """AI probabilities of labelled positives and negatives per PROB_EDGES bin (counts)."""
        sel = self._scored()
        y, s = self.label[sel] == 1, self.ai_probability[sel]
        return {"edges": PROB_EDGES.tolist(), "positive": np.histogram(s[y], PROB_EDGES)[0].astype(int).tolist(),
                "negative": np.histogram(s[~y], PROB_EDGES)[0].astype(int).tolist()}

    def dice_by_status(self) -> dict[str, dict[str, Any]]:
        """Dice(AI, reviewer) of images with both masks, per status: {status: {n, mean, counts per DICE_EDGES}}."""
        ok = np.isfinite(self.dice)
        status = np.asarray(self.status, dtype=object)
        out = {}
        for name in STATUS_ORDER:
            values = self.dice[ok & (status == name)]
            if values.size:
                out[name] = {"n": int(values.size), "mean": float(values.mean()),
                             "counts": np.histogram(values, DICE_EDGES)[0].astype(int).tolist()}
        return out

    def disagreement_scores(self) -> np.ndarray:
        """Per image: max(|label - probability|, 1 - Dice) over what is known; NaN unless labelled with an AI
        result."""
        cls = np.where(self._scored(), np.abs(self.label - self.ai_probability), np.nan)
        seg = np.where((self.label >= 0) & np.isfinite(self.dice), 1.0 - self.dice, np.nan)
        both = np.stack([cls, seg])
        out = np.full(self.n_images, np.nan)
        any_known = np.isfinite(both).any(axis=0)
        out[any_known] = np.nanmax(both[:, any_known], axis=0)
        return out

    def disagree_most(self, limit: int | None = None) -> list[tuple[str, float]]:
        """(image id, score) where AI and reviewer disagree most, highest score first (ties in folder order):
        the order of the worklist filter "AI and reviewer disagree most"."""
        scores = self.disagreement_scores()
        idx = np.flatnonzero(np.isfinite(scores))
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        if limit is not None:
            idx = idx[:limit]
        return [(self.image_ids[i], float(scores[i])) for i in idx]

    def to_dict(self, top: int = 20) -> dict[str, Any]:
        """JSON-ready numbers of every figure (NaN → None), plus the `top` worst disagreements."""
        ai = self.ai_label
        roc = self.roc()
        if roc is not None:
            roc = {k: v for k, v in roc.items() if k not in ("fpr", "tpr")}
        return _json_safe({
            "images": self.n_images,
            "has_store": self.has_store,
            "threshold": self.threshold,
            "models": list(self.models),
            "labelled": self.n_labelled,
            "labels_imported": int(np.count_nonzero(self.label_imported & (self.label >= 0))),
            "ai_results": int(np.count_nonzero(ai >= 0)),
            "class_balance": self.class_balance(),
            "sex_by_label": self.sex_by_label(),
            "age_by_label": self.age_histogram(),
            "view_by_label": self.view_by_label(),
            "image_sizes": self.image_sizes(),
            "mask_area_pct": self.mask_area_histogram(),
            "roc": roc,
            "probability_histogram": self.probability_histogram(),
            "dice_by_status": self.dice_by_status(),
            "disagree_most": [{"image_id": i, "score": s} for i, s in self.disagree_most(top)],
        })

    # ------------------------------------------------------------------ the figures

    def figures(self) -> list[ChartSpec]:
        """The dataset figures, then the model-QA figures, as toolkit-neutral chart descriptions."""
        no_labels = NO_REVIEWS if self.n_labelled == 0 else None
        return [
            self._class_balance_chart(),
            self._by_label_chart("sex_by_label", "Sex by label", "patient sex", SEXES, self.sex_by_label()),
            self._age_chart(),
            self._by_label_chart("view_by_label", "View position by label", "view position", VIEWS,
                                 self.view_by_label()),
            self._sizes_chart(),
            self._area_chart(),
            self._roc_chart(no_labels),
            self._probability_chart(no_labels),
            self._dice_chart(),
        ]

    def _label_series(self, values: dict[str, list[int] | dict[str, int]]) -> tuple[Series, ...]:
        """One series per label that occurs (an all-unlabelled folder shows one grey series)."""
        out = []
        for label in LABELS:
            v = values[label]
            y = np.asarray(list(v.values()) if isinstance(v, dict) else v, dtype=np.float64)
            if y.sum() > 0:
                out.append(Series(label, y, LABEL_COLOURS[label]))
        return tuple(out)

    def _notes(self) -> tuple[str, ...]:
        return () if self.n_labelled else (NO_REVIEWS,)

    def _class_balance_chart(self) -> ChartSpec:
        cb = self.class_balance()
        series = []
        if self.n_labelled:
            series.append(Series("reviewer labels", np.array(list(cb["reviewer"].values()), float), ORANGE))
        if cb["ai"]["none"] < self.n_images:
            series.append(Series(f"AI at p >= {self.threshold:g}", np.array(list(cb["ai"].values()), float), BLUE))
        return ChartSpec("class_balance", "Class balance", "bars", "label (none: not reviewed / no AI result)",
                         "images", tuple(series), categories=("positive", "negative", "none"),
                         message=None if series else NO_REVIEWS, notes=self._notes())

    def _by_label_chart(self, key: str, title: str, xlabel: str, names: tuple[str, ...],
                        values: dict[str, dict[str, int]]) -> ChartSpec:
        series = self._label_series(values)
        return ChartSpec(key, title, "bars", xlabel, "images", series, categories=names,
                         message=None if series else "no images", notes=self._notes())

    def _age_chart(self) -> ChartSpec:
        hist = self.age_histogram()
        series = self._label_series(hist["counts"])
        notes = (*self._notes(), f"{hist['unknown']} without age") if hist["unknown"] else self._notes()
        return ChartSpec("age_by_label", "Age by label", "hist", "age (years; last bin 90+)", "images", series,
                         edges=AGE_EDGES, message=None if series else "no ages", notes=notes)

    def _sizes_chart(self) -> ChartSpec:
        sizes = self.image_sizes()
        series = (Series("images", np.array(list(sizes.values()), float), BLUE),) if sizes else ()
        return ChartSpec("image_sizes", "Image sizes", "bars", "columns x rows", "images", series,
                         categories=tuple(sizes), message=None if sizes else "no images")

    def _area_chart(self) -> ChartSpec:
        hist = self.mask_area_histogram()
        edges = AREA_EDGES_PCT
        cats = tuple(f"{edges[i]:g}-{edges[i + 1]:g}" if math.isfinite(edges[i + 1]) else f">{edges[i]:g}"
                     for i in range(len(edges) - 1))
        series = tuple(Series(name, np.array(hist[key], float), colour)
                       for key, name, colour in (("reviewer", "reviewer masks", ORANGE), ("ai", "AI masks", BLUE))
                       if sum(hist[key]))
        return ChartSpec("mask_area", "Mask area (non-empty masks)", "bars", "% of the image", "masks", series,
                         categories=cats, message=None if series else "no masks yet")

    def _roc_chart(self, no_labels: str | None) -> ChartSpec:
        roc = self.roc()
        title = "ROC against reviewer labels"
        if roc is None:
            message = no_labels or ("no AI results yet" if not self._scored().any()
                                    else "needs positive and negative labels")
            return ChartSpec("roc", title, "lines", "false positive rate", "true positive rate", message=message)
        rep = roc["at_threshold"]
        fp_rate = 1.0 - rep["specificity"]
        series = (
            Series("chance", np.array([0.0, 1.0]), GREY, x=np.array([0.0, 1.0]), style="dashed"),
            Series(f"AI (AUC = {roc['auc']:.3f})", np.asarray(roc["tpr"]), BLUE, x=np.asarray(roc["fpr"])),
            Series(f"p >= {self.threshold:g}: sens {rep['sensitivity']:.2f}, spec {rep['specificity']:.2f}",
                   np.array([rep["sensitivity"]]), RED, x=np.array([fp_rate]), style="points"),
        )
        return ChartSpec("roc", title, "lines", "false positive rate (1 - specificity)",
                         "true positive rate (sensitivity)", series, xlim=(0.0, 1.0), ylim=(0.0, 1.0), legend="lr",
                         notes=(f"{roc['n_pos']} positive / {roc['n_neg']} negative labels",))

    def _probability_chart(self, no_labels: str | None) -> ChartSpec:
        hist = self.probability_histogram()
        series = tuple(Series(f"{label} labels", np.array(hist[label], float), LABEL_COLOURS[label])
                       for label in ("negative", "positive") if sum(hist[label]))
        message = None if series else (no_labels or "no AI results yet")
        return ChartSpec("probability_histogram", "AI probability by reviewer label", "hist", "AI probability",
                         "images", series, edges=PROB_EDGES, message=message,
                         vlines=((self.threshold, f"threshold {self.threshold:g}", RED),))

    def _dice_chart(self) -> ChartSpec:
        by_status = self.dice_by_status()
        series = tuple(Series(f"{name} (n={v['n']}, mean {v['mean']:.2f})", np.array(v["counts"], float),
                              STATUS_COLOURS[name]) for name, v in by_status.items())
        message = None if series else ("no AI masks yet" if self.has_store else NO_REVIEWS)
        return ChartSpec("dice_by_status", "Dice of AI vs reviewer mask, by status", "hist", "Dice", "images",
                         series, edges=DICE_EDGES, message=message, legend="ul")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


Progress = tuple[int, int]


def iter_dataset_stats(
    metas: list[ImageMeta], store: ReviewStore | None, threshold: float, *, step: int = 500
) -> Generator[Progress, None, DatasetStats]:
    """Compute the statistics of `metas` (a folder index's images: ``[i.meta for i in index.images]``) with the
    review state in `store` (None: no reviews yet). Images the store knows but the folder no longer holds are left
    out.

    Yields (done, total) after reading the store and every `step` images: each yield is a progress report and a
    place to stop (close the generator). The result is the generator's return value (``StopIteration.value``).
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be within [0, 1], got {threshold!r}")
    n = len(metas)
    store_rows = read_store_rows(store)
    yield 0, n
    label = np.full(n, -1, dtype=np.int8)
    imported = np.zeros(n, dtype=bool)
    prob = np.full(n, np.nan)
    sex = np.empty(n, dtype=np.int8)
    view = np.empty(n, dtype=np.int8)
    age = np.full(n, np.nan)
    rows = np.empty(n, dtype=np.int64)
    cols = np.empty(n, dtype=np.int64)
    final_area = np.full(n, np.nan)
    ai_area = np.full(n, np.nan)
    dice = np.full(n, np.nan)
    status: list[str] = []
    models: Counter[str] = Counter()
    unreviewed = ReviewStatus.UNREVIEWED.value
    for i, meta in enumerate(metas):
        sex[i] = _sex_code(meta.patient_sex)
        view[i] = _code(meta.view_position, VIEWS)
        if meta.patient_age is not None:
            age[i] = meta.patient_age
        rows[i], cols[i] = meta.rows, meta.columns
        row = store_rows.get(meta.image_id)
        if row is None:
            status.append(unreviewed)
        else:
            status.append(row.status.value)
            pixels = max(meta.rows * meta.columns, 1)
            final = _runs(row.final_rle) if row.final_rle is not None else None
            ai = _runs(row.ai_rle) if row.ai_rle is not None else None
            if final is not None:
                final_area[i] = 100.0 * int((final[1] - final[0]).sum()) / pixels
                from_import = row.status is ReviewStatus.UNREVIEWED and row.final_from_import
                if row.status in REVIEWED or from_import:
                    label[i] = 1 if final[0].size else 0
                    imported[i] = from_import
            if ai is not None:
                a = int((ai[1] - ai[0]).sum())
                ai_area[i] = 100.0 * a / pixels
                if final is not None:
                    f = int((final[1] - final[0]).sum())
                    both = 2 * (a if row.ai_rle == row.final_rle else _overlap(ai, final))
                    dice[i] = 1.0 if a + f == 0 else both / (a + f)
            if row.ai_probability is not None:
                prob[i] = row.ai_probability
            if row.ai_model is not None:
                models[f"{row.ai_model.name} {row.ai_model.version}"] += 1
        if (i + 1) % step == 0:
            yield i + 1, n
    yield n, n
    return DatasetStats(
        image_ids=tuple(m.image_id for m in metas), label=label, label_imported=imported, status=tuple(status),
        ai_probability=prob, sex=sex, view=view, age=age, rows=rows, columns=cols, final_area_pct=final_area,
        ai_area_pct=ai_area, dice=dice, threshold=float(threshold), has_store=store is not None,
        models=tuple(name for name, _ in models.most_common()),
    )


def dataset_stats(
    metas: list[ImageMeta],
    store: ReviewStore | None,
    threshold: float,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> DatasetStats:
    """`iter_dataset_stats` run to the end: `progress(done, total)` at each step; raises `StatsCancelled` as soon
    as `cancel()` returns True."""
    steps = iter_dataset_stats(metas, store, threshold)
    try:
        while True:
            done, total = next(steps)
            if cancel is not None and cancel():
                steps.close()
                raise StatsCancelled(f"dataset statistics cancelled after {done} of {total} images")
            if progress is not None:
                progress(done, total)
    except StopIteration as stop:
        return stop.value
