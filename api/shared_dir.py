"""State the worker processes of one ``capacity serve`` share: a private directory the server creates and removes.

gunicorn forks several worker processes, and anything a worker keeps in memory is seen by that worker alone. What
must hold across the whole server lives in one temporary directory instead, created by the master before it forks
(workers inherit its name through the environment) and removed when the master exits (or, after a SIGKILL, by the next ``capacity serve`` on the machine):

- ``metrics/``: prometheus_client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``), one set per worker process,
  added up by whichever worker answers ``/metrics`` (:mod:`api.serving.metrics`);
- ``auth-failures-<limit>``: the failed-authentication table behind the 429 limit (:mod:`api.http.ratelimit`), named
  with the limit it was sized for;
- ``answers/<cache>/``: answers computed once for every worker (event reports, forecast charts), one file per key
  and version (:class:`capacity.services.versioned.VersionedCache`).

Without the variable (one process: the Flask test client, a plain WSGI server) that state stays in memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

#: Names the server's shared directory for its workers.
RUNTIME_ENV = "CAPACITY_SERVE_RUNTIME_DIR"
#: prometheus_client reads its multiprocess directory from this variable (it must be set before it is imported).
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Shared directories are named ``capacity-serve-<master pid>-<random>`` in the system temporary directory.
PREFIX = "capacity-serve-"


def shared_dir(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """The running server's shared directory, or None outside ``capacity serve``."""
    value = (os.environ if environ is None else environ).get(RUNTIME_ENV)
    return Path(value) if value else None


def metrics_dir(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """The prometheus_client multiprocess directory, or None when metrics are kept per process."""
    value = (os.environ if environ is None else environ).get(METRICS_ENV)
    return Path(value) if value else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_abandoned(tmp: Path | None = None) -> list[Path]:
    """Remove the shared directories of servers that died without cleaning up (SIGKILL); returns those removed.

    A directory is abandoned when no process has the master pid in its name, or when that pid is this process's
    own: a process that is about to create its server's directory has none yet, so a directory with its pid was
    left by an earlier process that had the same pid (in a container the server is often pid 1 every time). Any
    other reused pid only keeps a stale directory a while longer. A path that cannot be removed (a symbolic link,
    which is never followed) is left and not returned.
    """
    removed = []
    for path in Path(tmp or tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = path.name[len(PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not path.is_dir():
            continue
        if int(pid) == os.getpid() or not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.lexists(path):
                removed.append(path)
    return removed


@contextmanager
def server_runtime(environ: MutableMapping[str, str] | None = None) -> Iterator[Path]:
    """Create the shared directory, name it in ``environ`` for the workers to inherit, and remove it on exit.

    Only the process that created the directory removes it: gunicorn's forked workers unwind through the same
    stack when they exit, and must not delete what the others still use.

    Args:
        environ: the environment to set (default ``os.environ``, which forked workers inherit).

    Yields:
        The directory (mode 0700, under the system temporary directory).
    """
    env = os.environ if environ is None else environ
    saved = {name: env.get(name) for name in (RUNTIME_ENV, METRICS_ENV)}
    owner = os.getpid()
    remove_abandoned()
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{owner}-"))
    (root / "metrics").mkdir()
    env[RUNTIME_ENV] = str(root)
    env[METRICS_ENV] = str(root / "metrics")
    try:
        yield root
    finally:
        if os.getpid() == owner:
            shutil.rmtree(root, ignore_errors=True)
            for name, value in saved.items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value
