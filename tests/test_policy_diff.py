"""`policy diff`: the change brief lists exactly what a variant changes and, over 3 swept days, the items whose
outcome changes, with examples; its review-weighted intervals keep their coverage; every value is escaped."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from typer.testing import CliRunner

from modsweep.policy import load_pack, resolve_pack_path
from modsweep.tasks.policy_diff import (
    Brief,
    PackChange,
    classify_outcomes,
    pack_changes,
    render_html,
    render_markdown,
    weighted_share,
)

NEW_TERM = "your account will be suspended, verify here"
NEW_CLAIM = "the vaccine killed more people than the virus"


def _variant(tmp_path: Path) -> Path:
    """The default pack with one regional threshold, one lexicon term and one claim changed."""
    src = resolve_pack_path("community-guidelines")
    shutil.copytree(src.parent / "community-guidelines", tmp_path / "community-guidelines")
    raw = yaml.safe_load(src.read_text(encoding="utf-8"))
    hate = next(p for p in raw["policies"] if p["id"] == "hate.speech")
    hate["regions"]["DE"]["bands"][1] = {"min_score": "auto@0.9", "action": "reduce_reach"}  # was auto@0.85
    lex = tmp_path / "community-guidelines/lexicons/deceptive.spam.txt"
    lex.write_text(lex.read_text(encoding="utf-8") + f"{NEW_TERM}\t0.85\n", encoding="utf-8")
    claims = tmp_path / "community-guidelines/claims/medical.csv"
    claims.write_text(
        claims.read_text(encoding="utf-8") + f"med-en-08,{NEW_CLAIM},urn:modsweep:factcheck:med-en-08,en\n",
        encoding="utf-8",
    )
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def test_pack_changes_are_exactly_the_three_edits(tmp_path: Path) -> None:
    changes = pack_changes(load_pack("community-guidelines"), load_pack(str(_variant(tmp_path))))
    assert [(c.scope, c.area, c.what) for c in changes] == [
        ("misinfo.medical", "claims", "medical-claims: added"),
        ("hate.speech", "bands", "DE bands"),
        ("deceptive.spam", "lexicon", "spam-lexicon: added"),
    ]
    claim, bands, term = changes
    assert "reduce_reach ≥ auto@0.85" in bands.old and "reduce_reach ≥ auto@0.9" in bands.new
    assert claim.new.startswith(NEW_CLAIM) and "med-en-08" in claim.new
    assert term.new == f"{NEW_TERM} (0.85)"


def test_identical_packs_have_no_changes() -> None:
    assert pack_changes(load_pack("community-guidelines"), load_pack("community-guidelines")) == []


def test_outcomes_are_new_dropped_stricter_or_looser() -> None:
    diff = pd.DataFrame(
        {
            "item_id": list("abcde"),
            "policy_id": "hate.speech",
            "action_live": [None, "remove", "escalate", "remove", "label"],
            "action_candidate": ["label", None, "remove", "reduce_reach", "label"],
            "score_live": 0.5,
            "score_candidate": 0.5,
            "automated_live": True,
            "automated_candidate": True,
            "region": "DE",
            "change": ["new", "dropped", "changed", "changed", "same"],
        }
    )
    out = classify_outcomes(diff).set_index("item_id")["outcome"].to_dict()
    assert out == {"a": "new", "b": "dropped", "c": "stricter", "d": "looser"}


def test_weighted_share_interval_covers_the_truth_on_a_stratified_sample() -> None:
    """Measured coverage of the brief's 95% interval: 1,000 stratified samples of a changed population."""
    rng = np.random.default_rng(18)
    strata = [(600, 0.9, 0.05), (300, 0.5, 0.2), (100, 0.1, 0.6)]  # size, violating share, inclusion probability
    truth = sum(n * p for n, p, _ in strata) / sum(n for n, _, _ in strata)
    covered = 0
    for _ in range(1000):
        ys, ws = [], []
        for n, p, pi in strata:
            y = rng.random(n) < p
            kept = rng.random(n) < pi
            ys.append(y[kept].astype(float))
            ws.append(np.full(kept.sum(), 1 / pi))
        _, lo, hi, _ = weighted_share(np.concatenate(ys), np.concatenate(ws))
        covered += lo <= truth <= hi
    # nominal 95%; measured 98.7% with this seed: conservative, as Kish's n_eff ignores what stratification gains
    assert 0.93 <= covered / 1000 <= 0.995


