"""Generate the bundled sample fleet: hourly cpu, memory and rps for 8 services, deterministic for a seed.

Usage::

    python data/generate_fleet.py [--out data/fleet] [--seed 7] [--explain]

Writes ``OUT/history.csv`` (long format ``timestamp,service,metric,value``, UTC ISO timestamps, 2 decimals).
Only numpy and pandas; vectorized, well under a second of compute.

How the numbers are made (per service):

* ``rps`` = weekly-max daily peak at the end of the history x hour-of-day profile x day-of-week profile x organic
  growth (compound, per year) x event uplifts (shaped by hour of day) x correlated multiplicative noise.
* ``cpu`` = idle + k * rps per instance, where k is set so that one instance serving ``instance_capacity``
  requests/s sits exactly at the cpu threshold (the same numbers as ``data/fleet.toml``), plus noise.
* ``memory`` = baseline + slow growth + a sawtooth (leak between deploys, reset at each deploy) + a small cache
  term following traffic, plus noise.

Then the collection artefacts a real export has: a few gaps, duplicated rows, out-of-order rows and single-hour
outliers (kept away from event windows and from the last three weeks, so they blur nothing the demo is about).

The risk story (which series breach at Black Friday 2026) follows from growth and last year's uplift only; see
``data/README.md`` and ``--explain``, which prints the designed event peak of every series.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: History covers START .. END inclusive, hourly. END is two weeks before Black Friday 2026.
START = pd.Timestamp("2025-10-01T00:00:00Z")
END = pd.Timestamp("2026-11-13T00:00:00Z")
YEAR_HOURS = 365.25 * 24

#: Day-of-week traffic shapes (Monday first), normalized to a weekly max of 1.
WEEKLY = {
    "shop": np.array([0.92, 0.90, 0.90, 0.93, 0.97, 1.00, 0.98]),
    "b2b": np.array([1.00, 0.99, 0.99, 0.97, 0.93, 0.72, 0.70]),
    "media": np.array([0.90, 0.89, 0.90, 0.92, 0.96, 1.00, 1.00]),
}


@dataclass(frozen=True)
class ServiceModel:
    """How one service's traffic, cpu and memory are generated.

    Attributes:
        name: service name.
        rps_peak: typical weekly-max daily peak of requests/s at the end of the history.
        growth: organic traffic growth per year (0.4 = +40 % a year).
        weekly: key of :data:`WEEKLY`.
        bf_uplift: last Black Friday's peak-hour multiplier on normal traffic (the Friday).
        cm_uplift: last Cyber Monday's peak-hour multiplier.
        instances: instance count (constant: this fleet does not autoscale, which is why it needs a planner).
        instance_capacity: requests/s one instance serves at the cpu threshold.
        cpu_idle: cpu percent at zero traffic.
        cpu_threshold: the cpu scaling threshold (percent).
        mem_start: memory percent (after a deploy) at the start of the history.
        mem_growth: memory growth in percentage points per year.
        mem_leak: memory leak in points per day between deploys (the sawtooth).
        mem_cache: points of memory added at traffic equal to the fleet capacity (caches, connections).
        deploy_days: mean days between deploys (each deploy resets the leak).
        launch_uplift: peak multiplier of the 2026-06-09 product launch (1.0 = not part of it).
        launch_step: lasting traffic level shift after the launch (1.0 = none).
        sale_uplift: peak multiplier of the 2026-07-14..16 summer sale.
    """

    name: str
    rps_peak: float
    growth: float
    weekly: str
    bf_uplift: float
    cm_uplift: float
    instances: int
    instance_capacity: float
    cpu_idle: float
    cpu_threshold: float
    mem_start: float
    mem_growth: float
    mem_leak: float
    mem_cache: float
    deploy_days: float
    launch_uplift: float = 1.0
    launch_step: float = 1.0
    sale_uplift: float = 1.0


SERVICES: tuple[ServiceModel, ...] = (
    ServiceModel(
        "checkout", 245, 0.40, "shop", 2.50, 2.20, 12, 40, 12, 80, 48, 6, 0.6, 6, 7, sale_uplift=1.5
    ),
    ServiceModel(
        "payments", 124, 0.30, "shop", 2.00, 2.60, 8, 30, 10, 75, 44, 4, 0.4, 5, 10, sale_uplift=1.4
    ),
    ServiceModel("cart", 262, 0.25, "shop", 2.20, 2.00, 10, 60, 10, 80, 50, 5, 0.5, 8, 7, sale_uplift=1.4),
    ServiceModel("catalog", 520, 0.20, "shop", 1.80, 1.60, 6, 150, 15, 80, 64, 7, 0.7, 8, 6, sale_uplift=1.3),
    ServiceModel("search", 408, 0.30, "shop", 1.60, 1.50, 16, 80, 8, 80, 40, 6, 0.3, 6, 5, 1.6, 1.08, 1.2),
    ServiceModel("auth", 640, 0.15, "b2b", 1.30, 1.25, 6, 400, 5, 70, 30, 3, 0.2, 4, 14),
    ServiceModel(
        "recommendations", 150, 0.35, "shop", 1.90, 1.70, 10, 50, 20, 80, 50, 15, 0.5, 36, 7, 1.7, 1.10, 1.2
    ),
    ServiceModel("cdn-edge", 7400, 0.50, "media", 1.70, 1.50, 40, 600, 5, 80, 35, 2, 0.1, 3, 21),
)

#: Past events the data carries: (name, first day, last day inclusive, key of the uplift, day weights).
#: Day weights scale the uplift's excess over 1 (Black Friday weekend fades on Saturday and Sunday).
PAST_EVENTS: tuple[tuple[str, str, str, str, tuple[float, ...]], ...] = (
    ("Black Friday", "2025-11-28", "2025-11-30", "bf", (1.0, 0.6, 0.5)),
    ("Cyber Monday", "2025-12-01", "2025-12-01", "cm", (1.0,)),
    ("Product launch", "2026-06-09", "2026-06-10", "launch", (1.0, 0.5)),
    ("Summer sale", "2026-07-14", "2026-07-16", "sale", (1.0, 0.8, 0.6)),
)

#: Upcoming Black Friday weekend 2026 and Cyber Monday, for --explain (the config declares them for the engine).
UPCOMING_BF = ("2026-11-27", (1.0, 0.6, 0.5))
UPCOMING_CM = "2026-11-30"


def hour_profile(hours: np.ndarray) -> np.ndarray:
    """Traffic by hour of day (UTC) for a US-centred shop: trough ~09:00 UTC, peak ~01:00 UTC; max 1."""
    angle = 2 * np.pi * (hours - 1.0) / 24.0
    raw = 1.0 + 0.55 * np.cos(angle) + 0.12 * np.cos(2 * angle + 0.6)
    grid = 2 * np.pi * (np.arange(0, 24, 0.01) - 1.0) / 24.0
    peak = (1.0 + 0.55 * np.cos(grid) + 0.12 * np.cos(2 * grid + 0.6)).max()
    return raw / peak


def uplift_shape(hours: np.ndarray) -> np.ndarray:
    """How much of an event's uplift applies at each hour: full at the busy evening hours, a third at night.

    Aligned with :func:`hour_profile`, so the event-day peak hour carries the full multiplier.
    """
    return 1.0 / 3.0 + (2.0 / 3.0) * hour_profile(hours) ** 2


def event_multiplier(ts: pd.DatetimeIndex, svc: ServiceModel) -> np.ndarray:
    """The product of every past event's uplift on ``svc``'s traffic, hour by hour."""
    uplifts = {"bf": svc.bf_uplift, "cm": svc.cm_uplift, "launch": svc.launch_uplift, "sale": svc.sale_uplift}
    days = ts.normalize()
    shape = uplift_shape(ts.hour.to_numpy(dtype=float))
    mult = np.ones(len(ts))
    for _name, first, _last, key, weights in PAST_EVENTS:
        excess = uplifts[key] - 1.0
        if excess == 0.0:
            continue
        for offset, weight in enumerate(weights):
            on_day = days == pd.Timestamp(first, tz="UTC") + pd.Timedelta(days=offset)
            mult[on_day] *= 1.0 + excess * weight * shape[on_day]
    return mult


def smooth_noise(rng: np.random.Generator, n: int, scale: float, span: int) -> np.ndarray:
    """Zero-mean noise correlated over about ``span`` hours (white noise through a moving average)."""
    white = rng.normal(0.0, 1.0, n + span)
    kernel = np.ones(span) / np.sqrt(span)
    return scale * np.convolve(white, kernel, mode="valid")[:n]


def rps_series(ts: pd.DatetimeIndex, svc: ServiceModel, rng: np.random.Generator) -> np.ndarray:
    """Requests per second for one service (before collection artefacts)."""
    hours_to_end = (ts - END).total_seconds().to_numpy() / 3600.0
    growth = (1.0 + svc.growth) ** (hours_to_end / YEAR_HOURS)
    weekly = WEEKLY[svc.weekly][ts.dayofweek.to_numpy()]
    daily = hour_profile(ts.hour.to_numpy(dtype=float))
    step = np.where(ts >= pd.Timestamp("2026-06-09", tz="UTC"), svc.launch_step, 1.0)
    noise = np.exp(smooth_noise(rng, len(ts), 0.02, 4) + rng.normal(0.0, 0.025, len(ts)))
    return svc.rps_peak * growth * weekly * daily * step * event_multiplier(ts, svc) * noise


def cpu_series(rps: np.ndarray, svc: ServiceModel, rng: np.random.Generator) -> np.ndarray:
    """CPU percent from traffic: idle + k * rps per instance, k putting ``instance_capacity`` at the threshold."""
    k = (svc.cpu_threshold - svc.cpu_idle) / svc.instance_capacity
    cpu = svc.cpu_idle + k * rps / svc.instances + rng.normal(0.0, 1.2, len(rps))
    return np.clip(cpu, 0.5, 100.0)


def memory_series(
    ts: pd.DatetimeIndex, rps: np.ndarray, svc: ServiceModel, rng: np.random.Generator
) -> np.ndarray:
    """Memory percent: slow growth, a leak reset at each deploy (sawtooth), a cache term following traffic."""
    n = len(ts)
    hours = np.arange(n, dtype=float)
    # Deploys at 15:00 UTC every ~deploy_days (jittered): the leak restarts from zero after each.
    gaps = np.maximum(1, np.round(rng.normal(svc.deploy_days, svc.deploy_days / 4, n // 24 + 2))).astype(int)
    deploy_days = np.cumsum(gaps)
    deploy_days = deploy_days[deploy_days * 24 < n]
    deploy_hours = deploy_days * 24 + 15
    marks = np.zeros(n, dtype=bool)
    marks[deploy_hours[deploy_hours < n]] = True
    last = np.maximum.accumulate(np.where(marks, hours, 0.0))
    since = (hours - last) / 24.0
    years = hours / YEAR_HOURS
    capacity = svc.instances * svc.instance_capacity
    mem = (
        svc.mem_start
        + svc.mem_growth * years
        + svc.mem_leak * since
        + svc.mem_cache * rps / capacity
        + smooth_noise(rng, n, 0.25, 6)
        + rng.normal(0.0, 0.3, n)
    )
    return np.clip(mem, 1.0, 100.0)


def _protected(ts: pd.DatetimeIndex) -> np.ndarray:
    """Hours where no gap or outlier may fall: around every past event, and the last three weeks."""
    keep = np.zeros(len(ts), dtype=bool)
    for _name, first, last, _key, _weights in PAST_EVENTS:
        lo = pd.Timestamp(first, tz="UTC") - pd.Timedelta(days=3)
        hi = pd.Timestamp(last, tz="UTC") + pd.Timedelta(days=4)
        keep |= (ts >= lo) & (ts < hi)
    keep |= ts >= END - pd.Timedelta(days=21)
    return np.asarray(keep)


def _pick(rng: np.random.Generator, allowed: np.ndarray, count: int) -> np.ndarray:
    return np.sort(rng.choice(np.flatnonzero(allowed), size=count, replace=False))


def generate(seed: int = 7) -> pd.DataFrame:
    """The whole fleet as a long frame ``timestamp, service, metric, value`` in file order (artefacts included).

    ``timestamp`` is the ISO text written to the CSV; values are rounded to 2 decimals.
    """
    ts = pd.date_range(START, END, freq="h")
    n = len(ts)
    protected = _protected(ts)
    stamps = np.asarray(ts.strftime("%Y-%m-%dT%H:%M:%SZ"), dtype=object)
    root = np.random.SeedSequence(seed)
    fleet_rng = np.random.default_rng(root.spawn(1)[0])
    # One fleet-wide collection outage (the metrics pipeline was down for 5 hours).
    outage = _pick(fleet_rng, ~protected, 1)[0]
    fleet_gap = (np.arange(n) >= outage) & (np.arange(n) < outage + 5)
    parts = []
    for index, svc in enumerate(SERVICES):
        rng = np.random.default_rng([seed, index])
        rps = rps_series(ts, svc, rng)
        series = {"cpu": cpu_series(rps, svc, rng), "memory": memory_series(ts, rps, svc, rng), "rps": rps}
        # Service-level gaps (an agent down): 3 windows of 2..18 hours, all metrics of the service at once.
        present = ~fleet_gap
        for start in _pick(rng, ~protected, 3):
            present[start : start + int(rng.integers(2, 19))] = False
        for metric, values in series.items():
            values = values.copy()
            spikes = _pick(rng, ~protected, 3)
            if metric == "rps":
                values[spikes] *= rng.uniform(2.0, 3.5, len(spikes))
            else:
                values[spikes] = np.minimum(100.0, values[spikes] + rng.uniform(20.0, 40.0, len(spikes)))
            parts.append(
                pd.DataFrame(
                    {
                        "hour": np.flatnonzero(present),
                        "timestamp": stamps[present],
                        "service": svc.name,
                        "metric": metric,
                        "value": np.round(values[present], 2),
                    }
                )
            )
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.sort_values(["hour", "service", "metric"], kind="stable").reset_index(drop=True)
    return _collection_artefacts(frame, fleet_rng, protected).drop(columns="hour")


def _collection_artefacts(
    frame: pd.DataFrame, rng: np.random.Generator, protected: np.ndarray
) -> pd.DataFrame:
    """Duplicate some rows (exact re-sends) and deliver some late (out of order), as a real export does."""
    eligible = ~protected[frame["hour"].to_numpy()]
    rows = np.flatnonzero(eligible)
    dup = np.sort(rng.choice(rows, size=len(frame) // 500, replace=False))
    late = np.sort(rng.choice(np.setdiff1d(rows, dup), size=len(frame) // 1000, replace=False))
    # Each row gets a position key; a duplicate sits right after its original, a late row ~2..30 hours later.
    position = np.arange(len(frame), dtype=float)
    per_hour = len(SERVICES) * 3
    position[late] += rng.integers(2 * per_hour, 30 * per_hour, len(late)) + 0.5
    copies = frame.iloc[dup].assign(_pos=position[dup] + 0.25)
    out = pd.concat([frame.assign(_pos=position), copies], ignore_index=True)
    return out.sort_values("_pos", kind="stable").drop(columns="_pos").reset_index(drop=True)


def write_history(frame: pd.DataFrame, out_dir: Path) -> Path:
    """Write the long frame to ``out_dir/history.csv`` (created if missing); returns the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "history.csv"
    frame.to_csv(path, index=False, float_format="%.2f", lineterminator="\n")
    return path


