from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modsweep.policy import load_pack
from modsweep.tasks.detect import (
    build_detector_bank,
    cluster_coordination,
    coordination_signatures,
    detect_in_chunks,
    detect_partition,
)
from modsweep.tasks.text import normalise

PACK = """
pack: test-pack
version: "1"
policies:
  - id: hate.speech
    title: Hate
    severity: 4
    dsa: {category: STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH}
    detectors:
      - {id: hate-lex, kind: lexicon, params: {terms: res/hate.txt}}
      - {id: hate-tags, kind: hashtag, params: {terms: res/tags.txt}}
    bands: [{min_score: 0.5, action: escalate}]
  - id: misinfo.medical
    title: Medical
    severity: 3
    dsa: {category: STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY}
    detectors:
      - {id: claims, kind: claim_match, params: {claims: res/claims.csv, min_similarity: 0.5}}
    bands: [{min_score: 0.5, action: escalate}]
  - id: deceptive.spam
    title: Spam
    severity: 2
    dsa: {category: STATEMENT_CATEGORY_SCAMS_AND_FRAUD}
    detectors:
      - {id: links, kind: regex, params: {patterns: res/patterns.txt}}
      - {id: reports, kind: reports, weight: 0.5, params: {reasons: [spam]}}
    bands: [{min_score: 0.5, action: escalate}]
  - id: minor_safety
    title: Minors
    severity: 5
    dsa: {category: STATEMENT_CATEGORY_PROTECTION_OF_MINORS}
    detectors:
      - {id: known-media, kind: hash_match, params: {hashes: res/hashes.txt, max_distance: 4}}
    bands: [{min_score: 0.5, action: escalate}]
  - id: aigc.undisclosed
    title: AI
    severity: 2
    dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC}
    detectors: [{id: provenance, kind: aigc}]
    bands: [{min_score: 0.5, action: escalate}]
  - id: deceptive.coordinated
    title: CIB
    severity: 3
    dsa: {category: STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS}
    detectors: [{id: bursts, kind: coordination, params: {min_accounts: 5, window_minutes: 10, max_account_age_days: 30}}]
    bands: [{min_score: 0.5, action: escalate}]
"""


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    (root / "res").mkdir()
    (root / "res" / "hate.txt").write_text("# test lexicon\nvermin\t0.9\nsubhuman scum\t0.95\n")
    (root / "res" / "tags.txt").write_text("# hashtags, listed without the #\npurgethem\t0.9\n")
    (root / "res" / "patterns.txt").write_text("bit\\.ly/\\w+\t0.7\nfree followers\t0.6\n")
    (root / "res" / "claims.csv").write_text(
        "claim_id,text,fact_check_url,language\n"
        "c1,5g towers spread the coronavirus,https://example.org/fc/5g,en\n"
        "c2,drinking bleach cures covid,https://example.org/fc/bleach,en\n"
    )
    (root / "res" / "hashes.txt").write_text("00ff00ff00ff00ff\tlist-a:1\n")
    (root / "pack.yaml").write_text(PACK)
    return build_detector_bank(load_pack(str(root / "pack.yaml")), None, None)


def items(texts, **cols):
    n = len(texts)
    base = {
        "item_id": [f"i{k}" for k in range(n)],
        "text": pd.Series(texts, dtype=object),
        "transcript": None,
        "ocr_text": None,
        "hashtags": [[] for _ in range(n)],
        "media_hash": None,
        "ai_disclosed": False,
        "ai_provenance": None,
        "user_reports": 0,
        "report_reasons": [[] for _ in range(n)],
        "views": 100,
        "author_id": [f"a{k}" for k in range(n)],
        "author_account_age_days": 500,
        "created_at": pd.Timestamp("2026-11-23T10:00:00Z"),
    }
    base.update(cols)
    return pd.DataFrame(base)


def by(det, detector):
    return det[det["detector_id"] == detector].set_index("item_id")


