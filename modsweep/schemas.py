"""Canonical data contracts (DESIGN §3, §5) as pyarrow schemas and enums, shared by every stage and test."""

from __future__ import annotations

import pyarrow as pa

ITEM_TYPES: tuple[str, ...] = ("video", "comment", "live", "image", "text_post", "ad")
ACTIONS: tuple[str, ...] = ("label", "reduce_reach", "age_restrict", "remove", "escalate")
AUTOMATED_ACTIONS: tuple[str, ...] = ("label", "reduce_reach", "age_restrict", "remove")
POLICY_IDS: tuple[str, ...] = (
    "misinfo.medical",
    "civic.election_integrity",
    "aigc.undisclosed",
    "hate.speech",
    "violent_extremism",
    "self_harm",
    "minor_safety",
    "deceptive.spam",
    "deceptive.coordinated",
)
TASK_REASONS: tuple[str, ...] = ("review_band", "qa_actioned", "qa_unactioned", "golden", "prevalence", "appeal")
TASK_STATUSES: tuple[str, ...] = ("open", "claimed", "decided", "expired", "carried_over")
TRIGGERS: tuple[str, ...] = ("schedule", "manual", "surge", "backfill", "shadow")
REVIEW_LABELS: tuple[str, ...] = ("violating", "benign")
# EU/EEA member states (DSA territorial scope) plus the other regions modsweep serves.
EEA_REGIONS: tuple[str, ...] = (
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
    "IS",
    "LI",
    "NO",
)
LANGUAGES: tuple[str, ...] = ("en", "es", "pt", "fr", "de", "hi", "it", "pl", "nl")

_ts = pa.timestamp("us", tz="UTC")

# Ingest output: one row per accepted content item.
ITEMS = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("item_type", pa.string(), nullable=False),
        pa.field("author_id", pa.string(), nullable=False),
        pa.field("created_at", _ts, nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("transcript", pa.string()),
        pa.field("ocr_text", pa.string()),
        pa.field("hashtags", pa.list_(pa.string())),
        pa.field("media_hash", pa.string()),
        pa.field("ai_disclosed", pa.bool_(), nullable=False),
        pa.field("ai_provenance", pa.string()),
        pa.field("author_account_age_days", pa.int32(), nullable=False),
        pa.field("author_followers", pa.int64(), nullable=False),
        pa.field("views", pa.int64(), nullable=False),
        pa.field("user_reports", pa.int32(), nullable=False),
        pa.field("report_reasons", pa.list_(pa.string())),
    ]
)
ITEM_COLUMNS: tuple[str, ...] = tuple(ITEMS.names)
TEXT_COLUMNS: tuple[str, ...] = ("text", "transcript", "ocr_text")

# Rows that failed row-level checks; `raw` keeps the whole original row as JSON so nothing is lost.
QUARANTINE = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("row_number", pa.int64(), nullable=False),
        pa.field("item_id", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("raw", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)
QUARANTINE_REASONS: tuple[str, ...] = (
    "null_item_id",
    "duplicate_item_id",
    "bad_timestamp",
    "outside_window",
    "missing_value",
    "invalid_enum",
    "invalid_value",
    "undecodable_text",
    "oversize_text",
    "schema_mismatch",
    "unreadable_file",
)

# Generator ground truth, kept apart from the items: one row per (item, violated policy).
TRUTH = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("policy_id", pa.string(), nullable=False),
        pa.field("campaign_id", pa.string()),
    ]
)

