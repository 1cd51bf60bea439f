"""Audit findings as readable sentences: policy, region, metric, estimate, interval, floor and what was done.

Pure functions: the same sentence reaches the ledger row, the HTML report, the Prefect artifact, the audit log
and the console, so a finding reads the same everywhere.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

METRIC_OF_KIND = {
    "precision_below_floor": "automated_precision",
    "score_drift": "score_psi",
    "volume_anomaly": "volume_zscore",
}
METRIC_WORDS = {
    "automated_precision": "automated precision",
    "score_psi": "score drift (PSI)",
    "volume_zscore": "volume z-score",
}


def annotate(found: list[dict[str, Any]], metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """Each finding with its region, metric and the full interval of its estimate (from the metrics frame)."""
    out = []
    for f in found:
        g = {**f, "region": f.get("region", "ALL"), "metric": f.get("metric") or METRIC_OF_KIND.get(str(f.get("kind")))}
        if len(metrics) and g["metric"] and "ci_low" not in g:
            policy = g["policy_id"]
            row = metrics[
                (metrics["metric"] == g["metric"])
                & (metrics["region"] == g["region"])
                & (metrics["policy_id"] == policy)
            ]
            if len(row) and pd.notna(row["ci_low"].iloc[0]):
                g["ci_low"] = round(float(row["ci_low"].iloc[0]), 4)
                g.setdefault("ci_high", round(float(row["ci_high"].iloc[0]), 4))
        out.append(g)
    return out


def _num(value: Any, spec: str) -> str:
    """A number formatted with `spec`; anything else shown as it is (or "n/a")."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format(value, spec)
    return "n/a" if value is None else str(value)


def _region(region: Any) -> str:
    return "all regions" if region in (None, "ALL") else f"region {region}"


def _policy(policy: Any) -> str:
    return "all policies" if policy in (None, "ALL") else str(policy)


def action_taken(finding: dict[str, Any]) -> str:
    """What the audit did about a finding, in words."""
    if finding.get("kind") == "precision_below_floor":
        if finding.get("circuit_breaker_tripped"):
            return (
                f"circuit breaker tripped: {finding['policy_id']}'s automated actions are paused and later runs "
                f"send them to human review until a person runs `modsweep policy enable {finding['policy_id']}`"
            )
        if "circuit_breaker_tripped" in finding:
            return (
                "its automation was already paused by the circuit breaker; later runs keep sending it to human review"
            )
    return "recorded as a warning; nothing was changed automatically"


def describe(finding: dict[str, Any]) -> str:
    """One sentence for one finding."""
    kind, value = finding.get("kind"), finding.get("value")
    metric = METRIC_WORDS.get(str(finding.get("metric") or METRIC_OF_KIND.get(str(kind))), str(kind))
    head = f"{_policy(finding.get('policy_id'))}, {_region(finding.get('region'))}: "
    if kind == "precision_below_floor":
        lo, hi = finding.get("ci_low"), finding.get("ci_high")
        interval = (
            f"95% CI {_num(lo, '.3f')}–{_num(hi, '.3f')}" if lo is not None else f"95% CI upper bound {_num(hi, '.3f')}"
        )
        body = (
            f"{metric} {_num(value, '.3f')} ({interval}, n = {finding.get('n')} reviewed automated actions) "
            f"is below the floor {_num(finding.get('floor'), '.2f')}"
        )
    elif kind == "score_drift":
        body = (
            f"{metric} {_num(value, '.3f')} against the earlier runs' score bands is above 0.25 (a significant shift)"
        )
    elif kind == "volume_anomaly":
        body = f"{metric} {_num(value, '+.2f')} against the earlier runs' processed volumes is beyond ±3"
    else:
        details = ", ".join(
            f"{k} {v}" for k, v in finding.items() if k not in ("policy_id", "region", "severity", "kind")
        )
        body = f"{kind}: {details}"
    return f"{str(finding.get('severity', 'warning')).capitalize()}: {head}{body}; {action_taken(finding)}."


def with_text(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each finding with its sentence under `text`."""
    return [{**f, "text": describe(f)} for f in found]


def sentences(found: list[dict[str, Any]]) -> list[str]:
    """The findings' sentences (a stored `text` where there is one; older ledger rows have none)."""
    return [str(f.get("text") or describe(f)) for f in found]