def test_normalisation_folds_obfuscation():
    out = normalise(pd.Series(["V3RM\u200bIN!!", "veeeermin", "Ｖｅｒｍｉｎ"])).text.tolist()
    assert len(set(out)) == 1


def test_case_folding_by_table_is_str_casefold_code_point_by_code_point():
    """The fold reads case folding from a table; texts with code points that fold to several (ß, ﬁ, ŉ) or
    that `lower()` treats by context (final sigma) normalise as casefolding the text first would."""
    from modsweep.tasks import text

    texts = ["Straße STRASSE", "ﬁne ﬂow", "ŉ İstanbul", "ΟΔΟΣ οδος", "plain ascii", "", "mixed ß\u200b ΣΑΣ"]
    expected = []
    for t in texts:
        folded = text._fold_table()[np.frombuffer(t.casefold().encode("utf-32-le"), dtype=np.uint32)]
        folded = folded[folded != text._DROP]
        keep = np.ones(len(folded), dtype=bool)
        keep[1:] = folded[1:] != folded[:-1]
        expected.append(" " + folded[keep].tobytes().decode("utf-32-le").strip(" ") + " ")
    assert normalise(pd.Series(texts)).text.tolist() == expected
    assert normalise(pd.Series(["Straße"])).text.tolist() == normalise(pd.Series(["STRASSE"])).text.tolist()


def test_media_hashes_parse_as_int_would():
    from modsweep.tasks.detect import hex_to_uint64

    values, valid = hex_to_uint64(
        pd.Series(["ffffffffffffffff", " 0123456789ABCDEF ", "xyz", None, "00000000000000ff"])
    )
    assert valid.tolist() == [True, True, False, False, True]
    assert values.tolist() == [2**64 - 1, 0x0123456789ABCDEF, 0, 0, 255]


def test_scoring_in_chunks_gives_the_partition_result(bank):
    """Workers score a partition a slice at a time (memory); every detector is per item, so nothing changes."""
    frame = items(
        ["you are v3rmin", "get free followers at bit.ly/abc", "5G towers spread coronavirus!", "ok", "vermin", "x"],
        hashtags=[["#PurgeThem"], [], [], [], [], ["#purgethem"]],
        media_hash=[None, None, None, "00ff00ff00ff00fe", None, None],
        user_reports=[0, 6, 0, 0, 0, 3],
        report_reasons=[[], ["spam", "spam"], [], [], [], ["hate"]],
    )
    whole = detect_partition(frame, bank, "r")
    key = ["item_id", "policy_id", "detector_id"]
    for chunk_rows in (1, 4, 0):
        chunked = detect_in_chunks(frame, bank, "r", chunk_rows=chunk_rows)
        pd.testing.assert_frame_equal(
            chunked.sort_values(key, ignore_index=True), whole.sort_values(key, ignore_index=True)
        )
    assert len(whole) >= 6


def test_lexicon_is_word_boundary_aware_and_reports_terms(bank):
    det = detect_partition(items(["you are v3rmin", "vermintide is a game", "subhuman  SCUM", "fine"]), bank, "r")
    lex = by(det, "hate-lex")
    assert set(lex.index) == {"i0", "i2"}
    assert json.loads(lex.loc["i0", "evidence"])["terms"] == ["vermin"]
    assert lex.loc["i2", "score"] == pytest.approx(0.95)


