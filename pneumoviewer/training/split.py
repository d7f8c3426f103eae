"""Pure-numpy pieces of the training pipeline: patient-level split and the positive-rate schedule.

Kept free of TensorFlow so they are cheap to test and to reason about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    train: tuple[str, ...]
    val: tuple[str, ...]
    n_patients_train: int
    n_patients_val: int


def patient_split(
    image_ids: Sequence[str],
    patient_of: Mapping[str, str | None],
    positive: Mapping[str, bool],
    val_fraction: float = 0.2,
    seed: int = 0,
) -> Split:
    """Split images into train/validation so no patient is in both; seeded, stratified by patient positivity.

    The split depends on the ImageIds and the grouping only, never on the key values (salted per installation).
    Images without a patient key count as their own patient. Patients with any positive image are split apart from
    all-negative patients so both sides keep roughly the dataset's positive rate.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups: dict[str, list[str]] = {}
    for iid in image_ids:
        key = patient_of.get(iid) or f"image:{iid}"
        groups.setdefault(key, []).append(iid)
    rng = np.random.default_rng(seed)
    val_keys: set[str] = set()
    for want_pos in (True, False):
        # ordered by each patient's first ImageId, not by the key: patient keys are salted per installation, and
        # every worker of a multi-node run (each with its own salt) must draw the same split
        keys = sorted((k for k, ids in groups.items() if any(positive.get(i, False) for i in ids) == want_pos),
                      key=lambda k: min(groups[k]))
        if not keys or val_fraction == 0.0:
            continue
        order = [keys[i] for i in rng.permutation(len(keys))]
        n_images = sum(len(groups[k]) for k in keys)
        target = val_fraction * n_images
        taken = 0
        for k in order:
            if taken >= target or len(val_keys & set(keys)) >= len(keys) - 1:
                break
            val_keys.add(k)
            taken += len(groups[k])
    train = tuple(i for i in image_ids if (patient_of.get(i) or f"image:{i}") not in val_keys)
    val = tuple(i for i in image_ids if (patient_of.get(i) or f"image:{i}") in val_keys)
    return Split(train=train, val=val, n_patients_train=len(groups) - len(val_keys), n_patients_val=len(val_keys))


def positive_rate_schedule(epoch: int, epochs: int, base_rate: float, start_rate: float = 0.8) -> float:
    """Share of positive images to sample in ``epoch`` (0-based): linear from ``start_rate`` to ``base_rate``.

    Early epochs see mostly positives (the model learns what a pneumothorax looks like), the last epoch sees the
    dataset's own rate (so the classifier's probabilities are calibrated to it). Never below ``base_rate``'s floor.
    """
    base = float(np.clip(base_rate, 0.0, 1.0))
    start = max(float(start_rate), base)
    if epochs <= 1:
        return base
    t = min(max(epoch, 0), epochs - 1) / (epochs - 1)
    return float(start + (base - start) * t)
