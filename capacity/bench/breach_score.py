"""Scores of the breach benchmark: per method, how good its probabilities are and how they would be used.

Per method over its cases: the Brier score and ``brier_skill = 1 - Brier / climatology's Brier`` (on the same
cases: 0 is no better than the base rate per level, negative is worse), the ROC AUC (ranking whatever the
cut-off), precision and recall at :data:`DECISION` ("breach likely") and at the ``at risk`` cut-off, per level the
mean probability against the observed rate (calibration where a planner reads it), a 10-bin reliability table, and
the median first-breach time error on true positives. Adding a score is one entry in :func:`score_method`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from capacity.forecast.metrics import brier

#: A method predicts a breach when its probability reaches this ("breach likely").
DECISION = 0.5
#: Bins of the reliability table.
RELIABILITY_BINS = 10
#: The reference every skill is measured against.
REFERENCE = "climatology"


def auc(probabilities: np.ndarray, outcomes: np.ndarray) -> float | None:
    """ROC AUC: the chance a random breach gets a higher probability than a random non-breach (ties count half);
    None without both classes."""
    p = np.asarray(probabilities, dtype="float64")
    o = np.asarray(outcomes, dtype=bool)
    pos, neg = p[o], p[~o]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def precision_recall(p: np.ndarray, o: np.ndarray, cut: float) -> tuple[float | None, float | None]:
    """Precision and recall of "breach" predicted when the probability reaches ``cut``."""
    pred = p >= cut
    tp, fp, fn = int((pred & o).sum()), int((pred & ~o).sum()), int((~pred & o).sum())
    return (tp / (tp + fp) if tp + fp else None, tp / (tp + fn) if tp + fn else None)


def reliability(p: np.ndarray, o: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict[str, Any]]:
    """Equal-width probability bins: cases, mean probability and observed breach rate in each (None when empty)."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        sel = index == b
        n = int(sel.sum())
        out.append(
            {
                "bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
                "cases": n,
                "mean_probability": _r(float(p[sel].mean())) if n else None,
                "observed_rate": _r(float(o[sel].mean())) if n else None,
            }
        )
    return out


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def score_method(
    rows: Sequence[Mapping[str, Any]], method: str, levels: Sequence[float], at_risk: float
) -> dict[str, Any]:
    """Every score of one method over the cases that have its probability (see the module doc)."""
    p = np.array([c[method] for c in rows], dtype="float64")
    o = np.array([c["breached"] for c in rows], dtype=bool)
    score = brier(p.tolist(), o.tolist())
    ref = [c[REFERENCE] for c in rows if c.get(REFERENCE) is not None]
    ref_score = brier(ref, [c["breached"] for c in rows if c.get(REFERENCE) is not None]) if ref else None
    skill = None
    if ref_score is not None and len(ref) == len(rows) and ref_score > 0:
        skill = 1.0 - score / ref_score
    precision, recall = precision_recall(p, o, DECISION)
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else None
    )
    precision_r, recall_r = precision_recall(p, o, at_risk)
    errors = [
        abs(c["_timing"][method] - c["_timing"]["_truth"])
        for c in rows
        if c["breached"] and c[method] >= DECISION and c.get("_timing", {}).get(method) is not None
    ]
    per_level = {}
    for level in levels:
        sel = np.array([c["level"] == level for c in rows], dtype=bool)
        per_level[f"{level:g}"] = {
            "cases": int(sel.sum()),
            "mean_probability": _r(float(p[sel].mean())) if sel.any() else None,
            "observed_rate": _r(float(o[sel].mean())) if sel.any() else None,
        }
    return {
        "cases": len(rows),
        "positives": int(o.sum()),
        "brier": round(score, 4),
        "brier_skill": _r(skill),
        "auc": _r(auc(p, o)),
        "precision": _r(precision),
        "recall": _r(recall),
        "f1": _r(f1),
        "precision_at_risk": _r(precision_r),
        "recall_at_risk": _r(recall_r),
        "first_breach_error_hours_median": float(np.median(errors)) if errors else None,
        "levels": per_level,
        "reliability": reliability(p, o),
    }


