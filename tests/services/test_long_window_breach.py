"""Over a long window, the risk table's breach probability agrees with the peaks it shows and with the plan.

A planner reads a month-or-more window's peak p50/p90 from the risk table and the week a threshold is likely crossed
from ``capacity plan``. Both are read from the same calibrated weekly peaks, so the probability must be too: a
threshold just under the peak p90 is crossed with about 10 % or more, one just under the peak p50 with about half
or more, and the probability over the plan's weeks is the plan's cumulative crossing probability, to the path. Real
SQLite, through the services the CLI and the API call.
"""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from capacity.forecast.types import ForecastSpec
from capacity.services.fleet_risk import load_fleet_risks
from capacity.services.forecasting import forecast_stored
from capacity.services.plans import PlanRequest, make_plans
from capacity.store import Store
from tests.support.yearly import daily_series, hourly_cpu, store_series

#: Sampling slack of a share of 1000 weekly paths against the calibrated quantiles they follow.
TOLERANCE = 0.03
WEEKS = 13


def stored(tmp_path, step: str) -> tuple[Store, str]:  # type: ignore[no-untyped-def]
    """A series stored with its 13-week forecast (daily peaks, or hourly CPU) and a threshold far above it."""
    store = Store.open(str(tmp_path / f"{step}.db"))
    if step == "1D":
        store_series(store, daily_series(3.0, seed=5, noise=4.0), metric="rps", threshold=500.0, agg="max")
        key, spec = ("grid", "rps"), ForecastSpec(horizon=7 * WEEKS, freq="1D", n_paths=100)
    else:
        store_series(store, hourly_cpu(2.2, seed=3), threshold=99.0, agg="max")
        key, spec = ("grid", "cpu"), ForecastSpec(horizon=24 * 7 * WEEKS, n_paths=100)
    (outcome,) = forecast_stored(store, [key], spec)
    assert outcome.ok, outcome
    return store, key[1]


@pytest.mark.parametrize("step", ["1D", "1h"])
def test_a_long_windows_probability_follows_its_peaks_and_equals_the_plans(tmp_path, step: str) -> None:  # type: ignore[no-untyped-def]
    store, metric = stored(tmp_path, step)
    first = load_fleet_risks(store).frame.iloc[0]
    p50, p90, p95 = (float(first[c]) for c in ("peak_p50", "peak_p90", "peak_p95"))
    assert first["window_end"] - first["window_start"] >= pd.Timedelta(days=28)
    assert p50 < p90 < p95
    cases = {
        "just under p50": 0.999 * p50,
        "between p50 and p90": 0.5 * (p50 + p90),
        "just under p90": 0.999 * p90,
        "just over p95": 1.001 * p95,
        "far above": 1.5 * p95,
    }
    probability = {}
    for name, threshold in cases.items():
        store.series.update_series("grid", metric, threshold=threshold)
        row = load_fleet_risks(store).frame.iloc[0]
        (outcome,) = make_plans(store, PlanRequest(weeks=WEEKS), save=False)
        assert outcome.plan is not None, outcome.error
        plan = outcome.plan
        p = float(row["breach_probability"])
        probability[name] = p
        # the same weeks, the same paths: the plan's cumulative crossing probability, exactly
        assert len(plan.weeks) == WEEKS
        assert p == pytest.approx(plan.weeks[-1].cumulative, abs=1e-12), name
        # and the risk table's first likely breach falls in the plan's first likely week
        if plan.first_crossing is not None:
            assert plan.first_crossing <= row["first_breach"] < plan.first_crossing + pd.Timedelta(days=7)
        else:
            assert pd.isna(row["first_breach"])
    assert probability["just under p50"] >= 0.5 - TOLERANCE
    assert probability["just under p90"] >= 0.1 - TOLERANCE
    # approximately: the window's maximum over several weeks can push it a little past one half
    assert 0.1 - TOLERANCE <= probability["between p50 and p90"] <= 0.5 + 2 * TOLERANCE
    assert probability["far above"] <= TOLERANCE
    ordered = [probability[n] for n in cases]
    assert all(a >= b for a, b in itertools.pairwise(ordered))
