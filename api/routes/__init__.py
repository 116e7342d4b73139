"""The blueprints, one per resource, all mounted under ``/api/v1``."""

from __future__ import annotations

from api.routes import events, forecasts, jobs, risks, samples, series, tokens

BLUEPRINTS = [series.bp, samples.bp, forecasts.bp, risks.bp, events.bp, jobs.bp, tokens.bp]
