"""Test data: the repository root, the shared real data, and a seeded hourly history with known cycles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


SHARED_DATA = ROOT.parent / "shared" / "data"


def hourly_history(service: str = "svc", metric: str = "cpu", days: int = 21, seed: int = 0) -> pd.DataFrame:
    """A seeded hourly history with daily and weekly cycles (canonical columns)."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=days * 24, freq="h", tz="UTC")
    hour = ts.hour.to_numpy()
    dow = ts.dayofweek.to_numpy()
    value = 40 + 15 * np.sin(2 * np.pi * (hour - 6) / 24) - 5 * (dow >= 5) + rng.normal(0, 1.5, len(ts))
    return pd.DataFrame({"service": service, "metric": metric, "ts": ts, "value": np.clip(value, 0, 100)})
