"""Model selection: the single model or the mean ensemble of the best few with the lowest backtest MASE.

:func:`choose` ranks the candidates of a :class:`~capacity.forecast.backtest.Backtest` by MASE and considers the
mean of the best two, three, ... up to :data:`MAX_MEMBERS`; near ties go to the larger ensemble, the safer bet out
of sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from capacity.forecast.backtest import Backtest, score

#: How many of the best single models an ensemble may average.
MAX_MEMBERS = 5


@dataclass(frozen=True)
class Choice:
    """The chosen model or ensemble.

    Attributes:
        name: ``model`` or ``ensemble(a+b)``.
        members: the single models averaged (one for a single model).
        scores: backtest scores of the choice.
        candidates: backtest scores of every single model and ensemble considered.
    """

    name: str
    members: tuple[str, ...]
    scores: Mapping[str, float]
    candidates: Mapping[str, Mapping[str, float]]


def ensemble_name(members: Sequence[str]) -> str:
    """The recorded name of a mean ensemble, e.g. ``ensemble(harmonic+theta)``."""
    return members[0] if len(members) == 1 else f"ensemble({'+'.join(members)})"


def choose(bt: Backtest, max_members: int = MAX_MEMBERS) -> Choice:
    """Pick the single model or mean ensemble of the best few with the lowest backtest MASE.

    Raises:
        ValueError: when no model succeeded in the backtest.
    """
    if not bt.forecasts:
        raise ValueError("no model produced a backtest forecast")
    singles = {name: score(bt, f) for name, f in bt.forecasts.items()}
    ranked = sorted(singles, key=lambda name: (singles[name]["mase"], name))
    candidates: dict[str, dict[str, float]] = dict(singles)
    options: dict[str, tuple[str, ...]] = {name: (name,) for name in ranked}
    for k in range(2, min(max_members, len(ranked)) + 1):
        members = tuple(ranked[:k])
        name = ensemble_name(members)
        candidates[name] = score(bt, combine(bt, members))
        options[name] = members
    # ties (and near ties) go to the larger ensemble: averaging is the safer bet out of sample
    best = min(
        options, key=lambda name: (candidates[name]["mase"] * (1.0 - 0.02 * (len(options[name]) - 1)), name)
    )
    return Choice(name=best, members=options[best], scores=candidates[best], candidates=candidates)


def combine(bt: Backtest, members: Sequence[str]) -> np.ndarray:
    """The mean of the members' backtest forecasts."""
    return np.mean([bt.forecasts[m] for m in members], axis=0)
