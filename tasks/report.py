"""Run reports: one self-contained HTML file (inline SVG charts, everything escaped) and Prefect artifacts."""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, select_autoescape
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE as NO_CACHE

from modsweep import resources, store
from modsweep.config import get_settings
from modsweep.ledger import findings_of
from modsweep.runs import RunContext, run_day
from modsweep.tasks.approval import markdown_text
from modsweep.tasks.audit import interval_method
from modsweep.tasks.findings import sentences
from modsweep.tasks.review import SIMULATED_REVIEWER_PREFIX
from modsweep.tasks.trends import report_rows as trend_report_rows

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def bar_chart_svg(title: str, labels: list[str], values: list[float], *, width: int = 640, fmt: str = "{:,.0f}") -> str:
    """A horizontal bar chart as inline SVG (no scripts, no network)."""
    bar_h, gap, left, right = 22, 6, 230, 90
    height = 30 + len(labels) * (bar_h + gap)
    top = max(values, default=0) or 1
    rows = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 30 + i * (bar_h + gap)
        w = (width - left - right) * value / top
        rows.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{html.escape(label)}</text>'
            f'<rect class="bar" x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{left + w + 6:.1f}" y="{y + 15}">{html.escape(fmt.format(value))}</text>'
        )
    return (
        f'<svg class="chart" role="img" aria-label="{html.escape(title)}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><text x="0" y="16" class="title">{html.escape(title)}</text>'
        + "".join(rows)
        + "</svg>"
    )