def test_hashtags_regex_claims_hashes_reports_and_provenance(bank):
    frame = items(
        ["nothing", "get free followers at bit.ly/abc", "5G towers spread coronavirus!", "ok", "pic", "hi"],
        hashtags=[["#PurgeThem"], [], [], [], [], []],
        media_hash=[None, None, None, "00ff00ff00ff00fe", "ffffffffffffffff", "zz"],
        user_reports=[0, 6, 0, 0, 0, 0],
        report_reasons=[[], ["spam", "spam"], [], [], [], []],
        ai_provenance=[None, None, None, None, "c2pa:dall-e-3", "c2pa:firefly"],
        ai_disclosed=[False, False, False, False, False, True],
    )
    det = detect_partition(frame, bank, "r")
    assert list(by(det, "hate-tags").index) == ["i0"]
    assert json.loads(by(det, "links").loc["i1", "evidence"])["patterns"] == ["bit\\.ly/\\w+", "free followers"]
    claim = json.loads(by(det, "claims").loc["i2", "evidence"])
    assert claim["claim_id"] == "c1" and claim["similarity"] >= 0.5
    media = by(det, "known-media")
    assert list(media.index) == ["i3"] and json.loads(media.loc["i3", "evidence"])["hamming_distance"] == 1
    assert list(by(det, "reports").index) == ["i1"]
    assert list(by(det, "provenance").index) == ["i4"]  # disclosed AI media is fine
    assert det["score"].between(0, 1).all() and (det["run_id"] == "r").all()


def test_bad_text_never_crashes_and_scores_nothing(bank):
    frame = items(["", None, "   ", "\ud800 lone surrogate", "x" * 50_000])
    det = detect_partition(frame, bank, "r", max_chars=1_000)
    assert det.empty or det["score"].between(0, 1).all()


def test_coordination_finds_bursts_across_partitions_only_with_many_young_accounts(bank):
    t0 = pd.Timestamp("2026-11-23T10:00:00Z")
    template = "vote is rigged share before they delete this now please"
    burst = items(
        [template.replace("now", w) for w in ["now", "today", "now", "asap", "now", "quick", "now", "today"]],
        author_account_age_days=3,
        created_at=[t0 + pd.Timedelta(minutes=k) for k in range(8)],
    )
    burst["item_id"] = [f"b{k}" for k in range(8)]
    old = items([template] * 8, author_account_age_days=900)  # established accounts are not candidates
    slow = items(
        [f"{template} x"] * 8, author_account_age_days=3, created_at=[t0 + pd.Timedelta(hours=k + 1) for k in range(8)]
    )
    slow["item_id"] = [f"s{k}" for k in range(8)]
    slow["author_id"] = [f"slow{k}" for k in range(8)]
    sigs = pd.concat([coordination_signatures(p, 30) for p in (burst.iloc[:4], burst.iloc[4:], old, slow)])
    det = cluster_coordination(sigs, bank, "r")
    assert set(det["item_id"]) == {f"b{k}" for k in range(8)}
    ev = json.loads(det["evidence"].iloc[0])
    assert ev["accounts"] == 8 and ev["cluster_size"] == 8 and ev["span_minutes"] == 7.0


def test_truncation_is_flagged_in_evidence(bank):
    det = detect_partition(items(["x " * 600 + "vermin"]), bank, "r", max_chars=1_000)
    assert det.empty  # the term sits beyond the limit
    det = detect_partition(items(["vermin " + "x " * 600]), bank, "r", max_chars=1_000)
    assert json.loads(by(det, "hate-lex").loc["i0", "evidence"])["truncated"] is True


