"""Chart titles fit the figure: long service, metric, event and model names wrap onto more lines instead of being
cut at the figure's edges."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.font_manager import FontProperties

from capacity.report.plots import fit_title

SERVICE = "payments-authorization-gateway-eu-west-1-primary-cluster-blu"
METRIC = "http_server_requests_seconds_p99_by_route_and_status_code_xx"
MODEL = "ensemble(mstl_ets+seasonal_naive_weekly+seasonal_median_weekly+harmonic+seasonal_median_daily)"


@pytest.mark.parametrize(
    ("title", "size", "share"),
    [
        (f"{SERVICE} / {METRIC}: forecast from 2026-11-13 00:00 UTC ({MODEL})", 12, 0.96),
        (f"{SERVICE} / {METRIC}: weekly max peaks, plan from 2021-08-02", 11, 0.9),
        ("a" * 128 + " / " + "b" * 128, 12, 0.96),
    ],
)
def test_every_line_of_a_long_title_fits_and_nothing_is_lost(title: str, size: float, share: float) -> None:
    fig = plt.figure(figsize=(10, 4.8))
    try:
        fitted = fit_title(fig, title, size, share)
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        font = FontProperties(size=size)
        lines = fitted.split("\n")
        assert len(lines) >= 2
        for line in lines:
            assert (
                renderer.get_text_width_height_descent(line, font, ismath=False)[0] <= fig.bbox.width * share
            )
        assert "".join(lines).replace(" ", "") == title.replace(" ", "")
    finally:
        plt.close(fig)


def test_a_short_title_is_one_line() -> None:
    fig = plt.figure(figsize=(12, 7.5))
    try:
        assert fit_title(fig, "checkout / cpu: forecast from 2026-11-13 00:00 UTC (harmonic)", 12) == (
            "checkout / cpu: forecast from 2026-11-13 00:00 UTC (harmonic)"
        )
    finally:
        plt.close(fig)
