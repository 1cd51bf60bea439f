"""The synthetic generator: determinism, contract, planted violations, campaigns, dirty rows, lexicons, writer."""

from __future__ import annotations

import hashlib
import itertools
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import ahocorasick
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modsweep.schemas import ITEM_COLUMNS, ITEM_TYPES, LANGUAGES, POLICY_IDS, TRUTH
from modsweep.tasks import generate as gen
from modsweep.tasks.generate import (
    DIRTY_KINDS,
    RAW_ITEMS,
    GeneratorParams,
    dirty_counts,
    dirty_plan,
    generate_chunk,
    write_synthetic_day,
)
from modsweep.tasks.text import combined_text, normalise, normalise_terms

DAY = date(2026, 11, 23)
ROWS = 20_000
LEXICON_DIR = Path(__file__).resolve().parents[1] / "policies" / "community-guidelines" / "lexicons"
GOOD_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
NAIVE_TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


@pytest.fixture(scope="module")
def chunk() -> tuple[pd.DataFrame, pd.DataFrame]:
    """One 20k-row chunk with default parameters, as frames (items, truth)."""
    items, truth = generate_chunk(DAY, ROWS, 11, 0, GeneratorParams())
    return items.to_pandas(), truth.to_pandas()


@pytest.fixture(scope="module")
def two_chunks() -> list[tuple[pa.Table, pa.Table]]:
    """Chunks 0 and 1 of a two-chunk day (10k rows each): cross-chunk duplicates and the split campaign."""
    return [generate_chunk(DAY, 10_000, 5, c, GeneratorParams(), n_chunks=2) for c in range(2)]


def lexicon(policy: str) -> list[tuple[str, float]]:
    """A lexicon file's (term, weight) entries, read the way the pack reads resources."""
    lines = (LEXICON_DIR / f"{policy}.txt").read_text(encoding="utf-8").splitlines()
    entries = []
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            term, weight = line.split("\t")
            entries.append((term, float(weight)))
    return entries


def clean_ids(items: pd.DataFrame, chunk_index: int, seed: int, params: GeneratorParams) -> set[str]:
    codes = dirty_plan(DAY, len(items), seed, chunk_index, params)
    return set(items["item_id"].to_numpy()[codes < 0])


# --- determinism and contract -----------------------------------------------------------------------------


def test_same_seed_gives_equal_tables() -> None:
    a = generate_chunk(DAY, 5_000, 3, 2, GeneratorParams())
    b = generate_chunk(DAY, 5_000, 3, 2, GeneratorParams())
    assert a[0].equals(b[0]) and a[1].equals(b[1])


def test_different_seed_or_day_gives_different_tables() -> None:
    base = generate_chunk(DAY, 5_000, 3, 0, GeneratorParams())[0]
    other_seed = generate_chunk(DAY, 5_000, 4, 0, GeneratorParams())[0]
    other_day = generate_chunk(DAY + timedelta(days=1), 5_000, 3, 0, GeneratorParams())[0]
    assert base["text"] != other_seed["text"]
    assert base["author_id"] != other_seed["author_id"]
    assert not set(base["item_id"].drop_null().to_pylist()) & set(other_day["item_id"].drop_null().to_pylist())


