"""The only place that composes the store and the engine, for the CLI and the API alike.

What both edges show is computed here once: the fleet's breach risks (:mod:`~capacity.services.fleet_risk`), the
readiness report and its charts (:mod:`~capacity.services.readiness`), who is stale and why
(:mod:`~capacity.services.staleness`), forecasting stored series (:mod:`~capacity.services.forecasting`) and
serving a fresh-or-stored forecast (:mod:`~capacity.services.serving`). The edges only parse input and render
output.
"""
