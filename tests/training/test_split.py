"""Patient-level split and the positive-rate schedule (pure numpy)."""

from __future__ import annotations

import hashlib

import pytest

from pneumoviewer.training.split import patient_split, positive_rate_schedule


def _data(n_patients=60, per=3):
    ids, patient, positive = [], {}, {}
    for p in range(n_patients):
        for k in range(1 + p % per):
            iid = f"img{p}-{k}"
            ids.append(iid)
            patient[iid] = f"pat{p}"
            positive[iid] = p % 4 == 0
    return ids, patient, positive


def test_no_patient_on_both_sides_and_all_images_used():
    ids, patient, positive = _data()
    s = patient_split(ids, patient, positive, val_fraction=0.25, seed=3)
    train_p = {patient[i] for i in s.train}
    val_p = {patient[i] for i in s.val}
    assert not train_p & val_p
    assert sorted(s.train + s.val) == sorted(ids)
    assert 0.15 < len(s.val) / len(ids) < 0.35
    assert s.n_patients_train + s.n_patients_val == 60


def test_split_is_seeded_and_stratified():
    ids, patient, positive = _data()
    a = patient_split(ids, patient, positive, 0.25, seed=1)
    assert a == patient_split(ids, patient, positive, 0.25, seed=1)
    assert a.val != patient_split(ids, patient, positive, 0.25, seed=2).val
    assert any(positive[i] for i in a.val) and any(not positive[i] for i in a.val)


def test_missing_patient_key_means_own_patient_and_zero_fraction():
    ids = [f"i{k}" for k in range(10)]
    s = patient_split(ids, {}, {i: k < 5 for k, i in enumerate(ids)}, 0.2, seed=0)
    assert len(s.val) == 2 and s.n_patients_val == 2
    s0 = patient_split(ids, {}, {}, 0.0)
    assert s0.val == () and len(s0.train) == 10
    with pytest.raises(ValueError):
        patient_split(ids, {}, {}, 1.0)


def test_positive_rate_schedule_values():
    rates = [positive_rate_schedule(e, 5, 0.2) for e in range(5)]
    assert rates == pytest.approx([0.8, 0.65, 0.5, 0.35, 0.2])
    assert positive_rate_schedule(10, 5, 0.2) == pytest.approx(0.2)  # clamps after the last epoch
    assert positive_rate_schedule(0, 1, 0.3) == pytest.approx(0.3)
    assert positive_rate_schedule(0, 4, 0.9) == pytest.approx(0.9)  # never below the dataset's own rate


def test_split_does_not_depend_on_the_salted_key_values():
    """Every worker of a multi-node run salts patient keys its own way; all must draw the same split."""
    ids = [f"1.2.{k}" for k in range(30)]
    patient = {i: f"p{k // 2}" for k, i in enumerate(ids)}  # two images per patient
    positive = {i: k % 3 == 0 for k, i in enumerate(ids)}
    salted = {i: hashlib.sha256(b"other salt" + p.encode()).hexdigest()[:20] for i, p in patient.items()}
    a = patient_split(ids, patient, positive, 0.3, seed=4)
    b = patient_split(ids, salted, positive, 0.3, seed=4)
    assert a == b and a.val
