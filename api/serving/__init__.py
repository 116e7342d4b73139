"""Running the API as a server: gunicorn (:mod:`~api.serving.server`), the background job worker
(:mod:`~api.serving.worker`) and request metrics (:mod:`~api.serving.metrics`)."""
