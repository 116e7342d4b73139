"""The readiness report as HTML, Markdown and JSON (:mod:`~capacity.report.render`) and its charts
(:mod:`~capacity.report.plots`). Pure: takes frames and bytes, returns text and PNG bytes."""
