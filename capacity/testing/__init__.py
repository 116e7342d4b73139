"""What the tests and the benchmarks share: a running ``capacity serve`` (:mod:`~capacity.testing.serve`), a
throwaway PostgreSQL (:mod:`~capacity.testing.postgres`), a real Prometheus scraping a target
(:mod:`~capacity.testing.prometheus`), a steady threaded read load (:mod:`~capacity.testing.load`) and loopback
helpers (:mod:`~capacity.testing.net`).
One copy of each. Only the load-test runner borrows :func:`~capacity.testing.net.free_port` (for Locust's master
port); nothing else outside the tests and the benchmarks imports this package."""
