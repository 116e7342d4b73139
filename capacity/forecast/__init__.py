"""The forecasting engine: one series in, a forecast with calibrated intervals and sample paths out.

Pure (no files, database, clock or environment). The modules, from the front door down:
:mod:`~capacity.forecast.pipeline` (``forecast_series``), :mod:`~capacity.forecast.types` (``ForecastSpec``,
``ForecastResult``), :mod:`~capacity.forecast.regularize`, :mod:`~capacity.forecast.backtest`,
:mod:`~capacity.forecast.choose`, :mod:`~capacity.forecast.intervals`, :mod:`~capacity.forecast.metrics` and the
model registry :mod:`capacity.forecast.models`.
"""