def test_raw_items_follow_the_raw_source_contract(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    items, _ = generate_chunk(DAY, 2_000, 11, 0, GeneratorParams())
    assert items.schema.equals(RAW_ITEMS)
    assert tuple(items.column_names) == ITEM_COLUMNS
    assert items.schema.field("created_at").type == pa.string()
    assert items.schema.field("item_id").nullable
    assert items.schema.field("views").type == pa.int64()
    assert items.schema.field("user_reports").type == pa.int64()
    frame, _ = chunk
    assert set(frame["source"]) == {"synthetic"}


def test_item_ids_are_unique_across_chunks(two_chunks: list[tuple[pa.Table, pa.Table]]) -> None:
    own = [
        {i for i in t["item_id"].drop_null().to_pylist() if i.split("-")[1] == f"{c:05d}"}
        for c, (t, _) in enumerate(two_chunks)
    ]
    assert not own[0] & own[1]


def test_good_timestamps_are_iso_utc_within_the_window() -> None:
    params = GeneratorParams(window_hours=(18, 24), dirty_share=0)
    items = generate_chunk(DAY, 3_000, 1, 0, params)[0].to_pandas()
    assert items["created_at"].str.match(GOOD_TS).all()
    stamps = pd.to_datetime(items["created_at"], utc=True, format="ISO8601")
    start = datetime(DAY.year, DAY.month, DAY.day, 18, tzinfo=UTC)
    assert (stamps >= start).all() and (stamps < start + timedelta(hours=6)).all()


# --- population -------------------------------------------------------------------------------------------


def test_regions_languages_and_item_types_are_covered(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    items, _ = chunk
    assert {"DE", "FR", "ES", "IT", "PL", "NL", "US", "IN", "BR"} <= set(items["region"])
    assert len(set(items["language"]) & set(LANGUAGES)) >= 6
    assert set(ITEM_TYPES) <= set(items["item_type"])


def test_languages_are_correlated_with_regions(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    items, _ = chunk
    share = items.groupby("region")["language"].value_counts(normalize=True)
    assert share["DE"]["de"] > 0.8
    assert share["BR"]["pt"] > 0.8
    assert share["IN"].get("hi", 0) + share["IN"].get("en", 0) > 0.95
    assert share["US"].get("es", 0) > 0.05


def test_author_activity_is_zipf_like(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    counts = chunk[0]["author_id"].value_counts()
    top = counts.iloc[: max(1, len(counts) // 100)].sum()
    assert top / counts.sum() > 0.15  # uniform activity would give ~1-2 %
    assert counts.iloc[0] >= 20


def test_views_are_heavy_tailed_and_authors_plausible(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    items, _ = chunk
    views = items.loc[items["views"] >= 0, "views"]
    assert views.quantile(0.99) > 20 * views.median()
    assert views.max() > 500 * views.median()
    assert (items["author_followers"] >= 0).all() and items["author_followers"].max() > 10_000
    assert (items["author_account_age_days"] >= 0).all()
    assert (items["author_account_age_days"] < 30).mean() > 0.005


def test_media_fields_follow_item_type(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    items = chunk[0][chunk[0]["item_type"].isin(ITEM_TYPES)]  # not the invalid-enum dirty rows
    kind = items["item_type"]
    media = items.loc[kind.isin(["image", "video"]), "media_hash"]
    assert media.notna().all() and media.str.fullmatch(r"[0-9a-f]{16}").all()
    assert items.loc[kind.isin(["comment", "text_post", "live"]), "media_hash"].isna().all()
    assert items.loc[kind.isin(["video", "live"]), "transcript"].notna().all()
    assert items.loc[~kind.isin(["video", "live"]), "transcript"].isna().all()
    ocr = items.loc[kind == "image", "ocr_text"].notna().mean()
    assert 0.2 < ocr < 0.7
    assert items.loc[kind != "image", "ocr_text"].isna().all()
    assert items["hashtags"].map(len).gt(0).mean() > 0.3


# --- planted violations -----------------------------------------------------------------------------------


def test_every_policy_is_planted_near_its_rate(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, truth = chunk
    counts = truth["policy_id"].value_counts()
    for policy, rate in GeneratorParams().violation_rates.items():
        expected = rate * ROWS
        got = counts.get(policy, 0)
        if policy == "deceptive.coordinated":  # whole campaigns of 12-40 posts: lumpy by design
            assert expected / 4 <= got <= expected * 4, policy
        else:
            assert abs(got - expected) <= 4 * expected**0.5 + 3, (policy, got, expected)
    assert set(counts.index) == set(POLICY_IDS)


def test_violation_rates_are_a_parameter() -> None:
    params = GeneratorParams(violation_rates={"minor_safety": 0.03, "deceptive.spam": 0.0})
    truth = generate_chunk(DAY, 10_000, 2, 0, params)[1].to_pandas()
    counts = truth["policy_id"].value_counts()
    assert counts.get("deceptive.spam", 0) == 0
    assert 200 <= counts["minor_safety"] <= 400
    assert params.violation_rates["hate.speech"] == gen.DEFAULT_VIOLATION_RATES["hate.speech"]


def test_truth_is_apart_and_names_only_clean_items(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    items, truth = chunk
    assert pa.Table.from_pandas(truth, preserve_index=False).schema.names == TRUTH.names
    assert not set(truth.columns) & (set(ITEM_COLUMNS) - {"item_id"})
    assert set(truth["item_id"]) <= clean_ids(items, 0, 11, GeneratorParams())
    assert not truth.duplicated(["item_id", "policy_id"]).any()
    coordinated = truth["policy_id"] == "deceptive.coordinated"
    assert truth.loc[coordinated, "campaign_id"].notna().all()
    assert truth.loc[~coordinated, "campaign_id"].isna().all()


def test_undisclosed_ai_items_have_provenance_and_no_disclosure(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    items, truth = chunk
    by_id = items.drop_duplicates("item_id").set_index("item_id")
    undisclosed = by_id.loc[truth.loc[truth["policy_id"] == "aigc.undisclosed", "item_id"]]
    assert len(undisclosed) > 0
    assert undisclosed["ai_provenance"].notna().all() and not undisclosed["ai_disclosed"].any()
    assert undisclosed["ai_provenance"].str.match(r"^(c2pa|synthid):").all()
    with_provenance = items["ai_provenance"].notna()
    assert (with_provenance & items["ai_disclosed"]).sum() > 0  # disclosed: fine
    assert (~with_provenance & items["ai_disclosed"]).sum() > 0  # self-labelled without metadata
    assert items.loc[with_provenance, "item_type"].isin(["image", "video", "ad"]).all()


def test_violating_items_get_more_reports_but_most_get_none(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    items, truth = chunk
    items = items[items["item_id"].notna() & ~items["item_id"].duplicated(keep=False)]
    violating = items["item_id"].isin(truth["item_id"])
    reports = items["user_reports"]
    assert reports[violating].mean() > 10 * reports[~violating].mean()
    assert (reports[violating] == 0).mean() > 0.5
    assert 0 < (reports[~violating] > 0).mean() < 0.05
    reported = items[(reports > 0)]
    assert (reported["report_reasons"].map(len) > 0).all()
    assert (items.loc[reports == 0, "report_reasons"].map(len) == 0).all()
    spam_ids = truth.loc[truth["policy_id"] == "deceptive.spam", "item_id"]
    spam = reported[reported["item_id"].isin(spam_ids)]["report_reasons"].explode()
    assert spam.isin(["spam", "scam"]).mean() > 0.6


def test_some_violating_text_is_obfuscated(chunk: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    items, truth = chunk
    text = combined_text(items[items["item_id"].isin(truth["item_id"])])
    assert text.str.contains("\u200b").sum() > 5
    assert text.str.contains(r"[a-z][013@$][a-z]", regex=True).sum() > 5
    assert text.map(lambda s: re.search(r"([a-z])\1\1", s) is not None).sum() > 5


# --- campaigns --------------------------------------------------------------------------------------------


def _tokens(text: str) -> set[str]:
    norm = normalise(pd.Series([re.sub(r"#\w+", " ", text)])).text.iloc[0]
    return {t for t in norm.split() if len(t) > 2 and not t.isdigit()}


def test_campaigns_are_near_duplicates_from_many_young_accounts_within_minutes(
    chunk: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    items, truth = chunk
    members = truth[truth["policy_id"] == "deceptive.coordinated"].merge(items.drop_duplicates("item_id"), on="item_id")
    assert members["campaign_id"].nunique() >= 1
    for _, camp in members.groupby("campaign_id"):
        assert camp["author_id"].nunique() >= 10
        assert (camp["author_account_age_days"] < 30).all()
        stamps = pd.to_datetime(camp["created_at"], utc=True, format="ISO8601")
        assert stamps.max() - stamps.min() <= timedelta(minutes=GeneratorParams().campaign_window_minutes)
        token_sets = [_tokens(t) for t in camp["text"]]
        jaccard = [len(a & b) / len(a | b) for a, b in itertools.combinations(token_sets, 2)]
        assert np.median(jaccard) >= 0.75 and min(jaccard) >= 0.5
        assert camp["text"].nunique() > len(camp) / 2  # near-, not exact, duplicates


def test_one_campaign_spans_two_chunks(two_chunks: list[tuple[pa.Table, pa.Table]]) -> None:
    halves = []
    for items, truth in two_chunks:
        t = truth.to_pandas()
        bridge = t[t["campaign_id"].str.endswith("bridge", na=False)]
        halves.append(bridge.merge(items.to_pandas().drop_duplicates("item_id"), on="item_id"))
    assert all(0 < len(h) < 8 for h in halves)  # too few in either chunk alone for min_accounts=8
    both = pd.concat(halves)
    assert both["author_id"].nunique() >= 10
    assert (both["author_account_age_days"] < 30).all()
    single = generate_chunk(DAY, 10_000, 5, 0, GeneratorParams(), n_chunks=1)[1].to_pandas()
    assert not single["campaign_id"].str.endswith("bridge", na=False).any()


# --- dirty rows -------------------------------------------------------------------------------------------


def _observed_dirty(items: pd.DataFrame, chunk_index: int) -> dict[str, int]:
    """Dirty rows per kind recognised from the data alone, as ingest would see them."""
    ids = items["item_id"]
    own_chunk = ids.str.split("-").str[1] == f"{chunk_index:05d}"
    created = items["created_at"]
    text = items["text"].fillna("")

    def repairs(s: str) -> bool:
        try:
            return s.encode("cp1252").decode("utf-8") != s
        except (UnicodeEncodeError, UnicodeDecodeError):
            return False

    invalid = (
        ~items["item_type"].isin(ITEM_TYPES)
        | ~items["region"].isin(list(gen.REGION_LANGUAGES))
        | ~items["language"].isin(LANGUAGES)
    )
    return {
        "null_item_id": int(ids.isna().sum()),
        "duplicate_item_id": int((ids.notna() & ids.duplicated()).sum() + (ids.notna() & ~own_chunk).sum()),
        "bad_timestamp": int((~created.str.match(GOOD_TS) & ~created.str.match(NAIVE_TS)).sum()),
        "naive_timestamp": int(created.str.match(NAIVE_TS).sum()),
        "invalid_enum": int(invalid.sum()),
        "mojibake_text": int(text.map(repairs).sum()),
        "undecodable_text": int(text.str.contains("\ufffd").sum()),
        "negative_views": int((items["views"] < 0).sum()),
        "oversize_text": int((text.str.len() > 1_000_000).sum()),
    }


def test_dirty_rows_per_kind_are_near_the_configured_share() -> None:
    params = GeneratorParams(dirty_share=0.05)
    n = 10_000
    chunk0 = generate_chunk(DAY, n, 9, 0, params, n_chunks=2)[0].to_pandas()
    chunk1 = generate_chunk(DAY, n, 9, 1, params, n_chunks=2)[0].to_pandas()
    planned = dirty_counts(dirty_plan(DAY, n, 9, 1, params))
    assert _observed_dirty(chunk1, 1) == planned
    assert planned["oversize_text"] == 1
    per_kind = (n * 0.05 - 1) / (len(DIRTY_KINDS) - 1)
    for kind, count in planned.items():
        if kind != "oversize_text":
            assert abs(count - per_kind) <= 4 * per_kind**0.5, (kind, count)
    # duplicates: exact same-chunk re-deliveries and ids of clean rows of the previous chunk
    ids = chunk1["item_id"]
    cross = ids[ids.notna() & (ids.str.split("-").str[1] == "00000")]
    assert len(cross) > 0 and set(cross) <= clean_ids(chunk0, 0, 9, params)
    same = chunk1[ids.notna() & ids.duplicated(keep=False)].drop(columns=["hashtags", "report_reasons"])
    assert len(same) > 0 and same.astype(str).duplicated(keep=False).all()


def test_dirty_values_look_like_real_defects() -> None:
    params = GeneratorParams(dirty_share=0.05)
    items = generate_chunk(DAY, 10_000, 9, 0, params)[0].to_pandas()
    codes = dirty_plan(DAY, 10_000, 9, 0, params)
    kind = pd.Series([DIRTY_KINDS[c] if c >= 0 else None for c in codes])
    bad = set(items.loc[kind == "bad_timestamp", "created_at"])
    assert bad <= {"not-a-date", "2026-13-45T25:00:00Z", "", "31/02/2026 25:61", "yesterday"}
    assert pd.to_datetime(items.loc[kind == "naive_timestamp", "created_at"], format="%Y-%m-%d %H:%M:%S").notna().all()
    mojibake = items.loc[kind == "mojibake_text", "text"]
    repaired = [s.encode("cp1252").decode("utf-8") for s in mojibake]
    assert len(repaired) > 0 and all(r != s and "Ã" not in r for r, s in zip(repaired, mojibake, strict=True))
    oversize = items.loc[kind == "oversize_text", "text"]
    assert len(oversize) == 1 and len(oversize.iloc[0]) > 1_000_000


def test_no_dirty_rows_and_no_oversize_when_share_is_zero() -> None:
    params = GeneratorParams(dirty_share=0)
    items = generate_chunk(DAY, 5_000, 9, 1, params)[0].to_pandas()
    assert _observed_dirty(items, 1) == dict.fromkeys(DIRTY_KINDS, 0)


# --- lexicons ---------------------------------------------------------------------------------------------


def test_lexicon_files_exist_for_word_based_policies_only() -> None:
    expected = set(POLICY_IDS) - {"aigc.undisclosed", "deceptive.coordinated"}
    assert {p.stem for p in LEXICON_DIR.glob("*.txt")} == expected
    for policy in expected:
        entries = lexicon(policy)
        assert len(entries) >= 30
        keys = normalise_terms([t for t, _ in entries])
        assert all(0 < w <= 1 and t.strip() and k.strip() for (t, w), k in zip(entries, keys, strict=True))
        sections = re.findall(r"^# --- (\w\w) ---$", (LEXICON_DIR / f"{policy}.txt").read_text(), re.M)
        assert len(sections) >= 6


def test_lexicon_holds_only_part_of_the_phrasebook() -> None:
    for policy in gen.TEXT_POLICIES:
        terms = {t for t, _ in lexicon(policy)}
        phrases = [p.lower() for ps in gen.phrasebook(policy).values() for p in ps]
        share = sum(p in terms for p in phrases) / len(phrases)
        assert 0.45 <= share <= 0.75, (policy, share)


def _automaton(policies: tuple[str, ...]) -> ahocorasick.Automaton:
    auto = ahocorasick.Automaton()
    for policy in policies:
        entries = lexicon(policy)
        for (term, weight), key in zip(entries, normalise_terms([t for t, _ in entries]), strict=True):
            auto.add_word(key, (*auto.get(key, ()), (policy, term, weight)))
    auto.make_automaton()
    return auto


def test_every_lexicon_term_occurs_in_a_violating_text() -> None:
    rates = dict.fromkeys(gen.TEXT_POLICIES, 0.03)
    items, truth = generate_chunk(DAY, ROWS, 13, 0, GeneratorParams(violation_rates=rates))
    items, truth = items.to_pandas(), truth.to_pandas()
    for policy in gen.TEXT_POLICIES:
        ids = truth.loc[truth["policy_id"] == policy, "item_id"]
        texts = normalise(combined_text(items[items["item_id"].isin(ids)])).text
        corpus = "\x01".join(texts)
        terms = [t for t, _ in lexicon(policy)]
        missing = [t for t, k in zip(terms, normalise_terms(terms), strict=True) if k not in corpus]
        assert not missing, (policy, missing)


def test_benign_confusers_hit_the_lexicons_about_as_often_as_violations(
    chunk: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    items, truth = chunk
    auto = _automaton(gen.TEXT_POLICIES)
    items = items[items["item_id"].notna() & ~items["item_id"].duplicated(keep=False)]
    norm = normalise(combined_text(items)).text.tolist()
    hit = np.array([any(True for _ in auto.iter(t)) for t in norm])
    violating = items["item_id"].isin(truth.loc[truth["policy_id"].isin(gen.TEXT_POLICIES), "item_id"]).to_numpy()
    recall = hit[violating].mean()
    assert 0.5 < recall < 0.9  # the lexicon misses part of the phrasebook
    false_hits, true_hits = (hit & ~violating).sum(), (hit & violating).sum()
    assert 0.5 * true_hits < false_hits < 3 * true_hits


# --- parameters -------------------------------------------------------------------------------------------


def test_params_reject_unknown_policies_regions_and_windows() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        GeneratorParams(violation_rates={"nudity": 0.01})
    with pytest.raises(ValueError, match="no language mix"):
        GeneratorParams(region_weights={"ZZ": 1.0})
    with pytest.raises(ValueError, match="window_hours"):
        GeneratorParams(window_hours=(10, 5))
    with pytest.raises(ValueError):
        GeneratorParams(campaign_size_min=5)


# --- the chunked writer -----------------------------------------------------------------------------------


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.parquet"))
    }


def test_write_synthetic_day_writes_one_file_per_chunk_and_never_a_whole_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = gen.generate_chunk

    def recording(*args: object, **kwargs: object) -> tuple[pa.Table, pa.Table]:
        sizes.append(args[1])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gen, "generate_chunk", recording)
    summary = write_synthetic_day(tmp_path, DAY, 25_000, seed=8, partition_rows=10_000)
    assert sizes == [10_000, 10_000, 5_000]
    items_dir = tmp_path / "items" / "date=2026-11-23"
    truth_dir = tmp_path / "truth" / "date=2026-11-23"
    assert sorted(p.name for p in items_dir.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert sorted(p.name for p in truth_dir.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in items_dir.iterdir()) == 25_000
    truth = pq.read_table(truth_dir).to_pandas()
    assert summary.partitions == 3 and summary.rows == 25_000
    assert summary.violations == {p: int((truth["policy_id"] == p).sum()) for p in POLICY_IDS}
    assert summary.campaigns == truth["campaign_id"].nunique()
    assert any(c.endswith("bridge") for c in truth["campaign_id"].dropna())
    planned = [dirty_counts(dirty_plan(DAY, n, 8, c, GeneratorParams())) for c, n in enumerate(sizes)]
    assert summary.dirty == {k: sum(p[k] for p in planned) for k in DIRTY_KINDS}
    assert pq.read_schema(items_dir / "part-00000.parquet").equals(RAW_ITEMS, check_metadata=False)


def test_regenerating_a_day_is_byte_identical_and_drops_stale_parts(tmp_path: Path) -> None:
    write_synthetic_day(tmp_path, DAY, 12_000, seed=4, partition_rows=4_000)
    first = _digests(tmp_path)
    write_synthetic_day(tmp_path, DAY, 12_000, seed=4, partition_rows=4_000)
    assert _digests(tmp_path) == first and len(first) == 9  # items, truth and golden, three parts each
    write_synthetic_day(tmp_path, DAY, 5_000, seed=4, partition_rows=4_000)
    assert sorted(_digests(tmp_path)) == [
        f"{d}/date=2026-11-23/part-0000{i}.parquet" for d in ("golden", "items", "truth") for i in range(2)
    ]
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]


def test_known_media_reuploads_are_near_duplicates_of_the_pack_hash_lists():
    from modsweep.policy import load_pack
    from modsweep.tasks.generate import KNOWN_MEDIA_POLICIES, known_media_hashes, render_hash_list

    pack = load_pack("community-guidelines")
    items, truth = generate_chunk(date(2026, 11, 23), 60_000, 5, 0, GeneratorParams())
    frame = items.to_pandas()
    for policy in KNOWN_MEDIA_POLICIES:
        assert pack.resources[f"community-guidelines/lists/{policy}-hashes.txt"] == render_hash_list(policy)
        known = np.array(known_media_hashes(policy), dtype=np.uint64)
        ids = set(truth.to_pandas().query("policy_id == @policy")["item_id"])
        hashes = frame.loc[frame["item_id"].isin(ids) & frame["media_hash"].notna(), "media_hash"]
        values = np.array([int(h, 16) for h in hashes], dtype=np.uint64)
        near = np.bitwise_count(values[:, None] ^ known[None, :]).min(axis=1) <= 3
        assert near.any()
        benign = frame.loc[~frame["item_id"].isin(ids) & frame["media_hash"].notna(), "media_hash"].head(5_000)
        bvalues = np.array([int(h, 16) for h in benign], dtype=np.uint64)
        assert not (np.bitwise_count(bvalues[:, None] ^ known[None, :]).min(axis=1) <= 6).any()


def test_golden_set_holds_known_labels_of_clean_items_only():
    from modsweep.tasks.generate import golden_set

    params = GeneratorParams()
    items, truth = generate_chunk(DAY, 20_000, 3, 0, params)
    codes = dirty_plan(DAY, 20_000, 3, 0, params)
    golden = golden_set(items, truth, codes, seed=3, share=0.1).to_pandas()
    t = truth.to_pandas()
    positives = golden[golden["label"] == "violating"]
    assert len(positives) == round(0.1 * len(t)) and len(golden) == 2 * len(positives)
    violating = set(zip(t["item_id"], t["policy_id"], strict=True))
    assert all((i, p) in violating for i, p in zip(positives["item_id"], positives["policy_id"], strict=True))
    negatives = golden[golden["label"] == "benign"]
    assert not any((i, p) in violating for i, p in zip(negatives["item_id"], negatives["policy_id"], strict=True))
    dirty_ids = set(items["item_id"].to_numpy(zero_copy_only=False)[codes >= 0])
    assert not dirty_ids & set(negatives["item_id"])
