"""Breach risk: the probability that a forecast crosses its threshold in a window, when it first does, the headroom
and the capacity to add (:mod:`~capacity.risk.assess`), the fitted breach probability model
(:mod:`~capacity.risk.probability`) and the crossing arithmetic behind it (:mod:`~capacity.risk.crossing`).
Pure: no I/O."""
