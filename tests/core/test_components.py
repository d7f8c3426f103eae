"""core.components: the one component labelling (editing, inference and the CSV export share it)."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.core.components import label_components, remove_small_components, run_components
from pneumoviewer.io import rle


def _rows_from_runs(mask: np.ndarray) -> list[str]:
    starts, lengths = rle.parse(rle.encode(mask))
    return [rle.runs_to_string(s, n) for s, n in run_components(starts, lengths, mask.shape[0])]


@pytest.mark.parametrize("seed", range(6))
def test_run_components_match_labelling_the_decoded_mask(seed):
    rng = np.random.default_rng(seed)
    for _ in range(300):
        h, w = int(rng.integers(1, 14)), int(rng.integers(1, 14))
        mask = rng.random((h, w)) < rng.random()
        assert _rows_from_runs(mask) == rle.encode_instances(mask), mask.astype(int)


def test_a_run_wrapping_into_the_next_column_is_two_components():
    mask = np.zeros((4, 3), bool)
    mask[3, 0] = mask[0, 1] = True  # adjacent in column-major order, not in the image
    assert len(_rows_from_runs(mask)) == 2 == len(rle.encode_instances(mask))
    mask[2, 1] = True
    mask[3, 1] = True  # now a diagonal neighbour of (3, 0)
    assert _rows_from_runs(mask) == rle.encode_instances(mask)


def test_label_and_filter():
    m = np.zeros((10, 10), bool)
    m[0:2, 0:2] = True
    m[5:9, 5:9] = True
    m[3, 3] = True  # touches nothing: 8-connectivity still keeps it apart
    _, sizes = label_components(m)
    assert sorted(sizes[1:].tolist()) == [1, 4, 16]
    assert remove_small_components(m, 5).sum() == 16
    assert remove_small_components(m, 1).sum() == 21
    assert run_components(np.empty(0, np.int64), np.empty(0, np.int64), 10) == []