def test_machine_text_signal_flags_only_undisclosed_items(tmp_path):
    from modsweep.tasks.train import train_text_policy_model

    rng = np.random.default_rng(0)
    human = [f"lol my cat {w} again today {k}" for k, w in enumerate(rng.choice(["slept", "ate", "ran", "hid"], 300))]
    machine = [
        f"as an ai language model i can {w} this topic comprehensively {k}"
        for k, w in enumerate(rng.choice(["explain", "summarise", "outline", "discuss", "analyse"], 300))
    ]
    texts = pd.Series(human + machine)
    labels = pd.DataFrame({"aigc.machine_text": [False] * 300 + [True] * 300})
    model = train_text_policy_model(texts, labels, source="test").model
    (tmp_path / "pack.yaml").write_text(
        'pack: t\nversion: "1"\npolicies:\n  - id: aigc.undisclosed\n    title: AI\n    severity: 2\n'
        "    dsa: {category: STATEMENT_CATEGORY_OTHER_VIOLATION_TC}\n"
        "    detectors: [{id: ai, kind: aigc, params: {text_label: aigc.machine_text, text_weight: 0.7}}]\n"
        "    bands: [{min_score: 0.5, action: escalate}]\n"
    )
    bank = build_detector_bank(load_pack(str(tmp_path / "pack.yaml")), model, "v-test")
    frame = items(
        ["as an ai language model i can explain this topic comprehensively"] * 2 + ["lol my cat slept again"],
        ai_disclosed=[False, True, False],
    )
    det = detect_partition(frame, bank, "r")
    text_hits = by(det, "ai:machine-text")
    assert list(text_hits.index) == ["i0"]
    assert json.loads(text_hits.loc["i0", "evidence"])["machine_text_p"] > 0.5
    assert text_hits.loc["i0", "detector_version"] == "v-test"


def test_regex_runs_in_arrow_re2_and_falls_back_to_python_for_lookaround():
    import re

    import pyarrow as pa

    from modsweep.tasks.detect import regex_hits, runs_in_re2

    texts = [
        "Get FREE followers now",
        "free  likes",
        "freedom likes",
        "",
        "verify your account via link here",
        "paid 50 usdt, got 100 back",
        "nothing",
    ]
    arrow = pa.array(texts, type=pa.large_string())
    for pattern in (
        r"\b(?:free|cheap)\s+(?:followers|likes|views)\b",
        r"\d+\s*usdt\b.{0,40}\bback\b",
        r"\b(?:verify|confirm)\b.{0,30}\b(?:account|payment|login)\b.{0,30}\b(?:here|link)\b",
    ):
        assert runs_in_re2(pattern)
        expected = [re.search(pattern, t, re.IGNORECASE) is not None for t in texts]
        assert regex_hits(arrow, pattern).tolist() == expected
    lookahead = r"free(?!dom)"
    assert not runs_in_re2(lookahead)
    assert regex_hits(arrow, lookahead).tolist() == [True, True, False, False, False, False, False]


def test_row_max_matches_dense_max_and_first_argmax():
    from scipy import sparse

    from modsweep.tasks.detect import row_max

    m = sparse.random(500, 40, density=0.05, format="csr", random_state=1, dtype=np.float64)
    m.data = np.round(m.data, 1)  # ties: the lowest column wins, as numpy's argmax
    best, which = row_max(m)
    dense = m.toarray()
    assert np.allclose(best, dense.max(axis=1))
    hit = dense.max(axis=1) > 0
    assert (which[hit] == dense.argmax(axis=1)[hit]).all() and hit.sum() > 50


def test_similar_pairs_are_the_same_whatever_the_chunk():
    """MinHash pairs are compared a chunk at a time (memory); the kept pairs do not depend on the chunk."""
    from modsweep.tasks.detect import MINHASH_PERMUTATIONS, similar_pairs

    rng = np.random.default_rng(3)
    minhash = rng.integers(0, 4, size=(50, MINHASH_PERMUTATIONS), dtype=np.uint32)
    minhash[10] = minhash[11]  # one identical pair
    s, d = rng.integers(0, 50, 400), rng.integers(0, 50, 400)
    s[0], d[0] = 10, 11
    whole = similar_pairs(minhash, s, d, 0.4, chunk=10_000)
    for chunk in (1, 7, 64):
        got = similar_pairs(minhash, s, d, 0.4, chunk=chunk)
        assert all(np.array_equal(x, y) for x, y in zip(got, whole, strict=True))
    expected = (minhash[s] == minhash[d]).mean(axis=1) >= 0.4
    assert np.array_equal(whole[0], s[expected]) and (10, 11) in set(zip(*whole, strict=True))