def designed_peaks() -> pd.DataFrame:
    """The noiseless event peak of each series at Black Friday weekend 2026 and Cyber Monday 2026.

    Computed from the model parameters alone (growth to the event and last year's uplift), to document the
    designed risk story; the data carries the same numbers plus noise.
    """
    rows = []
    for svc in SERVICES:
        capacity = svc.instances * svc.instance_capacity
        k = (svc.cpu_threshold - svc.cpu_idle) / svc.instance_capacity
        peak_rps = 0.0
        for day, uplift in _upcoming_days(svc):
            growth = (1.0 + svc.growth) ** ((day - END).total_seconds() / 3600.0 / YEAR_HOURS)
            weekly = WEEKLY[svc.weekly][day.dayofweek]
            peak_rps = max(peak_rps, svc.rps_peak * growth * weekly * svc.launch_step * uplift)
        years = (pd.Timestamp(UPCOMING_CM, tz="UTC") - START).total_seconds() / 3600.0 / YEAR_HOURS
        mem_base = svc.mem_start + svc.mem_growth * years + svc.mem_cache * peak_rps / capacity
        rows.append(
            {
                "service": svc.name,
                "rps_peak": round(peak_rps, 1),
                "rps_threshold": capacity,
                "cpu_peak": round(svc.cpu_idle + k * peak_rps / svc.instances, 1),
                "cpu_threshold": svc.cpu_threshold,
                "mem_after_deploy": round(mem_base, 1),
                "mem_before_deploy": round(mem_base + svc.mem_leak * svc.deploy_days, 1),
            }
        )
    return pd.DataFrame(rows)


def _upcoming_days(svc: ServiceModel) -> list[tuple[pd.Timestamp, float]]:
    first = pd.Timestamp(UPCOMING_BF[0], tz="UTC")
    days = [
        (first + pd.Timedelta(days=i), 1.0 + (svc.bf_uplift - 1.0) * w) for i, w in enumerate(UPCOMING_BF[1])
    ]
    days.append((pd.Timestamp(UPCOMING_CM, tz="UTC"), svc.cm_uplift))
    return days


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "fleet")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print the designed event peaks and exit")
    args = parser.parse_args(argv)
    if args.explain:
        print(designed_peaks().to_string(index=False))
        return 0
    started = time.perf_counter()
    frame = generate(args.seed)
    path = write_history(frame, args.out)
    took = time.perf_counter() - started
    print(f"wrote {len(frame):,} rows ({path.stat().st_size / 1e6:.1f} MB) to {path} in {took:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
