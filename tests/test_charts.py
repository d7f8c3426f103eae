"""pneumoviewer.charts: chart descriptions are validated, bars sit side by side, count axes tick in whole numbers."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.charts import BLUE, ORANGE, ChartSpec, Series, _count_ticks, render_chart


def test_spec_validation_and_bar_geometry() -> None:
    with pytest.raises(ValueError, match="2 values for 3 bars"):
        ChartSpec("x", "X", "bars", "", "", (Series("a", np.array([1.0, 2.0]), BLUE),), categories=("p", "q", "r"))
    with pytest.raises(ValueError, match="kind"):
        ChartSpec("x", "X", "pie", "", "")
    spec = ChartSpec("x", "X", "bars", "", "", (Series("a", np.array([1.0, 2.0]), BLUE),
                                                Series("b", np.array([3.0, 0.0]), ORANGE)), categories=("p", "q"))
    (left_a, w_a), (left_b, w_b) = spec.bar_geometry()
    assert w_a == w_b == pytest.approx(0.4)
    assert left_a.tolist() == pytest.approx([-0.4, 0.6]) and left_b.tolist() == pytest.approx([0.0, 1.0])
    assert spec.limits() == ((-0.6, 1.6), (0.0, pytest.approx(3.9)))  # symmetric margins; headroom for a legend
    img = np.asarray(render_chart(spec, (300, 200)).convert("RGB")).reshape(-1, 3)
    assert np.abs(img.astype(int) - BLUE).sum(axis=1).min() < 30  # the bars are drawn in their colour


def test_count_ticks_are_whole_numbers() -> None:
    assert _count_ticks((0.0, 2.6)) == [0.0, 1.0, 2.0]
    assert all(float(t).is_integer() for t in _count_ticks((0.0, 14.3)))
    assert _count_ticks((0.0, 100.0))[-1] == 100.0