def interval_chart_svg(title: str, rows: pd.DataFrame, *, width: int = 640) -> str:
    """Point estimates with 95% CI whiskers on a 0–1 axis, one row per label."""
    left, right, row_h = 230, 40, 24
    height = 40 + len(rows) * row_h
    scale = width - left - right
    parts = [f'<line x1="{left}" y1="28" x2="{left + scale}" y2="28" stroke="#999"/>']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = left + scale * tick
        parts.append(f'<text x="{x:.1f}" y="22" text-anchor="middle" class="tick">{tick:.2f}</text>')
    for i, r in enumerate(rows.itertuples()):
        y = 44 + i * row_h
        lo, hi, v = (getattr(r, "ci_low", None), getattr(r, "ci_high", None), r.value)
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end">{html.escape(str(r.label))}</text>')
        if pd.notna(lo) and pd.notna(hi):
            parts.append(
                f'<line class="ci" x1="{left + scale * lo:.1f}" y1="{y}" x2="{left + scale * hi:.1f}" y2="{y}" '
                'stroke="#555" stroke-width="2"/>'
            )
        parts.append(f'<circle class="point" cx="{left + scale * v:.1f}" cy="{y}" r="4" fill="#d62728"/>')
    return (
        f'<svg class="chart" role="img" aria-label="{html.escape(title)}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><text x="0" y="12" class="title">{html.escape(title)}</text>'
        + "".join(parts)
        + "</svg>"
    )


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modsweep run {{ run.run_id }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.ok{color:#2ca02c}.warning{color:#e69500}.critical{color:#d62728;font-weight:bold}
td.num{text-align:right;font-variant-numeric:tabular-nums}th.group{background:#e4ecf5}
.banner{border:2px solid #e69500;background:#fff6e5;padding:0.6rem 1rem;margin:1rem 0}
.banner.critical{border-color:#d62728;background:#fdecec}.note{color:#555;font-size:0.92em}
svg text{font-size:12px}svg .title{font-weight:bold;font-size:13px}svg .tick{fill:#777}
code{background:#f5f5f5;padding:1px 4px}
</style></head><body>
<h1>modsweep · {{ run.flow }} · {{ day }}</h1>
<p class="{{ state_class }}">Run {{ run.state }}{% if run.ended_at %} at {{ run.ended_at }}{% endif %}.</p>
{% if simulated %}<p class="banner">Simulated reviewers: {{ simulated }}</p>{% endif %}
{% if paused %}<p class="banner critical">Automation paused (circuit breaker) during this run: {{ paused | join(", ") }}. Their automated actions went to human review instead.</p>{% endif %}
{% if findings %}<p class="banner critical">{{ findings | length }} finding(s) from the latest audit: see <a href="#findings">Findings</a>.</p>{% endif %}
<h2>Run facts</h2>
<table>
{% for k, v in facts %}<tr><th>{{ k }}</th><td><code>{{ v }}</code></td></tr>{% endfor %}
</table>
<h2>Volumes</h2>
<table><tr>{% for k in volumes %}<th>{{ k }}</th>{% endfor %}</tr><tr>{% for v in volumes.values() %}<td>{{ "{:,}".format(v) }}</td>{% endfor %}</tr></table>
{% if quarantine_reasons %}<h3>Quarantine reasons</h3>{{ quarantine_chart | safe }}{% endif %}
<h2>Decisions by policy</h2>
{{ policy_chart | safe }}
<table><tr><th>policy</th>{% for a in actions %}<th>{{ a }}</th>{% endfor %}<th>total</th></tr>
{% for p, row in action_table %}<tr><td>{{ p }}</td>{% for a in actions %}<td class="num">{{ "{:,}".format(row.get(a, 0)) }}</td>{% endfor %}<td class="num">{{ "{:,}".format(row.values() | sum) }}</td></tr>{% endfor %}
</table>
<h2>Decisions by region</h2>
{{ region_chart | safe }}
{% for note in region_notes %}<p class="note">{{ note }}</p>{% endfor %}
<h2 id="findings">Findings</h2>
{% if findings %}<table><tr><th>severity</th><th>policy</th><th>region</th><th>finding</th></tr>
{% for f in findings %}<tr><td class="{{ f.severity }}">{{ f.severity }}</td><td>{{ f.policy_id }}</td><td>{{ f.region }}</td><td>{{ f.text }}</td></tr>{% endfor %}
</table>{% else %}<p class="ok">No findings: no audited policy's automated precision is below its floor with 95% confidence{% if drift_baseline and volume_baseline %}, and no score drift or volume anomaly{% endif %}.</p>{% endif %}
<p class="note">{{ audited }}</p>
<h2>Quality (95% confidence intervals)</h2>
{% if precision_chart %}{{ precision_chart | safe }}{% else %}<p>No reviewed QA sample of automated actions yet: quality metrics appear once reviews are imported.</p>{% endif %}
{% for note in precision_notes %}<p class="note">{{ note }}</p>{% endfor %}
<p>{{ metric_count }} metrics, grouped by policy; proportions to 4 decimals, hours to 2, counts whole. Each metric's
interval method is in docs/statistics.md and the CSV's interval_method column; "census" marks a zero-width interval
(every unit reviewed), "exact" a value that is not estimated.
{% if metrics_csv %}<a href="{{ metrics_csv }}" download="{{ csv_name }}">Download the full metrics table (CSV)</a>.{% endif %}</p>
{% if metric_groups %}<table><tr><th>region</th><th>metric</th><th>value</th><th>95% CI</th><th>interval</th><th>n</th></tr>
{% for policy, rows in metric_groups %}<tbody><tr><th class="group" colspan="6">{{ policy }}</th></tr>
{% for m in rows %}<tr><td>{{ m.region }}</td><td>{{ m.metric }}</td><td class="num">{{ m.value }}</td><td class="num">{{ m.ci }}</td><td>{{ m.method }}</td><td class="num">{{ m.n }}</td></tr>{% endfor %}</tbody>
{% endfor %}</table>{% endif %}
<h3>Appeals and reversals (95% Wilson intervals)</h3>
{% if overturn_chart %}{{ overturn_chart | safe }}{% endif %}
{% if appeal_chart %}{{ appeal_chart | safe }}{% endif %}
<p class="note">{{ lifecycle_note }}</p>
<h3>Score drift against the previous week (PSI; &gt; 0.25 is a significant shift)</h3>
{% if drift_chart %}{{ drift_chart | safe }}{% endif %}
{% for note in drift_notes %}<p class="note">{{ note }}</p>{% endfor %}
<h3>Volume against earlier runs</h3>
<p class="note">{{ volume_note }}</p>
<h2>Review work</h2>
{{ tasks_chart | safe }}
<table><tr><th>reason</th><th>status</th><th>tasks</th></tr>
{% for r in tasks %}<tr><td>{{ r.reason }}</td><td>{{ r.status }}</td><td class="num">{{ "{:,}".format(r.n) }}</td></tr>{% endfor %}</table>
<h3>Busiest queues</h3>
<table><tr><th>queue</th><th>open</th><th>decided</th><th>carried over</th><th>decided after due</th></tr>
{% for q in queues %}<tr><td>{{ q.queue }}</td><td class="num">{{ q.open }}</td><td class="num">{{ q.decided }}</td><td class="num">{{ q.carried_over }}</td><td class="num">{{ q.late }}</td></tr>{% endfor %}
</table>
{% for note in queue_notes %}<p class="note">{{ note }}</p>{% endfor %}
<h2>Gate results</h2>
<table><tr><th>suite</th><th>partition</th><th>rows</th><th>result</th><th>failed expectations</th></tr>
{% for g in gates %}<tr><td>{{ g.suite }}</td><td>{{ g.partition }}</td><td>{{ g.rows }}</td><td class="{{ g.severity }}">{{ g.severity }}</td><td>{{ g.failures }}</td></tr>{% endfor %}
</table>
{% if trends is not none %}<h2 id="trends">Emerging risks</h2>
<p class="note">Signals whose volume bursts against the earlier days' aggregates (negative-binomial test, Benjamini–Hochberg FDR across the day's candidates), the leading ones per region ranked by enforcement overlap × reach; a suggestion is a line for a candidate pack (<code>modsweep trends --day {{ day }} --candidate FILE</code>). {{ trends | length }} shown.</p>
<table><tr><th>region</th><th>rank</th><th>kind</th><th>signal</th><th>items</th><th>expected</th><th>z</th><th>reach</th><th>young accounts</th><th>top policy (overlap)</th><th>suggestion</th></tr>
{% for t in trends %}<tr><td>{{ t.region }}</td><td class="num">{{ t.rank }}</td><td>{{ t.kind }}</td><td>{{ t.signal }}</td><td class="num">{{ "{:,}".format(t.volume) }}</td><td class="num">{{ "%.1f"|format(t.expected) }}</td><td class="num">{{ "%.1f"|format(t.z) }}</td><td class="num">{{ "{:,}".format(t.reach) }}</td><td class="num">{{ "%.0f%%"|format(100 * t.young) }}</td><td>{{ t.policy }}</td><td>{{ t.suggestion }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Examples of automated actions</h2>
<p class="note">The {{ examples | length }} highest-scoring of {{ "{:,}".format(automated) }} automated actions.</p>
<table><tr><th>item</th><th>policy</th><th>action</th><th>score</th><th>region</th></tr>
{% for e in examples %}<tr><td>{{ e.item_id }}</td><td>{{ e.policy_id }}</td><td>{{ e.action }}</td><td class="num">{{ "%.3f"|format(e.score) }}</td><td>{{ e.region }}</td></tr>{% endfor %}
</table>
<p>Generated {{ generated }} by modsweep {{ run.code_version }}.</p>
<script>
// Self-check used by the report test: every chart must have drawn marks with a size.
window.addEventListener("load", () => {
  const charts = [...document.querySelectorAll("svg.chart")];
  const drawn = charts.filter((svg) => svg.getBBox().width > 0 && svg.querySelector("rect.bar, circle.point"));
  document.body.dataset.chartsTotal = charts.length;
  document.body.dataset.chartsDrawn = drawn.length;
  if (drawn.length !== charts.length) console.error(`${charts.length - drawn.length} chart(s) did not draw`);
});
</script>
</body></html>"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

BASELINE_DAYS = 7  # the audit's drift and volume baselines: completed runs of the same flow in the previous week
VOLUME_BASELINE_RUNS = 3  # volume_anomaly needs at least this many
COUNT_METRICS = frozenset({"qa_sample_size"})
SCALE_METRICS = ("hours_", "volume_zscore", "score_psi")  # not proportions: two decimals


def metric_format(metric: str) -> str:
    """One format per metric for its value and interval alike: counts whole, hours and scores to 2 decimals,
    proportions to 4 (small prevalences stay visible)."""
    if metric in COUNT_METRICS:
        return "{:,.0f}"
    return "{:.2f}" if metric.startswith(SCALE_METRICS) else "{:.4f}"


def metric_groups(metrics: pd.DataFrame) -> list[tuple[str, list[dict[str, str]]]]:
    """The metrics table grouped by policy ('ALL' first), each row formatted with its metric's format."""
    groups = []
    order = sorted(metrics["policy_id"].unique(), key=lambda p: (p != "ALL", p)) if len(metrics) else []
    for policy in order:
        g = metrics[metrics["policy_id"] == policy]
        g = g.assign(_all=g["region"] != "ALL").sort_values(["_all", "region", "metric"])
        rows = []
        for m in g.itertuples():
            fmt = metric_format(str(m.metric))
            rows.append(
                {
                    "region": m.region,
                    "metric": m.metric,
                    "n": "" if pd.isna(m.n) else f"{int(m.n):,}",
                    "value": "" if pd.isna(m.value) else fmt.format(m.value),
                    "ci": ""
                    if pd.isna(m.ci_low) or pd.isna(m.ci_high)
                    else f"[{fmt.format(m.ci_low)}, {fmt.format(m.ci_high)}]",
                    "method": special_interval(str(m.metric), m.ci_low, m.ci_high, m.value),
                }
            )
        groups.append((str(policy), rows))
    return groups


def special_interval(metric: str, ci_low: float | None, ci_high: float | None, value: float | None) -> str:
    """'census' or 'exact: …' for a row whose interval is not an estimate's (blank for the usual methods)."""
    method = interval_method(metric, ci_low, ci_high, value)
    return method if method == "census" or method.startswith("exact") else ""


def metrics_csv_uri(metrics: pd.DataFrame) -> str:
    """The full metrics table as a CSV data: URI (the report stays one self-contained file)."""
    cols = [
        c for c in ("day", "run_id", "policy_id", "region", "metric", "value", "ci_low", "ci_high", "n") if c in metrics
    ]
    table = metrics[cols].sort_values([c for c in ("policy_id", "region", "metric") if c in cols])
    if {"metric", "ci_low", "ci_high", "value"} <= set(cols):
        table = table.assign(
            interval_method=[
                interval_method(str(m), lo, hi, v)
                for m, lo, hi, v in zip(table["metric"], table["ci_low"], table["ci_high"], table["value"], strict=True)
            ]
        )
    data = table.to_csv(index=False)
    return "data:text/csv;charset=utf-8;base64," + base64.b64encode(data.encode("utf-8")).decode("ascii")


def precision_omissions(metrics: pd.DataFrame, decisions: pd.DataFrame, policy_ids: list[str]) -> list[str]:
    """Policies the precision chart leaves out, each with why."""
    charted = set(metrics.loc[(metrics["metric"] == "automated_precision") & (metrics["region"] == "ALL"), "policy_id"])
    automated = (
        decisions[decisions["automated"].astype(bool)]["policy_id"].value_counts()
        if len(decisions)
        else pd.Series(dtype=int)
    )
    notes = []
    for p in policy_ids:
        if p in charted:
            continue
        n = int(automated.get(p, 0))
        why = (
            "no automated actions in this run"
            if n == 0
            else f"none of its {n:,} automated actions has a reviewed QA outcome yet"
        )
        notes.append(f"{p}: {why}")
    return [f"Not in the precision chart: {'; '.join(notes)}."] if notes else []


def simulated_reviews_note(run: dict[str, Any], tasks: pd.DataFrame) -> str:
    """Why the quality figures are not people's judgement, when review outcomes came from simulated reviewers."""
    if "reviewer_id" not in tasks or not len(tasks):
        return ""
    decided = tasks[tasks["status"] == "decided"] if "status" in tasks else tasks
    simulated = decided["reviewer_id"].astype(str).str.startswith(SIMULATED_REVIEWER_PREFIX)
    if not simulated.any():
        return ""
    source = (run.get("parameters") or {}).get("simulate_reviews_from")
    played = f" against the ground truth in {source}" if source else " against ground truth"
    return (
        f"{int(simulated.sum()):,} of {len(decided):,} decided review tasks were decided by simulated reviewers"
        f"{played}, not by people. Precision, recall, prevalence, agreement and time-to-decision figures below "
        "measure the pipeline against synthetic labels."
    )


def drift_notes(metrics: pd.DataFrame, policy_ids: list[str], baseline_runs: int | None) -> tuple[list[str], bool]:
    """What the drift chart shows or leaves out, and whether there was a baseline at all."""
    psi = set(metrics.loc[(metrics["metric"] == "score_psi") & (metrics["region"] == "ALL"), "policy_id"])
    if not psi:
        found = "" if baseline_runs is None else f"; found {baseline_runs}"
        return [
            f"No baseline yet (needs 1 earlier completed run of this flow in the {BASELINE_DAYS} days before "
            f"this one{found}): no drift measured."
        ], False
    missing = [p for p in policy_ids if p not in psi]
    return (
        [f"Not in the drift chart: {', '.join(missing)} (no scored items in this run or in the baseline)."]
        if missing
        else []
    ), True


def volume_note(metrics: pd.DataFrame, baseline_runs: int | None) -> tuple[str, bool]:
    """The volume z-score in words, or why there is none."""
    z = metrics[(metrics["metric"] == "volume_zscore") & (metrics["region"] == "ALL")]
    if len(z):
        r = z.iloc[0]
        verdict = "an anomaly (|z| > 3)" if abs(r["value"]) > 3 else "within the usual range (|z| ≤ 3)"
        return f"Processed volume z-score {r['value']:+.2f} against {int(r['n'])} earlier runs: {verdict}.", True
    found = "" if baseline_runs is None else f"; found {baseline_runs}"
    return (
        f"No baseline yet (needs {VOLUME_BASELINE_RUNS} earlier completed runs of this flow in the "
        f"{BASELINE_DAYS} days before this one{found}): no volume anomaly measured."
    ), False


def audited_note(run: dict[str, Any]) -> str:
    """Which audit the findings come from."""
    re_audit = (run.get("stage_counts") or {}).get("re_audit")
    if isinstance(re_audit, dict) and re_audit:
        when = re_audit.get("audited_at")
        by = re_audit.get("requested_by")
        return (
            "Findings and metrics from the latest re-audit (`modsweep audit`)"
            + (f" at {when}" if when else "")
            + (f" by {by}" if by else "")
            + "; they replace the sweep's own."
        )
    return "Findings and metrics from the sweep's own audit."


def render_report(
    run: dict[str, Any],
    decisions: pd.DataFrame,
    metrics: pd.DataFrame,
    tasks: pd.DataFrame,
    policy_ids: list[str],
    *,
    baseline_runs: int | None = None,
    trends: pd.DataFrame | None = None,
) -> str:
    """The HTML report of one run; every value from the data is escaped by the template."""
    counts = run.get("stage_counts") or {}
    ingest = counts.get("ingest", {})
    automated = int(decisions["automated"].sum()) if len(decisions) else 0
    volumes = {
        "read": ingest.get("read", 0),
        "processed": ingest.get("processed", 0),
        "quarantined": ingest.get("quarantined", 0),
        "decisions": len(decisions),
        "automated actions": automated,
        "review tasks": len(tasks),
    }
    reasons = {k.split(".", 1)[1]: v for k, v in ingest.items() if k.startswith("quarantined.")}
    by_policy = decisions.groupby(["policy_id", "action"]).size() if len(decisions) else pd.Series(dtype=int)
    actions = sorted({a for _, a in by_policy.index}) if len(by_policy) else []
    action_table = [(p, {a: int(by_policy.get((p, a), 0)) for a in actions}) for p in policy_ids]
    regions = decisions["region"].value_counts() if len(decisions) else pd.Series(dtype=int)
    by_region = regions.head(15)
    region_notes = (
        [
            f"The chart shows the 15 regions with most decisions; {len(regions) - 15} more regions "
            f"({int(regions.iloc[15:].sum()):,} decisions) are left out."
        ]
        if len(regions) > 15
        else []
    )
    precision = metrics[(metrics["metric"] == "automated_precision") & (metrics["region"] == "ALL")]
    precision_chart = (
        interval_chart_svg("Precision of automated actions", precision.assign(label=precision["policy_id"]))
        if len(precision)
        else ""
    )
    gates = [
        {
            "suite": g.get("suite"),
            "partition": g.get("partition"),
            "rows": g.get("rows"),
            "severity": g.get("severity"),
            "failures": "; ".join(
                f"{f.get('expectation_type')}({', '.join(f.get('columns') or [])})" for f in g.get("failures", [])
            ),
        }
        for g in run.get("gate_results") or []
    ]
    task_rows = (
        tasks.groupby(["reason", "status"]).size().rename("n").reset_index().to_dict("records") if len(tasks) else []
    )
    audit_counts = counts.get("audit", {})
    found = [
        {**f, "region": f.get("region", "ALL"), "text": text}
        for f, text in zip(findings_of(run), sentences(findings_of(run)), strict=True)
    ]
    overturn = metrics[
        (metrics["metric"] == "overturn_rate") & (metrics["region"] == "ALL") & (metrics["policy_id"] != "ALL")
    ]
    appealed = metrics[
        (metrics["metric"] == "appeal_rate") & (metrics["region"] == "ALL") & (metrics["policy_id"] != "ALL")
    ]
    overturn_chart = (
        interval_chart_svg("Overturn rate on appeal", overturn.assign(label=overturn["policy_id"]))
        if len(overturn)
        else ""
    )
    appeal_chart = (
        interval_chart_svg("Appeal rate of enforced decisions", appealed.assign(label=appealed["policy_id"]))
        if len(appealed)
        else ""
    )
    psi = metrics[(metrics["metric"] == "score_psi") & (metrics["region"] == "ALL")]
    drift_chart = (
        bar_chart_svg("Score PSI by policy", list(psi["policy_id"]), [float(v) for v in psi["value"]], fmt="{:.3f}")
        if len(psi)
        else ""
    )
    drift, has_drift_baseline = drift_notes(metrics, policy_ids, baseline_runs)
    volume, has_volume_baseline = volume_note(metrics, baseline_runs)
    queues, queue_notes = [], []
    tasks_chart = ""
    if len(tasks):
        by_status = tasks.pivot_table(index="queue", columns="status", values="task_id", aggfunc="count", fill_value=0)
        late = tasks[pd.to_datetime(tasks["decided_at"], utc=True) > pd.to_datetime(tasks["due_by"], utc=True)]
        by_status["late"] = late.groupby("queue").size().reindex(by_status.index).fillna(0).astype(int)
        by_status = by_status.reindex(columns=["open", "decided", "carried_over", "late"], fill_value=0)
        if len(by_status) > 20:
            queue_notes.append(
                f"The 20 queues with most open tasks; {len(by_status) - 20} quieter queues are left out."
            )
        by_status = by_status.sort_values(["open", "decided"], ascending=False).head(20)
        queues = [{"queue": q, **{k: int(v) for k, v in row.items()}} for q, row in by_status.iterrows()]
        per_reason = tasks["reason"].value_counts()
        tasks_chart = bar_chart_svg("Review tasks by reason", list(per_reason.index), list(per_reason.values))
    examples = (
        decisions[decisions["automated"]].sort_values("score", ascending=False).head(20).to_dict("records")
        if len(decisions)
        else []
    )
    facts = [
        ("run id", run["run_id"]),
        ("run key", run["run_key"]),
        ("trigger", run["trigger"]),
        ("requested by", run.get("requested_by")),
        ("state", run["state"]),
        ("parameters", json.dumps(run.get("parameters"), sort_keys=True, default=str)),
        ("policy pack", f"{run['policy_pack']} {run['policy_version']}"),
        ("policy sha256", run["policy_sha256"]),
        ("code version", run["code_version"]),
        ("input fingerprint", run.get("input_fingerprint")),
        ("started", run.get("started_at")),
        ("ended", run.get("ended_at") or "not yet"),
        ("Prefect flow run", run.get("prefect_flow_run_id")),
    ]
    if run.get("error"):
        e = run["error"]
        facts.append(("error", f"stage {e.get('stage')}: {e.get('type')}: {e.get('message')}"))
    state_class = {"completed": "ok", "failed": "critical"}.get(str(run["state"]), "warning")
    return _env.from_string(TEMPLATE).render(
        run=run,
        day=(run.get("parameters") or {}).get("day", ""),
        facts=facts,
        volumes=volumes,
        state_class=state_class,
        quarantine_reasons=reasons,
        quarantine_chart=bar_chart_svg("Quarantined rows by reason", list(reasons), list(reasons.values()))
        if reasons
        else "",
        policy_chart=bar_chart_svg(
            "Decisions by policy", [p for p, _ in action_table], [sum(r.values()) for _, r in action_table]
        ),
        region_chart=bar_chart_svg("Decisions by region (top 15)", list(by_region.index), list(by_region.values)),
        region_notes=region_notes,
        actions=actions,
        action_table=action_table,
        precision_chart=precision_chart,
        precision_notes=precision_omissions(metrics, decisions, policy_ids),
        metric_groups=metric_groups(metrics),
        metric_count=f"{len(metrics):,}",
        metrics_csv=metrics_csv_uri(metrics) if len(metrics) else "",
        csv_name=f"metrics-{run['run_key']}.csv",
        simulated=simulated_reviews_note(run, tasks),
        tasks=task_rows,
        gates=gates,
        examples=examples,
        automated=automated,
        findings=found,
        paused=audit_counts.get("automation_paused_during_run"),
        audited=audited_note(run),
        drift_chart=drift_chart,
        drift_notes=drift,
        drift_baseline=has_drift_baseline,
        volume_note=volume,
        volume_baseline=has_volume_baseline,
        queues=queues,
        queue_notes=queue_notes,
        tasks_chart=tasks_chart,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        overturn_chart=overturn_chart,
        appeal_chart=appeal_chart,
        lifecycle_note=lifecycle_note(run),
        trends=None if trends is None else trend_report_rows(trends),
    )


def lifecycle_note(run: dict[str, Any]) -> str:
    """One sentence on the run's appeals, reversals (by cause, with revert ids) and strikes, from its ledger row."""
    life = (run.get("outputs") or {}).get("lifecycle")
    if not life:
        return (
            "No appeals or reversals recorded for this run yet (`modsweep appeals import FILE`, then "
            "`modsweep reviews import|simulate` and `modsweep audit RUN`)."
        )
    reversed_by = ", ".join(f"{n:,} by {cause}" for cause, n in sorted(life.get("reversed", {}).items())) or "none"
    reverts = f" (reverts {', '.join(life['reverts'])})" if life.get("reverts") else ""
    return (
        f"{life.get('appeals', 0):,} appeals: {life.get('appeals_upheld', 0):,} upheld, "
        f"{life.get('appeals_overturned', 0):,} overturned, {life.get('appeals_open', 0):,} open. "
        f"Decisions reversed: {reversed_by}{reverts}. Strikes from this run: {life.get('strikes', 0):,} "
        f"({life.get('strikes_removed', 0):,} removed); account decisions: {life.get('account_decisions', 0):,}. "
        "Appeal rate: appealed / enforced decisions; overturn rate: overturned / decided appeals; intervals are "
        "Wilson 95% (docs/statistics.md). With simulated reviewers the outcomes follow the generator's truth."
    )


def render_markdown(
    run: dict[str, Any],
    decisions: pd.DataFrame,
    metrics: pd.DataFrame,
    report_path: Path,
    tasks: pd.DataFrame | None = None,
) -> str:
    """The summary shown on the Prefect flow-run page."""
    ingest = (run.get("stage_counts") or {}).get("ingest", {})
    md = markdown_text  # every value that is not a number is shown literally (no markup from packs or data)
    ended = f", ended {md(run['ended_at'])}" if run.get("ended_at") else ""
    lines = [
        f"# modsweep {md(run['flow'])} · run {md(run['run_id'])}",
        "",
        f"- state **{md(run.get('state', 'unknown'))}**{ended}",
        f"- run key {md(run['run_key'])}, trigger **{md(run['trigger'])}**",
        f"- pack **{md(run['policy_pack'])} {md(run['policy_version'])}** (sha256 {md(run['policy_sha256'][:16])}…), code {md(run['code_version'])}",
        f"- items read {ingest.get('read', 0):,}, processed {ingest.get('processed', 0):,}, quarantined {ingest.get('quarantined', 0):,}",
        f"- report: {md(report_path)}",
    ]
    simulated = simulated_reviews_note(run, tasks) if tasks is not None else ""
    if simulated:
        lines.append(f"- **simulated reviewers**: {md(simulated)}")
    paused = ((run.get("stage_counts") or {}).get("audit") or {}).get("automation_paused_during_run")
    if paused:
        lines.append(f"- **automation paused** (circuit breaker) during this run: {md(', '.join(paused))}")
    found = sentences(findings_of(run))
    lines += ["", "## Findings", ""] + ([f"- {md(s)}" for s in found] or ["No findings."])
    lines += ["", "| policy | action | decisions |", "|---|---|---|"]
    if len(decisions):
        for (p, a), n in decisions.groupby(["policy_id", "action"]).size().items():
            lines.append(f"| {md(p)} | {md(a)} | {n:,} |")
    precision = metrics[(metrics["metric"] == "automated_precision") & (metrics["region"] == "ALL")]
    if len(precision):
        lines += ["", "| policy | automated precision | 95% CI | n |", "|---|---|---|---|"]
        lines += [
            f"| {md(r.policy_id)} | {r.value:.4f} | [{r.ci_low:.4f}, {r.ci_high:.4f}] | {r.n} |"
            for r in precision.itertuples()
        ]
    return "\n".join(lines)


REPORT_DECISION_COLUMNS = ("item_id", "policy_id", "action", "automated", "score", "region")


def report_file(ctx: RunContext) -> Path:
    """Where a run's HTML report is written: MODSWEEP_HOME/reports/DAY/FLOW-RUNKEY.html."""
    return (get_settings().reports_dir / ctx.day.isoformat() / f"{ctx.flow}-{ctx.run_key}.html").resolve()


def baseline_runs(engine: Any, ctx: RunContext) -> int:
    """Completed runs of the same flow in the BASELINE_DAYS days before this run's day (the audit's baseline)."""
    since = datetime.combine(ctx.day - timedelta(days=BASELINE_DAYS), datetime.min.time(), tzinfo=UTC)
    earlier = store.list_runs(engine, flow=ctx.flow, state="completed", since=since, limit=200)
    return sum(1 for r in earlier if r["run_key"] != ctx.run_key and (d := run_day(r)) is not None and d < ctx.day)


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(ctx: RunContext, run_id: str) -> Path:
    """Write the HTML report of the run as the ledger has it now (written once the run is closed, and again by a
    re-audit) and attach the summary to the flow run as artifacts."""
    engine = resources.store_engine()
    run = store.get_run(engine, run_id)
    lake = resources.lake(ctx.lake_root)
    decisions = lake.read_all("decisions", ctx.day, ctx.run_key, columns=list(REPORT_DECISION_COLUMNS)).to_pandas()
    metrics = store.fetch_metrics(engine, run_key=ctx.run_key)
    tasks = store.fetch_review_tasks(engine, run_key=ctx.run_key)
    policy_ids = [p.id for p in resources.pack(ctx.pack, ctx.profile).policies()]
    path = report_file(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    trends_ref = lake.ref("trends", ctx.day, ctx.run_key, "day")  # the radar's output, when the sweep ran it
    trends = lake.read(trends_ref).to_pandas() if trends_ref is not None else None
    html_text = render_report(
        run, decisions, metrics, tasks, policy_ids, baseline_runs=baseline_runs(engine, ctx), trends=trends
    )
    tmp.write_text(html_text, encoding="utf-8")
    tmp.replace(path)
    key = f"{ctx.flow}-{ctx.day.isoformat()}"
    create_markdown_artifact(
        key=key, markdown=render_markdown(run, decisions, metrics, path, tasks), description="Run summary"
    )
    if len(metrics):
        table = metrics[["policy_id", "region", "metric", "value", "ci_low", "ci_high", "n"]].round(4)
        create_table_artifact(
            key=f"{key}-metrics",
            table=json.loads(table.to_json(orient="records")),
            description="Quality metrics with 95% CIs",
        )
    return path
