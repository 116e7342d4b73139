"""Running the API as a server: gunicorn (:mod:`~api.serving.server`), the directory its worker processes share
(:mod:`~api.serving.shared_dir`), the background job worker (:mod:`~api.serving.worker`) and request metrics
(:mod:`~api.serving.metrics`)."""