# One row per item × policy × detector that fired (scores below the detector's floor are not stored).
DETECTIONS = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("policy_id", pa.string(), nullable=False),
        pa.field("detector_id", pa.string(), nullable=False),
        pa.field("detector_version", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("evidence", pa.string(), nullable=False),  # JSON
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

# One row per item × policy with an action (no row means no action).
DECISIONS = pa.schema(
    [
        pa.field("decision_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("policy_id", pa.string(), nullable=False),
        pa.field("policy_version", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("automated", pa.bool_(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("threshold", pa.float32(), nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("item_type", pa.string(), nullable=False),
        pa.field("views", pa.int64(), nullable=False),
        pa.field("user_reports", pa.int32(), nullable=False),
        pa.field("created_at", _ts, nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("run_key", pa.string(), nullable=False),
        pa.field("decided_at", _ts, nullable=False),
        pa.field("decision_visibility", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("category_specification", pa.list_(pa.string())),
        pa.field("automated_detection", pa.bool_(), nullable=False),
        pa.field("automated_decision", pa.string(), nullable=False),
        pa.field("territorial_scope", pa.list_(pa.string())),
    ]
)

REVIEW_TASKS = pa.schema(
    [
        pa.field("task_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("policy_id", pa.string(), nullable=False),
        pa.field("queue", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("stratum", pa.string(), nullable=False),
        pa.field("inclusion_prob", pa.float64(), nullable=False),
        pa.field("replica", pa.int8(), nullable=False),
        pa.field("priority", pa.float64(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("action", pa.string()),  # the automated action under QA, if any
        pa.field("region", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("views", pa.int64(), nullable=False),
        pa.field("due_by", _ts, nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("created_at", _ts, nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("run_key", pa.string(), nullable=False),
    ]
)

# Tidy metric rows for SQL/BI users.
METRICS = pa.schema(
    [
        pa.field("day", pa.date32(), nullable=False),
        pa.field("policy_id", pa.string(), nullable=False),
        pa.field("region", pa.string(), nullable=False),  # "ALL" for the roll-up
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("ci_low", pa.float64()),
        pa.field("ci_high", pa.float64()),
        pa.field("n", pa.int64(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)


# Actor risk of one decided part (DESIGN §10): the items whose author has active strikes or a priority multiplier.
ACTOR_SIGNALS = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("active_weight", pa.float64(), nullable=False),
        pa.field("actor_risk", pa.float64(), nullable=False),
        pa.field("escalate_offset", pa.float64(), nullable=False),
    ]
)

# The emerging-risk radar (DESIGN §11): a day's compact signal counts (its baseline for later days) and its trends.
TREND_AGGREGATES = pa.schema(
    [
        pa.field("day", pa.date32(), nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("signal", pa.string(), nullable=False),
        pa.field("items", pa.int64(), nullable=False),
        pa.field("views", pa.int64(), nullable=False),
        pa.field("young_items", pa.int64(), nullable=False),
    ]
)
TRENDS = pa.schema(
    [
        pa.field("day", pa.date32(), nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("signal", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("volume", pa.int64(), nullable=False),
        pa.field("expected", pa.float64(), nullable=False),
        pa.field("baseline_items", pa.int64(), nullable=False),
        pa.field("baseline_days", pa.int32(), nullable=False),
        pa.field("z", pa.float64(), nullable=False),
        pa.field("p_value", pa.float64(), nullable=False),
        pa.field("q_value", pa.float64(), nullable=False),
        pa.field("reach", pa.int64(), nullable=False),
        pa.field("authors", pa.int64(), nullable=False),
        pa.field("young_share", pa.float64(), nullable=False),
        pa.field("top_policy", pa.string()),
        pa.field("top_overlap", pa.float64(), nullable=False),
        pa.field("overlap", pa.string(), nullable=False),
        pa.field("risk", pa.float64(), nullable=False),
        pa.field("same_as", pa.string()),
        pa.field("rank_reach", pa.int32(), nullable=False),
        pa.field("rank_risk", pa.int32(), nullable=False),
        pa.field("examples", pa.string(), nullable=False),
        pa.field("accounts", pa.string(), nullable=False),
        pa.field("suggestion", pa.string()),
        pa.field("patch", pa.string()),
    ]
)


def empty_table(schema: pa.Schema) -> pa.Table:
    """A zero-row table of ``schema``."""
    return schema.empty_table()
