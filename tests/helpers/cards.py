"""Model cards for tests: stream precision curves with a known shape, so auto@P bands resolve predictably."""

from __future__ import annotations

from typing import Any

import numpy as np

from modsweep.schemas import POLICY_IDS


def linear_curve(offset: float = 0.0) -> dict[str, Any]:
    """A curve whose precision lower bound at threshold t is t + offset (clipped): auto@P resolves to P - offset."""
    t = np.round(np.arange(0.995, 0.0, -0.005), 4)
    lower = np.clip(t + offset, 0, 1)
    return {
        "thresholds": t.tolist(),
        "precision": lower.tolist(),
        "precision_lower": lower.tolist(),
        "recall": (1 - t).tolist(),
        "flagged": list(range(1, len(t) + 1)),
        "positives": 100,
        "rows": 1000,
    }


def linear_card(policies: list[str] | None = None, version: str = "vtest") -> dict[str, Any]:
    """A card whose every policy (or those named) has `linear_curve()`."""
    return {"version": version, "stream": {"policies": {p: linear_curve() for p in (policies or POLICY_IDS)}}}
