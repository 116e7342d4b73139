"""Many series at once: a series as a task (:mod:`~capacity.batch.task`) and where tasks run
(:mod:`~capacity.batch.runners`: this process, a local process pool, or Dask).

Kept light on purpose: a pool worker imports this package before it pins BLAS/OpenMP to one thread, so nothing
here imports numpy at module level.
"""