def test_brief_escapes_every_value() -> None:
    hostile = "<script>alert(1)</script> | [x](javascript:y)"
    ex = pd.DataFrame(
        {
            "policy_id": ["hate.speech"],
            "outcome": ["new"],
            "day": ["2026-11-23"],
            "item_id": ["i|1"],
            "region": ["DE"],
            "language": ["de"],
            "action_old": [None],
            "action_new": ["remove"],
            "score_old": [np.nan],
            "score_new": [0.97],
            "views": [10],
            "author": ["ab12"],
            "text": [hostile],
        }
    )
    imp = pd.DataFrame(
        {
            "policy_id": ["hate.speech"],
            "outcome": ["new"],
            "items": [1],
            "views": [10],
            "reviewed": [0],
            "reviewed_simulated": [0],
            "violating_share": [np.nan],
            "ci_low": [np.nan],
            "ci_high": [np.nan],
            "n_effective": [0.0],
        }
    )
    brief = Brief(
        old="a",
        new="b<i>",
        changes=[PackChange("hate.speech", "lexicon", "x: added", "—", hostile)],
        days=[date(2026, 11, 23)],
        impact=imp,
        examples=ex,
    )
    page = render_html(brief)
    assert "<script>" not in page and "&lt;script&gt;" in page and "b&lt;i&gt;" in page
    md = render_markdown(brief)
    assert "<script>" not in md and "](javascript" not in md and "i|1" not in md


def _ingested_day(source: Path, day: date, rows: int, seed: int, trigger: str = "manual", key: str = "") -> None:
    """A generated day ingested into the lake under a completed run, as a sweep's ingest stage leaves it."""
    from modsweep import resources, store
    from modsweep.runs import day_window
    from modsweep.tasks.generate import write_synthetic_day
    from modsweep.tasks.ingest import items_table, normalise_rows, read_source_file

    summary = write_synthetic_day(source, day, rows, seed=seed, partition_rows=rows)
    raw = read_source_file(Path(summary.item_files[0]))
    items = normalise_rows(
        raw,
        source_file="part-00000",
        source_name="synthetic",
        run_id="t",
        window=day_window(day),
        max_item_chars=100_000,
    ).items
    engine, run_key = resources.store_engine(), key or f"test-{day}"
    resources.lake().write(items_table(items), "items", day, run_key, "part-00000")
    run_id = store.start_run(
        engine,
        run_key=run_key,
        flow="surge-run" if trigger == "surge" else "daily-sweep",
        trigger=trigger,
        requested_by="t",
        parameters={},
        policy_pack="community-guidelines",
        policy_version="t",
        policy_sha256="t",
        code_version="t",
    )
    store.finish_run(engine, run_id, "completed")


def test_the_days_traffic_is_its_whole_day_sweep_not_a_later_surge(sweep_home: Path, tmp_path: Path) -> None:
    from modsweep import resources
    from modsweep.tasks.policy_diff_io import swept_run_key

    day = date(2026, 11, 20)
    _ingested_day(tmp_path / "s1", day, 200, seed=1, trigger="surge", key="surge-early")
    assert swept_run_key(resources.lake(), day) == "surge-early"  # only a surge: it is what there is
    _ingested_day(tmp_path / "s2", day, 200, seed=2, trigger="manual", key="daily")
    _ingested_day(tmp_path / "s3", day, 200, seed=3, trigger="surge", key="surge-late")
    assert swept_run_key(resources.lake(), day) == "daily"  # the newest whole-day run, not the later surge


def test_cli_brief_over_three_swept_days(sweep_home: Path, tmp_path: Path) -> None:
    from modsweep.cli import app

    first = date(2026, 11, 20)
    days = [first + timedelta(days=i) for i in range(3)]
    for i, day in enumerate(days):
        _ingested_day(tmp_path / "source", day, 2_000, seed=100 + i)
    variant = _variant(tmp_path / "variant")
    out = tmp_path / "brief.md"
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["policy", "diff", "community-guidelines", str(variant), "--days", f"{days[0]}..{days[-1]}", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    md = out.read_text(encoding="utf-8")
    assert "## What changed" in md and "Impact on 3 past day(s)" in md
    assert "3 of the items parts had none" in md  # ingested only: no actor signals, so no repeat-offender offsets
    impact = md.split("## Impact", 1)[1]
    # only the three edited policies change outcomes; the new lexicon term acts on the spam it names
    rows = [ln for ln in impact.splitlines() if ln.startswith("| ") and not ln.startswith("| policy")]
    assert rows and {ln.split(" | ")[0].strip("| ") for ln in rows} <= {
        "hate.speech",
        "deceptive.spam",
        "misinfo.medical",
    }
    assert any(ln.startswith("| deceptive.spam |") for ln in rows)
    assert "**deceptive.spam · " in impact and "author " in impact and "verify here" in impact.lower()
    assert "GB/en" in impact and "nan" not in impact
    html_out = tmp_path / "brief.html"
    res = runner.invoke(
        app,
        [
            "policy",
            "diff",
            "community-guidelines",
            str(variant),
            "--days",
            f"{days[0]}..{days[-1]}",
            "--format",
            "html",
            "--out",
            str(html_out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert html_out.read_text(encoding="utf-8").startswith("<!doctype html>")
    missing = runner.invoke(app, ["policy", "diff", "community-guidelines", str(variant), "--days", "2026-10-01"])
    assert missing.exit_code == 2 and "no completed sweep of 2026-10-01" in missing.output
