"""Capacity to add: how many instances keep a window's p95 peak, with a margin, under the limit.

Pure arithmetic on a risk row's peak, kept apart from the breach probability it is shown beside.
"""

from __future__ import annotations

import math

from capacity.errors import InvalidConfig
from capacity.schema import PERCENT, unit_for


def instances_needed(
    peak: float,
    *,
    metric: str,
    threshold: float | None,
    instances: int | None,
    instance_capacity: float | None,
    margin: float,
) -> int | None:
    """How many instances keep the p95 peak (times ``1 + margin``) under the limit; None when unknowable.

    With a per-instance capacity the metric is taken as the fleet's total load (e.g. requests/s):
    ``ceil(peak * (1 + margin) / instance_capacity)``. Without one, a percent metric (cpu, memory) is the
    average utilization of ``instances`` equal instances, and load spreads evenly:
    ``ceil(instances * peak * (1 + margin) / threshold)``.

    Raises:
        InvalidConfig: on a non-positive capacity, instance count or threshold.
    """
    if instance_capacity is not None and instance_capacity <= 0:
        raise InvalidConfig(
            f"instance_capacity must be > 0, got {instance_capacity}", field="instance_capacity"
        )
    if instances is not None and instances < 1:
        raise InvalidConfig(f"instances must be >= 1, got {instances}", field="instances")
    target = max(0.0, peak) * (1.0 + margin)
    if instance_capacity is not None:
        return max(1, math.ceil(target / instance_capacity - 1e-9))
    if instances is not None and threshold is not None and unit_for(metric) == PERCENT:
        if threshold <= 0:
            raise InvalidConfig(f"threshold must be > 0, got {threshold}", field="threshold")
        return max(1, math.ceil(instances * target / threshold - 1e-9))
    return None
