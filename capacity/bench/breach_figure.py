"""The breach benchmark's reliability diagram: per method, the observed breach rate against the stated probability.

A well-calibrated method lies on the diagonal: of the cases it gave about 30%, about 30% breached. Points are the
non-empty bins of :func:`capacity.bench.breach_score.reliability`, their size growing with the number of cases;
a second panel shows how many cases each method put in each bin (sharpness: a method that always says the base
rate is calibrated but useless). :func:`reliability_figure` returns PNG bytes; writing them is the caller's job.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display, no GUI toolkit, the same output everywhere

import matplotlib.pyplot as plt


def reliability_figure(result: Mapping[str, Any]) -> bytes:
    """The reliability diagram of every method as PNG bytes: over the held-out folders' cases when the result has
    them (``result["held_out"]``: a diagram mixing in the series the model was fitted on would flatter it), else
    over every case (``result["summary"]``)."""
    held_out = result.get("held_out")
    summary = held_out or result["summary"]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7.0, 8.0), gridspec_kw={"height_ratios": [3, 1]}, sharex=True, constrained_layout=True
    )
    top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfectly calibrated")
    width = 0.8 / max(1, len(summary)) / 10
    for i, (method, s) in enumerate(summary.items()):
        rows = [r for r in s["reliability"] if r["cases"]]
        x = [r["mean_probability"] for r in rows]
        y = [r["observed_rate"] for r in rows]
        sizes = [12 + 4 * r["cases"] ** 0.5 for r in rows]
        skill = s.get("brier_skill")
        label = f"{method} (skill {skill:.2f})" if isinstance(skill, float) else method
        (line,) = top.plot(x, y, marker="o", linewidth=1.2, markersize=0, label=label)
        top.scatter(x, y, s=sizes, color=line.get_color(), zorder=3)
        centers = [(b + 0.5) / 10 - 0.04 + (i + 0.5) * width for b in range(10)]
        bottom.bar(centers, [r["cases"] for r in s["reliability"]], width=width, color=line.get_color())
    roles = result.get("config", {}).get("roles") or {}
    data = (
        [f for f, role in roles.items() if role == "held out"]
        if held_out
        else result.get("config", {}).get("data")
    )
    where = ", ".join(data) if isinstance(data, list) else str(data or "")
    where = f"held out {where}" if held_out else where
    top.set_title(f"Breach probability reliability: {where}", fontsize=10)
    top.set_ylabel("observed breach rate")
    top.set_xlim(-0.02, 1.02)
    top.set_ylim(-0.02, 1.02)
    top.grid(alpha=0.3)
    top.legend(fontsize=8, loc="upper left")
    bottom.set_xlabel("stated probability (bin mean)")
    bottom.set_ylabel("cases")
    bottom.grid(alpha=0.3)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out.getvalue()
