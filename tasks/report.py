"""Run reports: one self-contained HTML file (inline SVG charts, everything escaped) and Prefect artifacts."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, select_autoescape
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE as NO_CACHE

from modsweep import resources, store
from modsweep.config import get_settings
from modsweep.runs import RunContext
from modsweep.tasks.approval import markdown_text

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
    return (f'<svg class="chart" role="img" aria-label="{html.escape(title)}" width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg"><text x="0" y="16" class="title">{html.escape(title)}</text>'
            + "".join(rows) + "</svg>")  # fmt: skip


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
            parts.append(f'<line class="ci" x1="{left + scale * lo:.1f}" y1="{y}" x2="{left + scale * hi:.1f}" y2="{y}" '
                         'stroke="#555" stroke-width="2"/>')  # fmt: skip
        parts.append(f'<circle class="point" cx="{left + scale * v:.1f}" cy="{y}" r="4" fill="#d62728"/>')
    return (f'<svg class="chart" role="img" aria-label="{html.escape(title)}" width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg"><text x="0" y="12" class="title">{html.escape(title)}</text>'
            + "".join(parts) + "</svg>")  # fmt: skip


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modsweep run {{ run.run_id }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.ok{color:#2ca02c}.warning{color:#e69500}.critical{color:#d62728;font-weight:bold}
svg text{font-size:12px}svg .title{font-weight:bold;font-size:13px}svg .tick{fill:#777}
code{background:#f5f5f5;padding:1px 4px}
</style></head><body>
<h1>modsweep · {{ run.flow }} · {{ day }}</h1>
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
{% for p, row in action_table %}<tr><td>{{ p }}</td>{% for a in actions %}<td>{{ row.get(a, 0) }}</td>{% endfor %}<td>{{ row.values() | sum }}</td></tr>{% endfor %}
</table>
<h2>Decisions by region</h2>
{{ region_chart | safe }}
<h2>Quality (95% confidence intervals)</h2>
{% if precision_chart %}{{ precision_chart | safe }}{% else %}<p>No reviewed QA sample yet: quality metrics appear once reviews are imported.</p>{% endif %}
<table><tr><th>policy</th><th>region</th><th>metric</th><th>value</th><th>95% CI</th><th>n</th></tr>
{% for m in metrics %}<tr><td>{{ m.policy_id }}</td><td>{{ m.region }}</td><td>{{ m.metric }}</td><td>{{ m.value_fmt }}</td><td>{{ m.ci }}</td><td>{{ m.n }}</td></tr>{% endfor %}
</table>
<h2>Findings</h2>
{% if findings %}<table><tr><th>severity</th><th>policy</th><th>finding</th><th>details</th></tr>
{% for f in findings %}<tr><td class="{{ f.severity }}">{{ f.severity }}</td><td>{{ f.policy_id }}</td><td>{{ f.kind }}</td><td>{{ f.details }}</td></tr>{% endfor %}
</table>{% else %}<p class="ok">No findings: every audited policy is within its floors, no drift or volume anomaly.</p>{% endif %}
{% if paused %}<p class="critical">Automation paused (circuit breaker) during this run: {{ paused | join(", ") }}</p>{% endif %}
{% if drift_chart %}<h3>Score drift against the previous week (PSI; &gt; 0.25 is a significant shift)</h3>{{ drift_chart | safe }}{% endif %}
<h2>Review work</h2>
{{ tasks_chart | safe }}
<table><tr><th>reason</th><th>status</th><th>tasks</th></tr>
{% for r in tasks %}<tr><td>{{ r.reason }}</td><td>{{ r.status }}</td><td>{{ r.n }}</td></tr>{% endfor %}</table>
<h3>Busiest queues</h3>
<table><tr><th>queue</th><th>open</th><th>decided</th><th>carried over</th><th>decided after due</th></tr>
{% for q in queues %}<tr><td>{{ q.queue }}</td><td>{{ q.open }}</td><td>{{ q.decided }}</td><td>{{ q.carried_over }}</td><td>{{ q.late }}</td></tr>{% endfor %}
</table>
<h2>Gate results</h2>
<table><tr><th>suite</th><th>partition</th><th>rows</th><th>result</th><th>failed expectations</th></tr>
{% for g in gates %}<tr><td>{{ g.suite }}</td><td>{{ g.partition }}</td><td>{{ g.rows }}</td><td class="{{ g.severity }}">{{ g.severity }}</td><td>{{ g.failures }}</td></tr>{% endfor %}
</table>
<h2>Examples of automated actions</h2>
<table><tr><th>item</th><th>policy</th><th>action</th><th>score</th><th>region</th></tr>
{% for e in examples %}<tr><td>{{ e.item_id }}</td><td>{{ e.policy_id }}</td><td>{{ e.action }}</td><td>{{ "%.3f"|format(e.score) }}</td><td>{{ e.region }}</td></tr>{% endfor %}
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


def render_report(run: dict[str, Any], decisions: pd.DataFrame, metrics: pd.DataFrame, tasks: pd.DataFrame,
                  policy_ids: list[str]) -> str:  # fmt: skip
    """The HTML report of one run; every value from the data is escaped by the template."""
    counts = run.get("stage_counts") or {}
    ingest = counts.get("ingest", {})
    volumes = {"read": ingest.get("read", 0), "processed": ingest.get("processed", 0),
               "quarantined": ingest.get("quarantined", 0), "decisions": len(decisions),
               "automated actions": int(decisions["automated"].sum()) if len(decisions) else 0,
               "review tasks": len(tasks)}  # fmt: skip
    reasons = {k.split(".", 1)[1]: v for k, v in ingest.items() if k.startswith("quarantined.")}
    by_policy = decisions.groupby(["policy_id", "action"]).size() if len(decisions) else pd.Series(dtype=int)
    actions = sorted({a for _, a in by_policy.index}) if len(by_policy) else []
    action_table = [(p, {a: int(by_policy.get((p, a), 0)) for a in actions}) for p in policy_ids]
    by_region = decisions["region"].value_counts().head(15) if len(decisions) else pd.Series(dtype=int)
    precision = metrics[(metrics["metric"] == "automated_precision") & (metrics["region"] == "ALL")]
    precision_chart = interval_chart_svg("Precision of automated actions", precision.assign(label=precision["policy_id"])) \
        if len(precision) else ""  # fmt: skip
    metric_rows = [
        {"policy_id": m.policy_id, "region": m.region, "metric": m.metric, "n": m.n,
         "value_fmt": "" if pd.isna(m.value) else f"{m.value:.4g}",
         "ci": "" if pd.isna(m.ci_low) else f"[{m.ci_low:.3f}, {m.ci_high:.3f}]"}
        for m in metrics.sort_values(["policy_id", "region", "metric"]).itertuples()
    ]  # fmt: skip
    gates = [{"suite": g.get("suite"), "partition": g.get("partition"), "rows": g.get("rows"), "severity": g.get("severity"),
              "failures": "; ".join(f"{f.get('expectation_type')}({', '.join(f.get('columns') or [])})"
                                    for f in g.get("failures", []))} for g in run.get("gate_results") or []]  # fmt: skip
    task_rows = tasks.groupby(["reason", "status"]).size().rename("n").reset_index().to_dict("records") if len(tasks) else []
    audit_counts = counts.get("audit", {})
    found = [{**f, "details": ", ".join(f"{k}={v}" for k, v in f.items() if k not in ("policy_id", "severity", "kind"))}
             for f in audit_counts.get("findings", [])]  # fmt: skip
    psi = metrics[(metrics["metric"] == "score_psi") & (metrics["region"] == "ALL")]
    drift_chart = bar_chart_svg("Score PSI by policy", list(psi["policy_id"]), [float(v) for v in psi["value"]],
                                fmt="{:.3f}") if len(psi) else ""  # fmt: skip
    queues = []
    tasks_chart = ""
    if len(tasks):
        by_status = tasks.pivot_table(index="queue", columns="status", values="task_id", aggfunc="count", fill_value=0)
        late = tasks[pd.to_datetime(tasks["decided_at"], utc=True) > pd.to_datetime(tasks["due_by"], utc=True)]
        by_status["late"] = late.groupby("queue").size().reindex(by_status.index).fillna(0).astype(int)
        by_status = by_status.reindex(columns=["open", "decided", "carried_over", "late"], fill_value=0)
        by_status = by_status.sort_values(["open", "decided"], ascending=False).head(20)
        queues = [{"queue": q, **{k: int(v) for k, v in row.items()}} for q, row in by_status.iterrows()]
        per_reason = tasks["reason"].value_counts()
        tasks_chart = bar_chart_svg("Review tasks by reason", list(per_reason.index), list(per_reason.values))
    examples = decisions[decisions["automated"]].sort_values("score", ascending=False).head(20).to_dict("records") \
        if len(decisions) else []  # fmt: skip
    facts = [("run id", run["run_id"]), ("run key", run["run_key"]), ("trigger", run["trigger"]),
             ("requested by", run.get("requested_by")), ("state", run["state"]),
             ("parameters", json.dumps(run.get("parameters"), sort_keys=True)),
             ("policy pack", f"{run['policy_pack']} {run['policy_version']}"), ("policy sha256", run["policy_sha256"]),
             ("code version", run["code_version"]), ("input fingerprint", run.get("input_fingerprint")),
             ("started", run.get("started_at")), ("Prefect flow run", run.get("prefect_flow_run_id"))]  # fmt: skip
    return _env.from_string(TEMPLATE).render(
        run=run, day=(run.get("parameters") or {}).get("day", ""), facts=facts, volumes=volumes,
        quarantine_reasons=reasons,
        quarantine_chart=bar_chart_svg("Quarantined rows by reason", list(reasons), list(reasons.values())) if reasons else "",
        policy_chart=bar_chart_svg("Decisions by policy", [p for p, _ in action_table],
                                   [sum(r.values()) for _, r in action_table]),
        region_chart=bar_chart_svg("Decisions by region (top 15)", list(by_region.index), list(by_region.values)),
        actions=actions, action_table=action_table, precision_chart=precision_chart, metrics=metric_rows,
        tasks=task_rows, gates=gates, examples=examples, findings=found, paused=audit_counts.get("automation_paused_during_run"),
        drift_chart=drift_chart, queues=queues, tasks_chart=tasks_chart, generated=datetime.now(UTC).isoformat(timespec="seconds"),
    )  # fmt: skip


def render_markdown(run: dict[str, Any], decisions: pd.DataFrame, metrics: pd.DataFrame, report_path: Path) -> str:
    """The summary shown on the Prefect flow-run page."""
    ingest = (run.get("stage_counts") or {}).get("ingest", {})
    md = markdown_text  # every value that is not a number is shown literally (no markup from packs or data)
    lines = [f"# modsweep {md(run['flow'])} · run {md(run['run_id'])}", "",
             f"- run key {md(run['run_key'])}, trigger **{md(run['trigger'])}**",
             f"- pack **{md(run['policy_pack'])} {md(run['policy_version'])}** (sha256 {md(run['policy_sha256'][:16])}…), code {md(run['code_version'])}",
             f"- items read {ingest.get('read', 0):,}, processed {ingest.get('processed', 0):,}, quarantined {ingest.get('quarantined', 0):,}",
             f"- report: {md(report_path)}", "", "| policy | action | decisions |", "|---|---|---|"]  # fmt: skip
    if len(decisions):
        for (p, a), n in decisions.groupby(["policy_id", "action"]).size().items():
            lines.append(f"| {md(p)} | {md(a)} | {n:,} |")
    precision = metrics[(metrics["metric"] == "automated_precision") & (metrics["region"] == "ALL")]
    if len(precision):
        lines += ["", "| policy | automated precision | 95% CI | n |", "|---|---|---|---|"]
        lines += [f"| {md(r.policy_id)} | {r.value:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] | {r.n} |" for r in precision.itertuples()]
    return "\n".join(lines)


REPORT_DECISION_COLUMNS = ("item_id", "policy_id", "action", "automated", "score", "region")


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(ctx: RunContext, run_id: str) -> Path:
    """Write the HTML report under MODSWEEP_HOME/reports and attach the summary to the flow run as artifacts."""
    engine = resources.store_engine()
    run = store.get_run(engine, run_id)
    lake = resources.lake(ctx.lake_root)
    decisions = lake.read_all("decisions", ctx.day, ctx.run_key, columns=list(REPORT_DECISION_COLUMNS)).to_pandas()
    metrics = store.fetch_metrics(engine, run_key=ctx.run_key)
    tasks = store.fetch_review_tasks(engine, run_key=ctx.run_key)
    policy_ids = [p.id for p in resources.pack(ctx.pack, ctx.profile).policies()]
    out_dir = get_settings().reports_dir / ctx.day.isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = (out_dir / f"{ctx.flow}-{ctx.run_key}.html").resolve()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_report(run, decisions, metrics, tasks, policy_ids), encoding="utf-8")
    tmp.replace(path)
    key = f"{ctx.flow}-{ctx.day.isoformat()}"
    create_markdown_artifact(key=key, markdown=render_markdown(run, decisions, metrics, path), description="Run summary")
    if len(metrics):
        table = metrics[["policy_id", "region", "metric", "value", "ci_low", "ci_high", "n"]].round(4)
        create_table_artifact(key=f"{key}-metrics", table=json.loads(table.to_json(orient="records")),
                              description="Quality metrics with 95% CIs")  # fmt: skip
    return path