def summarize(
    cases: Sequence[Mapping[str, Any]], methods: Sequence[str], levels: Sequence[float], at_risk: float
) -> dict[str, dict[str, Any]]:
    """Per method (in order), its scores over the cases that have its probability."""
    out = {}
    for m in methods:
        rows = [c for c in cases if c.get(m) is not None]
        if rows:
            out[m] = score_method(rows, m, levels, at_risk)
    return out


def _f(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def markdown_tables(result: Mapping[str, Any]) -> str:
    """The summary, per-level calibration, reliability and per-folder tables as Markdown."""
    conf, summary = result["config"], result["summary"]
    at_risk = conf.get("at_risk", 0.1)
    head = [
        "method", "cases", "breaches", "Brier", "skill vs climatology", "AUC",
        f"precision @{DECISION:g}", f"recall @{DECISION:g}", f"precision @{at_risk:g}", f"recall @{at_risk:g}",
        "first-breach error (h, median)",
    ]  # fmt: skip
    lines = []
    if {"fitted on", "held out"} <= set((conf.get("roles") or {}).values()):
        lines += ["All folders pooled: mixes held-out and fitted-on series; read the per-folder table.", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m, s in summary.items():
        cells = [
            m, str(s["cases"]), str(s["positives"]), _f(s["brier"]), _f(s["brier_skill"]), _f(s["auc"]),
            _f(s["precision"]), _f(s["recall"]), _f(s["precision_at_risk"]), _f(s["recall_at_risk"]),
            _f(s["first_breach_error_hours_median"], 1),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    levels = list(next(iter(summary.values()))["levels"]) if summary else []
    lines += [
        "",
        "Mean probability / observed breach rate, per threshold level (x the last 28 days' maximum):",
        "",
    ]
    lines += ["| method | " + " | ".join(f"{lv}x" for lv in levels) + " |", "|" + "---|" * (len(levels) + 1)]
    for m, s in summary.items():
        cells = [
            f"{_f(s['levels'][lv]['mean_probability'], 2)} / {_f(s['levels'][lv]['observed_rate'], 2)}"
            for lv in levels
        ]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "Reliability (mean probability / observed rate (cases), per probability bin):", ""]
    lines += ["| bin | " + " | ".join(summary) + " |", "|" + "---|" * (len(summary) + 1)]
    for b in range(RELIABILITY_BINS):
        cells = []
        for s in summary.values():
            row = s["reliability"][b]
            cells.append(
                "-"
                if not row["cases"]
                else f"{row['mean_probability']:.2f} / {row['observed_rate']:.2f} ({row['cases']})"
            )
        lines.append(
            f"| {summary[next(iter(summary))]['reliability'][b]['bin']} | " + " | ".join(cells) + " |"
        )
    by_folder = result.get("by_folder") or {}
    roles = conf.get("roles") or {}
    if len(by_folder) > 1 or set(roles.values()) - {"shipped constants"}:
        lines += [
            "",
            "Per folder (skill against the climatology pooled over every folder, on that folder's cases; mean "
            "probability / observed rate per level; role: was the breach model fitted on the folder):",
            "",
        ]
        head = ["folder", "role", "method", "cases", "breaches", "Brier", "skill", "AUC"]
        lines += ["| " + " | ".join(head + [f"{lv}x" for lv in levels]) + " |"]
        lines += ["|" + "---|" * (len(head) + len(levels))]
        for folder, per in by_folder.items():
            for m, s in per.items():
                cells = [
                    folder, roles.get(folder, "-"), m, str(s["cases"]), str(s["positives"]), _f(s["brier"]),
                    _f(s["brier_skill"]), _f(s["auc"]),
                    *(
                        f"{_f(s['levels'][lv]['mean_probability'], 2)} / {_f(s['levels'][lv]['observed_rate'], 2)}"
                        for lv in levels
                    ),
                ]  # fmt: skip
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
