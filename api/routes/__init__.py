"""The blueprints, one per resource, all mounted under ``/api/v1``."""

from __future__ import annotations

from api.routes import (
    charts,
    events,
    forecasts,
    jobs,
    loadtests,
    plans,
    reports,
    risks,
    samples,
    series,
    tokens,
)

BLUEPRINTS = [
    series.bp,
    samples.bp,
    forecasts.bp,
    charts.bp,
    risks.bp,
    events.bp,
    reports.bp,
    plans.bp,
    loadtests.bp,
    jobs.bp,
    tokens.bp,
]
