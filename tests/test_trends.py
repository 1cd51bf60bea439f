"""The emerging-risk radar: signals, compact daily aggregates, the burst test with FDR control, overlap, patches;
and the generator's planted emerging campaigns (opt-in)."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modsweep.tasks import trends as tr
from modsweep.tasks.generate import GeneratorParams, emerging_plan, generate_chunk

START = date(2026, 11, 1)
PARAMS = GeneratorParams(emerging_campaigns=True, dirty_share=0, emerging_start=START)
SETTINGS = tr.RadarSettings()


def _items(rows: list[dict]) -> pa.Table:
    base = {
        "item_id": "x",
        "region": "US",
        "language": "en",
        "author_id": "a",
        "text": "",
        "hashtags": [],
        "views": 10,
        "author_account_age_days": 400,
    }
    return pa.Table.from_pylist([{**base, "item_id": f"i{i}", **r} for i, r in enumerate(rows)])


@pytest.fixture(scope="module")
def days() -> dict[date, tuple[pa.Table, tr.Signals, pd.DataFrame]]:
    out = {}
    for k in range(9):
        d = START + timedelta(days=k)
        items, _ = generate_chunk(d, 6_000, 11, 0, PARAMS)
        sig = tr.item_signals(items, SETTINGS)
        out[d] = (items, sig, tr.daily_aggregates(items, sig, d, SETTINGS))
    return out


def test_signals_hashtags_domains_bigrams_and_clusters() -> None:
    items = _items(
        [
            {
                "text": "Send USDT now https://www.Coin-Doubler.example/p1 #DoubleIt",
                "hashtags": ["#DoubleIt", "#doubleit"],
            },
            {"text": "send usdt now!! https://coin-doubler.example/p2 @someone 123", "hashtags": []},
            {"text": "hi", "hashtags": ["#x"]},
        ]
    )
    f = tr.item_signals(items, SETTINGS).frame()
    got = set(zip(f["row"], f["kind"], f["signal"], strict=True))
    assert (0, "hashtag", "#doubleit") in got and sum(1 for g in got if g[:2] == (0, "hashtag")) == 1  # once per item
    assert {(0, "domain", "coin-doubler.example"), (1, "domain", "coin-doubler.example")} <= got
    assert {(0, "ngram", "send usdt"), (1, "ngram", "usdt now")} <= got  # URLs, mentions, digits, tags removed
    clusters = f[f["kind"] == "cluster"]
    assert clusters.empty  # three-word texts are not clustered (at least 4 words)
    more = tr.item_signals(
        _items([{"text": "the same four words #a"}, {"text": "The same, four words! 42"}]), SETTINGS
    ).frame()
    c = more[more["kind"] == "cluster"]
    assert len(c) == 2 and c["signal"].nunique() == 1 and c["label"].iloc[0] == "the same four words"


def test_daily_aggregates_are_compact_and_carry_exposure(days: dict) -> None:
    items, _sig, agg = days[START]
    assert list(agg.columns) == tr.AGGREGATES.names
    pa.Table.from_pandas(agg, schema=tr.AGGREGATES, preserve_index=False)  # the lake schema holds
    totals = agg[(agg["kind"] == tr.TOTAL) & (agg["signal"] == "all")]
    assert totals["items"].sum() == items.num_rows
    signals = agg[agg["kind"] != tr.TOTAL]
    assert signals["items"].min() >= SETTINGS.min_items
    assert pa.Table.from_pandas(agg, schema=tr.AGGREGATES).nbytes < items.nbytes / 3  # far smaller than the day


def test_sampled_kinds_use_the_sampled_exposure() -> None:
    items = _items([{"text": "alpha beta gamma delta"} for _ in range(40)])
    sig = tr.item_signals(items, tr.RadarSettings(sample=4, min_items=1))
    agg = tr.daily_aggregates(items, sig, START, tr.RadarSettings(sample=4, min_items=1))
    sampled = agg[(agg["kind"] == tr.TOTAL) & (agg["signal"] == "sampled")]["items"].iloc[0]
    assert sampled == 10 and agg[(agg["kind"] == "ngram") & (agg["signal"] == "alpha beta")]["items"].iloc[0] == 10


def test_burst_statistic_and_fdr_on_hand_built_aggregates() -> None:
    base = pd.DataFrame(
        [
            *[
                {
                    "day": START + timedelta(days=k),
                    "region": "US",
                    "language": "en",
                    "kind": tr.TOTAL,
                    "signal": s,
                    "items": 1000,
                    "views": 0,
                    "young_items": 0,
                }
                for k in range(14)
                for s in ("all", "sampled")
            ],
            *[
                {
                    "day": START + timedelta(days=k),
                    "region": "US",
                    "language": "en",
                    "kind": "hashtag",
                    "signal": "#steady",
                    "items": 50,
                    "views": 0,
                    "young_items": 0,
                }
                for k in range(14)
            ],
        ]
    )
    today = pd.DataFrame(
        [
            {"day": START, "region": "US", "language": "en", "kind": tr.TOTAL, "signal": "all", "items": 1000},
            {"day": START, "region": "US", "language": "en", "kind": tr.TOTAL, "signal": "sampled", "items": 1000},
            {"day": START, "region": "US", "language": "en", "kind": "hashtag", "signal": "#steady", "items": 55},
            {"day": START, "region": "US", "language": "en", "kind": "hashtag", "signal": "#new", "items": 30},
            {"day": START, "region": "US", "language": "en", "kind": "hashtag", "signal": "#rare", "items": 4},
        ]
    ).assign(views=0, young_items=0)
    s = tr.burst_scores(today, base, SETTINGS).set_index("signal")
    assert "#rare" not in s.index  # below min_volume: not a candidate
    lam_new = 1000 * 0.5 / 14000  # never seen: (0 + ½) items over 14,000 of exposure
    assert s.loc["#new", "expected"] == pytest.approx(lam_new)
    assert s.loc["#steady", "expected"] == pytest.approx(1000 * 700.5 / 14000)
    assert s.loc["#new", "bursting"] and not s.loc["#steady", "bursting"]
    assert s.loc["#new", "q_value"] >= s.loc["#new", "p_value"]  # BH adjusts upwards
    assert not tr.burst_scores(today, base.iloc[0:0], SETTINGS)["bursting"].any()  # no baseline: nothing bursts


def test_fdr_keeps_false_alarms_rare_on_steady_traffic() -> None:
    """Poisson traffic with no campaign: BH at 5% reports (almost) nothing across 2,000 steady signals."""
    rng = np.random.default_rng(5)
    rates = rng.uniform(10, 200, 2000)
    rows = [
        {
            "day": START + timedelta(days=k),
            "region": "US",
            "language": "en",
            "kind": "hashtag",
            "signal": f"#s{i}",
            "items": int(rng.poisson(r)),
        }
        for k in range(15)
        for i, r in enumerate(rates)
    ]
    rows += [
        {
            "day": START + timedelta(days=k),
            "region": "US",
            "language": "en",
            "kind": tr.TOTAL,
            "signal": s,
            "items": 100_000,
        }
        for k in range(15)
        for s in ("all", "sampled")
    ]
    frame = pd.DataFrame(rows).assign(views=0, young_items=0)
    last = START + timedelta(days=14)
    s = tr.burst_scores(frame[frame["day"] == last], frame[frame["day"] < last], SETTINGS)
    assert s["bursting"].sum() == 0 and len(s) > 1900 and s["q_value"].min() > 0.5


def test_planted_violating_campaign_ranks_first_in_its_region_on_its_second_day(days: dict) -> None:
    day = START + timedelta(days=5)  # pix-dobrado (BR, starts day 3) is on growth day 2; mms-cure on day 1
    plan = {p["campaign_id"]: p for p in emerging_plan(day, PARAMS)}
    assert plan["mms-cure"]["growth_day"] == 1
    items, sig, today = days[day]
    baseline = pd.concat([days[d][2] for d in days if d < day])
    ids = items.column("item_id").to_numpy(zero_copy_only=False)
    mms = [i for i, t in zip(ids, items.column("text").to_pylist(), strict=True) if "#mmscure" in (t or "")]
    decisions = pd.DataFrame({"item_id": mms[: len(mms) // 3], "policy_id": "misinfo.medical"})
    detectors = {
        "misinfo.medical": [
            {"kind": "lexicon", "id": "medical-lexicon", "resource": "lex.txt"},
            {"kind": "claim_match", "id": "medical-claims", "resource": "claims.csv"},
        ]
    }
    out = tr.radar(
        items, sig, today, baseline, decisions, detectors, SETTINGS, day, lambda s: "p-" + s.str.len().astype(str)
    )
    pa.Table.from_pandas(out, schema=tr.TRENDS, preserve_index=False)
    us = out[(out["region"] == "US") & (out["rank_risk"] > 0)].sort_values("rank_risk")
    top = us.iloc[0]
    assert "#mmscure" in top["examples"] and top["top_policy"] == "misinfo.medical"  # the campaign leads US
    assert top["top_overlap"] >= 0.25 and top["young_share"] > 0.4
    assert "to misinfo.medical's" in top["suggestion"] and json.loads(top["patch"])["policy_id"] == "misinfo.medical"
    assert "p-" in top["accounts"] and "u-emerging" not in top["accounts"]  # pseudonymised
    # the campaign's hashtag, domain, phrases and cluster are one story, ranked once
    story = out[(out["region"] == "US") & (out["same_as"] == f"{top['kind']}:{top['signal']}")]
    assert {"hashtag", "ngram"} <= set(story["kind"]) | {top["kind"]}
    tag = out[(out["region"] == "US") & (out["signal"] == "#mmscure")].iloc[0]
    assert tag["suggestion"].startswith("add 'mmscure' to misinfo.medical's lexicon") or tag["same_as"] is not None


def test_benign_burst_has_no_suggestion_without_enforcement(days: dict) -> None:
    day = START + timedelta(days=8)  # cup-final (BR, benign) on growth day 1
    items, sig, today = days[day]
    baseline = pd.concat([days[d][2] for d in days if d < day])
    out = tr.radar(
        items, sig, today, baseline, pd.DataFrame(columns=["item_id", "policy_id"]), {}, SETTINGS, day, lambda s: s
    )
    cup = out[(out["region"] == "BR") & (out["signal"] == "#finaldacopa")]
    assert len(cup) == 1 and cup["suggestion"].isna().all() and cup["top_overlap"].iloc[0] == 0


def test_patches_append_once() -> None:
    res = {"lex.txt": "# header\nold\t0.8\n"}
    patch = {"resource": "lex.txt", "line": "mmscure\t0.5"}
    once = tr.apply_patches(res, [patch, patch])
    assert once["lex.txt"] == "# header\nold\t0.8\nmmscure\t0.5\n"
    assert tr.apply_patches(once, [{"resource": "lex.txt", "line": "old\t0.5"}]) == once  # a term already there


def test_emerging_campaigns_are_opt_in_and_in_the_truth_table() -> None:
    day = START + timedelta(days=6)
    plain_items, plain_truth = generate_chunk(day, 2_000, 3, 0, GeneratorParams(dirty_share=0))
    items, truth = generate_chunk(
        day, 2_000, 3, 0, GeneratorParams(dirty_share=0, emerging_campaigns=True, emerging_start=START)
    )
    assert items.slice(0, 2_000).equals(plain_items)  # the ordinary rows are unchanged; campaigns are appended
    extra = items.num_rows - 2_000
    plan = emerging_plan(day, GeneratorParams(emerging_campaigns=True, emerging_start=START))
    assert extra == sum(p["posts"] for p in plan)
    planted = truth.filter(pa.compute.starts_with(truth["campaign_id"].fill_null(""), "emerging:")).to_pandas()
    violating = {p["campaign_id"]: p["posts"] for p in plan if p["policy_id"]}
    assert planted["campaign_id"].str.removeprefix("emerging:").value_counts().to_dict() == violating
    assert plain_truth.num_rows == truth.num_rows - len(planted)


def test_report_section_lists_leading_signals_escaped() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_report import _hostile_run  # the report tests' run with hostile content

    from modsweep.tasks.report import render_report

    trends = pd.DataFrame(
        [
            {
                "region": "US",
                "language": "en",
                "kind": "hashtag",
                "signal": "#x",
                "label": "<script>alert(1)</script>",
                "volume": 40,
                "expected": 1.5,
                "z": 9.0,
                "reach": 1234,
                "young_share": 0.7,
                "top_policy": "misinfo.medical",
                "top_overlap": 0.4,
                "rank_risk": 1,
                "suggestion": "add 'x' to misinfo.medical's lexicon (medical-lexicon)",
            },
            {
                "region": "US",
                "language": "en",
                "kind": "ngram",
                "signal": "a b",
                "label": "a b",
                "volume": 30,
                "expected": 1.0,
                "z": 8.0,
                "reach": 10,
                "young_share": 0.0,
                "top_policy": None,
                "top_overlap": 0.0,
                "rank_risk": 0,
                "suggestion": None,
            },
            {  # a benign burst as read back from the lake: its missing suggestion is NaN, shown as "—"
                "region": "BR",
                "language": "pt",
                "kind": "hashtag",
                "signal": "#final",
                "label": "#final",
                "volume": 90,
                "expected": 2.0,
                "z": 12.0,
                "reach": 99,
                "young_share": 0.1,
                "top_policy": np.nan,
                "top_overlap": 0.0,
                "rank_risk": 1,
                "suggestion": np.nan,
            },
        ]
    )
    page = render_report(*_hostile_run(), ["hate.speech"], trends=trends)
    section = page.split('<h2 id="trends">', 1)[1].split("<h2>", 1)[0]
    assert "<script>alert" not in section and "&lt;script&gt;" in section
    assert "misinfo.medical (40%)" in section and "1,234" in section and "70%" in section
    assert "a b" not in section  # a signal folded into a broader one is not ranked on its own
    assert "#final" in section and ">nan<" not in section
    assert 'id="trends"' not in render_report(*_hostile_run(), ["hate.speech"])  # no radar output: no section


def test_a_day_read_part_by_part_keeps_only_the_texts_its_signals_need(days: dict, tmp_path, monkeypatch) -> None:
    """A big day's reader holds only the texts the signals read (URLs, the 1-in-k sample); signals, aggregates
    and the trends with their examples are what the whole day's items give."""
    from modsweep.lake import Lake
    from modsweep.tasks import trends_io

    monkeypatch.setattr(tr, "sample_rate", lambda rows, target=50_000: 7)  # a thinned day, as at 10^7 items
    settings = trends_io.settings_for(0)
    day = START + timedelta(days=5)
    full = days[day][0].select(trends_io.ITEM_COLUMNS)
    lake = Lake(str(tmp_path / "lake"))
    edges = [0, 1_700, 4_100, full.num_rows]
    for k, (a, b) in enumerate(itertools.pairwise(edges)):
        lake.write(full.slice(a, b - a), "items", day, "rk", f"part-{k:05d}")
    read = trends_io.read_day_items(lake, day, "rk")
    assert read.column_names == full.column_names and read.num_rows == full.num_rows
    assert read.column("text").null_count > full.num_rows // 2  # most texts are not held
    got, want = tr.item_signals(read, settings), tr.item_signals(full, settings)
    for field in ("row", "code", "vocab", "kind", "label"):
        assert np.array_equal(getattr(got, field), getattr(want, field))
    pd.testing.assert_frame_equal(
        tr.daily_aggregates(read, got, day, settings), tr.daily_aggregates(full, want, day, settings)
    )
    rows = np.random.default_rng(3).integers(0, full.num_rows, 200)
    assert trends_io.day_text_at(lake, day, "rk")(rows).tolist() == tr.text_of(full, rows).tolist()

    baseline = pd.concat([tr.daily_aggregates(*days[d][:2], d, settings) for d in days if d < day])
    decisions = pd.DataFrame({"item_id": full.column("item_id").to_pylist()[::5], "policy_id": "misinfo.medical"})
    args = (tr.daily_aggregates(full, want, day, settings), baseline, decisions, {}, settings, day, lambda s: s)
    expected = tr.radar(full, want, *args)
    assert len(expected) and expected["examples"].str.len().gt(2).all()
    pd.testing.assert_frame_equal(tr.radar(read, got, *args, trends_io.day_text_at(lake, day, "rk")), expected)
    assert not tr.radar(read, got, *args).equals(expected)  # without the examples' reader their texts are missing
