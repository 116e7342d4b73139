"""Fuzzers: Hypothesis on ingest (validate_history + store round trip) and forecast_series; schemathesis on the API.

- Ingest: arbitrary frames (any text as names, timestamps as numbers, text or datetimes far in the past or future,
  values including NaN, infinities and text) either fail validation with a ``CapacityError`` or store and read
  back exactly, per series, at the store's one-second resolution (sub-second stamps are floored; the last sample
  of a second wins).
- Forecast: arbitrary finite series (any length, gaps, magnitudes up to 1e300, constant runs) either raise a
  ``CapacityError`` or give finite quantiles that never decrease with the level.
- schemathesis: ``st run --checks all`` against the live server's OpenAPI document with an example budget per
  operation and a response-time limit, with the cross-field rules the document cannot state loaded as hooks
  (:mod:`capacity.bench.reliability.st_hooks`).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from capacity.errors import CapacityError
from capacity.forecast.pipeline import forecast_series
from capacity.forecast.types import ForecastSpec
from capacity.schema import METRIC, SERVICE, TS, VALUE, quantile_column, validate_history
from capacity.store import Store
from capacity.testing.net import tool
from capacity.testing.serve import ROOT


@dataclass
class FuzzResult:
    """How many examples a fuzzer ran and what failed."""

    name: str
    cases: int = 0
    failures: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: int = 0


def _hypothesis_settings(examples: int) -> object:
    from hypothesis import HealthCheck, Phase, settings  # deferred: optional (the dev extra)

    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        print_blob=False,
    )


def fuzz_ingest(db: Path, examples: int) -> FuzzResult:
    """validate_history + store round trip on arbitrary frames; returns the examples run and failures."""
    from hypothesis import given  # deferred: optional (the dev extra)
    from hypothesis import strategies as st  # deferred: optional (the dev extra)

    result = FuzzResult("fuzz: ingest (validate + store round trip)")
    store = Store.open(db)
    names = st.one_of(
        st.sampled_from(["svc", "checkout", "api-gw", "db.primary", "cpu", "mem:rss"]),
        st.text(min_size=0, max_size=140),
    )
    stamps = st.one_of(
        st.datetimes(
            min_value=pd.Timestamp("1900-01-01").to_pydatetime(),
            max_value=pd.Timestamp("2200-01-01").to_pydatetime(),
        ),
        st.integers(min_value=-(2**40), max_value=2**40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
        st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00+05:30", "2026-01-01", "yesterday"]),
    )
    values = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**20), 10**20), st.text(max_size=8)
    )
    rows = st.lists(st.tuples(stamps, values), min_size=0, max_size=30)
    counter = iter(range(10**9))

    @given(service=names, metric=names, data=rows)
    def check(service: str, metric: str, data: list[tuple[object, object]]) -> None:
        n = next(counter)
        result.cases += 1
        frame = pd.DataFrame(
            {
                SERVICE: [service] * len(data),
                METRIC: [metric] * len(data),
                TS: [t for t, _ in data],
                VALUE: [v for _, v in data],
            },
            dtype=object,
        )
        try:
            clean = validate_history(frame, source="fuzz")
        except CapacityError:
            return
        if clean.empty:
            return
        # The validated frame is the contract: UTC timestamps in range, finite floats, valid names.
        assert str(clean[TS].dt.tz) == "UTC", clean[TS].dtype
        assert np.isfinite(clean[VALUE].to_numpy(dtype="float64")).all()
        svc = f"fz{n}"  # a fresh series per example; the names themselves were checked by validation
        stored_frame = clean.assign(**{SERVICE: svc})
        store.series.ingest(stored_frame)
        for (_s, m), part in stored_frame.groupby([SERVICE, METRIC], sort=False):
            # The store keeps whole seconds: sub-second stamps are floored, and the last sample of a second wins.
            last = part.drop_duplicates(TS, keep="last")
            last = last.assign(**{TS: last[TS].dt.floor("s")}).drop_duplicates(TS, keep="last")
            want = last.set_index(TS)[VALUE].sort_index()
            got = store.series.load_history(svc, str(m))
            assert list(got.index) == list(want.index), (list(got.index)[:3], list(want.index)[:3])
            assert np.allclose(got.to_numpy(), want.to_numpy(), rtol=0, atol=0), (got.head(), want.head())

    try:
        _hypothesis_settings(examples)(check)()  # type: ignore[operator]
    except Exception as exc:
        result.failures += 1
        result.problems.append(f"{type(exc).__name__}: {str(exc)[:600]}")
    finally:
        store.close()
    return result


def fuzz_forecast(examples: int) -> FuzzResult:
    """forecast_series on arbitrary finite series: CapacityError or finite, monotone quantiles."""
    from hypothesis import given  # deferred: optional (the dev extra)
    from hypothesis import strategies as st  # deferred: optional (the dev extra)

    result = FuzzResult("fuzz: forecast_series (finite series)")
    finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)

    @given(
        values=st.lists(finite, min_size=0, max_size=24 * 10),
        gaps=st.lists(st.integers(1, 30), min_size=0, max_size=5),
        constant=st.booleans(),
        horizon=st.integers(1, 48),
        step_minutes=st.sampled_from([60, 60, 30, 15, 1440]),
    )
    def check(values: list[float], gaps: list[int], constant: bool, horizon: int, step_minutes: int) -> None:
        result.cases += 1
        data = [values[0]] * len(values) if constant and values else values
        steps = np.arange(len(data), dtype="int64")
        for i, gap in enumerate(gaps):  # holes in the history
            steps[(i + 1) * len(data) // (len(gaps) + 1) :] += gap
        ts = pd.Timestamp("2025-06-01", tz="UTC") + pd.to_timedelta(steps * step_minutes, unit="m")
        series = pd.Series(np.asarray(data, dtype="float64"), index=pd.DatetimeIndex(ts))
        spec = ForecastSpec(horizon=horizon, n_paths=50)
        try:
            fc = forecast_series(series, spec)
        except CapacityError:
            return
        cols = [quantile_column(q) for q in sorted(spec.quantiles)]
        grid = fc.frame[cols].to_numpy(dtype="float64")
        assert len(fc.frame) == horizon, len(fc.frame)
        assert np.isfinite(grid).all(), f"non-finite quantiles from {fc.model}"
        assert np.isfinite(fc.frame["mean"].to_numpy(dtype="float64")).all(), (
            f"non-finite mean from {fc.model}"
        )
        assert (np.diff(grid, axis=1) >= -1e-9 * (1 + np.abs(grid[:, :-1]))).all(), (
            f"quantiles cross ({fc.model})"
        )

    with warnings.catch_warnings(record=True) as caught:
        # numpy overflow warnings on values near 1e300 are expected; what matters is the result, checked above.
        warnings.simplefilter("always", RuntimeWarning)
        try:
            _hypothesis_settings(examples)(check)()  # type: ignore[operator]
        except Exception as exc:
            result.failures += 1
            result.problems.append(f"{type(exc).__name__}: {str(exc)[:600]}")
    result.warnings = len(caught)
    return result


#: The ``--max-response-time`` of the schemathesis run, in seconds.
MAX_RESPONSE_TIME_S = 30


def run_schemathesis(
    url: str, token: str, examples: int, workdir: Path, timeout_s: float = 900
) -> FuzzResult:
    """``st run`` against ``url``'s OpenAPI document; cases counted from its summary."""
    result = FuzzResult("schemathesis (live server)")
    report = workdir / "schemathesis.xml"
    cmd = [
        tool("st"),
        "run",
        f"{url}/openapi.json",
        "-H",
        f"Authorization: Bearer {token}",
        "--exclude-path",
        "/api/v1/tokens/{token_id}",  # revoking tokens at random would revoke the run's own token
        "--checks",
        "all",
        # Every response within this many seconds (ST112): generous, since the machine is shared and a fresh
        # forecast may take the whole forecast budget; a hung route still fails it.
        "--max-response-time",
        str(MAX_RESPONSE_TIME_S),
        # The coverage phase crashes inside schemathesis 4 on this Python (an AST recursion-depth mismatch in
        # hypothesis' lambda-source lookup: a "Runtime Error", not a finding about the API); the others run.
        "--phases",
        "examples,fuzzing,stateful",
        "--max-examples",
        str(examples),
        "--seed",
        "7",
        "--generation-database",
        "none",
        "--workers",
        "2",
        "--request-timeout",
        "60",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=workdir, env=_env())
    except subprocess.TimeoutExpired:
        result.failures += 1
        result.problems.append(f"schemathesis did not finish in {timeout_s:.0f} s")
        return result
    out = proc.stdout + proc.stderr
    (workdir / "schemathesis.log").write_text(out)
    summary = out.split("Test cases:")[-1] if "Test cases:" in out else ""
    generated = re.search(r"(\d+)\s+generated", summary)
    failed = re.search(r"(\d+)\s+found\s+(\d+)\s+unique failures|(\d+)\s+failed", summary)
    result.cases = int(generated.group(1)) if generated else 0
    if proc.returncode != 0 or failed:
        result.failures += 1 if not failed else int(next(g for g in failed.groups() if g))
        tail = out[-1500:].replace(token, "***")
        result.problems.append(
            f"schemathesis exit {proc.returncode} after {time.monotonic() - started:.0f} s: {tail}"
        )
    if result.cases == 0:
        result.failures += 1
        result.problems.append("schemathesis reported no generated cases")
    return result


def _env() -> dict[str, str]:
    """The run's environment: the repository importable, and the cross-field rules loaded as hooks."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "capacity.bench.reliability.st_hooks",
    }
