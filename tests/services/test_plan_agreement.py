"""A plan agrees with itself and with the risk table: the same calendar week gets the same peaks whichever window
was asked for, and a plan and a risk run over the same weeks state one peak and one probability.

The history is hourly, ends at 00:00 (one hour of its last day, as a PJM export does) and is stored with the
``mean`` aggregation: the plan must still work on whole days of hourly peaks, as the risk run does.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from capacity.forecast.types import ForecastSpec
from capacity.services.fleet_risk import load_fleet_risks
from capacity.services.forecasting import forecast_stored
from capacity.services.plans import PlanOutcome, PlanRequest, make_plans
from capacity.store import Store
from tests.support.yearly import hourly_series, store_series

END = pd.Timestamp("2023-05-13 00:00", tz="UTC")  # the last sample: one hour of 2023-05-13
QUARTER_START = pd.Timestamp(
    "2023-07-01", tz="UTC"
)  # 49 days after 2023-05-13: its weeks line up with the others


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    full = hourly_series(2.5, seed=3)
    out = Store.open(str(tmp_path_factory.mktemp("agree") / "plan.db"))
    store_series(out, full[full.index <= END], "grid", "rps", threshold=140.0, agg="mean")
    return out


def _plan(store: Store, request: PlanRequest) -> PlanOutcome:
    (outcome,) = make_plans(store, request, save=False)
    assert outcome.plan is not None, outcome.error
    return outcome


def test_a_week_gets_the_same_peaks_whichever_window_asked_for_it(store: Store) -> None:
    # 12 and 13 weeks are made to the engine's 13-week reach; 26 weeks and next quarter to its 26-week reach
    weeks12 = _plan(store, PlanRequest(weeks=12)).plan
    weeks13 = _plan(store, PlanRequest(weeks=13)).plan
    weeks26 = _plan(store, PlanRequest(weeks=26)).plan
    quarter = _plan(store, PlanRequest(quarter="2023Q3")).plan
    assert weeks12 and weeks13 and weeks26 and quarter
    # the history's last, partial day is in the first week, not skipped
    assert weeks13.weeks[0].start == weeks26.weeks[0].start == END.normalize()
    assert quarter.weeks[0].start == QUARTER_START and quarter.weeks[-1].days == 1  # cut at the quarter's end
    pairs = [(w, weeks13.weeks[j]) for j, w in enumerate(weeks12.weeks)]
    by_start = {w.start: w for w in weeks26.weeks}
    pairs += [(w, by_start[w.start]) for w in quarter.weeks if w.start in by_start and w.days == 7]
    assert len(pairs) == 12 + 13  # the quarter's 13 whole weeks are inside the 26 weeks
    for week, same in pairs:
        assert week.start == same.start
        assert week.p50 == pytest.approx(same.p50, rel=1e-9), week.start
        assert week.p90 == pytest.approx(same.p90, rel=1e-9), week.start
        assert week.p90 - week.p50 > 0.0
        assert week.crossing == pytest.approx(same.crossing, abs=1e-12), week.start
    # across the two reaches a week is close, not identical (each is chosen and calibrated by its own backtest)
    for week in weeks13.weeks:
        assert week.p90 == pytest.approx(by_start[week.start].p90, rel=0.05)


def test_a_plan_and_a_risk_run_state_one_peak_and_one_probability(store: Store) -> None:
    outcome = _plan(store, PlanRequest(weeks=26))
    plan = outcome.plan
    assert plan is not None
    # planned on hourly peaks although the series' own aggregation is the mean, and the plan says so
    assert outcome.agg == "max" and outcome.basis == "daily max of hourly means"
    # to the end of the plan's last day: 182 days from 00:00 of the partial day, less its hour of history
    (forecast,) = forecast_stored(store, [("grid", "rps")], ForecastSpec(horizon=24 * 182 - 1))
    assert forecast.ok
    last = plan.weeks[-1]
    until = last.start + pd.Timedelta(days=last.days) - pd.Timedelta(hours=1)
    run = load_fleet_risks(store, until=until, only=[("grid", "rps")])
    (row,) = run.frame.to_dict(orient="records")
    peaks = run.forecasts[("grid", "rps")].peaks
    assert peaks is not None and peaks.starts[0] == plan.weeks[0].start
    # both forecasts of the daily peaks are made to the 26-week reach: one backtest, one calibration, one set of
    # weekly paths
    for j, week in enumerate(plan.weeks):
        assert week.p50 == pytest.approx(peaks.levels[0.5][j], rel=1e-9)
        assert week.p90 == pytest.approx(peaks.levels[0.9][j], rel=1e-9)
    assert row["peak_p50"] == pytest.approx(max(w.p50 for w in plan.weeks), rel=1e-9)
    assert last.cumulative is not None and 0.0 < last.cumulative < 1.0
    assert row["breach_probability"] == pytest.approx(last.cumulative, abs=1e-3)


def test_a_plans_days_are_the_whole_days_hourly_maxima(store: Store, tmp_path: Path) -> None:
    outcome = _plan(store, PlanRequest(weeks=1))
    assert outcome.recent is not None and len(outcome.recent)
    values = store.series.load_history("grid", "rps")
    hourly = values.resample("1h").mean()
    whole = hourly[hourly.index < END.normalize()]
    daily_max = whole.groupby(whole.index.normalize()).max()
    # the chart's recent weekly peaks: 7-day blocks ending on the last whole day, of the daily maxima
    assert outcome.recent.iloc[-1] == pytest.approx(daily_max.iloc[-7:].max(), rel=1e-6)
    assert outcome.recent.index[-1] == END.normalize() - pd.Timedelta(days=7)
