"""The fault-injection harness behind ``capacity bench reliability``: a kill loop (:mod:`~.kill`), concurrent load on
SQLite and PostgreSQL (:mod:`~.load`), fuzzers (:mod:`~.fuzz`), hostile requests (:mod:`~.hostile`) and token
limits (:mod:`~.tokens`), run together by :mod:`~.run`."""
