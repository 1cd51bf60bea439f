"""DSA statements of reasons (Art. 17 / Art. 24(5)) for the EU Transparency Database, and the period summary.

Field names and values follow the Transparency Database API v2 (in force since 1 July 2025:
``resources/markdown/api-documentation-two.md`` and ``additional-explanation-for-statement-attributes.md`` of
github.com/digital-services-act/transparency-database). Pure functions: frames in, statements / dicts out. The
command line (``modsweep.cli_audit``) reads the store and lake, then writes the files.

Which decisions become statements
    Every enforcement decision (action ≠ ``escalate``) plus every escalation a reviewer later confirmed
    (review task with reason ``review_band``, label ``violating`` and an enforcing ``final_action``), whose
    decision has an EU/EEA territorial scope. Decisions of ``shadow`` runs enforce nothing and are skipped.
    When several runs of one day decided the same item and policy (a surge run over the daily sweep's window),
    one statement is written for the strongest action applied (ties: earliest, then lowest decision id).

How the less obvious fields are derived
    ``source_type``: the item had user reports (``user_reports`` > 0) *and* a ``reports`` detector of the policy
    fired for it → a notice started the investigation: ``SOURCE_ARTICLE_16`` for an illegal-content ground,
    ``SOURCE_TYPE_OTHER_NOTIFICATION`` for a terms-and-conditions ground (the database's explanation: "notifications
    of incompatibility with terms and conditions that do not qualify as notices under Article 16"). Otherwise
    ``SOURCE_VOLUNTARY`` (own initiative: our detectors found it).
    ``automated_detection``: "Yes" when a detector other than ``reports`` fired for the item and policy.
    ``automated_decision``: ``AUTOMATED_DECISION_FULLY`` for actions applied by the pipeline,
    ``AUTOMATED_DECISION_PARTIALLY`` for reviewer-confirmed escalations (an automated score put the item in the
    review band; a person decided on its infringing nature).
    ``content_type``: from ``item_type``; ``CONTENT_TYPE_SYNTHETIC_MEDIA`` is added for items whose
    ``aigc.undisclosed`` decision was enforced (undisclosed AI-generated media).
    ``puid``: ``modsweep-<decision_id>``: deterministic, unique per decision, never re-used.
    Category and keywords come from the decision (recorded from the pack at decision time); values of the
    pre-July-2025 schema are mapped to their v2 replacement (``LEGACY_CATEGORIES``, ``LEGACY_KEYWORDS``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from modsweep.policy import ACTION_SEVERITY, DSA_CATEGORIES, DSA_KEYWORDS, PolicyPack
from modsweep.schemas import AUTOMATED_ACTIONS, EEA_REGIONS
from modsweep.tasks.decide import ACTION_VISIBILITY

# --------------------------------------------------------------------------- Transparency Database API v2 values

DECISION_VISIBILITIES: tuple[str, ...] = (
    "DECISION_VISIBILITY_CONTENT_REMOVED",
    "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_LABELLED",
    "DECISION_VISIBILITY_OTHER",
)
DECISION_GROUND_ILLEGAL = "DECISION_GROUND_ILLEGAL_CONTENT"
DECISION_GROUND_INCOMPATIBLE = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
DECISION_GROUNDS: tuple[str, ...] = (DECISION_GROUND_ILLEGAL, DECISION_GROUND_INCOMPATIBLE)
CONTENT_TYPES: tuple[str, ...] = (
    "CONTENT_TYPE_APP",
    "CONTENT_TYPE_AUDIO",
    "CONTENT_TYPE_IMAGE",
    "CONTENT_TYPE_PRODUCT",
    "CONTENT_TYPE_SYNTHETIC_MEDIA",
    "CONTENT_TYPE_TEXT",
    "CONTENT_TYPE_VIDEO",
    "CONTENT_TYPE_OTHER",
)
CATEGORIES: tuple[str, ...] = DSA_CATEGORIES  # one list, kept in modsweep/policy.py
KEYWORDS: tuple[str, ...] = DSA_KEYWORDS  # one list, kept in modsweep/policy.py
# Pre-July-2025 (v1) values the pack may still hold → their v2 replacement (the database's v2 changelog).
LEGACY_CATEGORIES: dict[str, str] = {
    "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS": "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
}
LEGACY_KEYWORDS: dict[str, str] = {
    "KEYWORD_MISINFORMATION": "KEYWORD_MISINFORMATION_DISINFORMATION",
    "KEYWORD_DISINFORMATION": "KEYWORD_MISINFORMATION_DISINFORMATION",
    "KEYWORD_FOREIGN_INFORMATION_MANIPULATION": "KEYWORD_MISINFORMATION_DISINFORMATION",
    "KEYWORD_INSUFFICIENT_INFORMATION_TRADERS": "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
}
SOURCE_TYPES: tuple[str, ...] = (
    "SOURCE_ARTICLE_16",
    "SOURCE_TRUSTED_FLAGGER",
    "SOURCE_TYPE_OTHER_NOTIFICATION",
    "SOURCE_VOLUNTARY",
)
AUTOMATED_DETECTIONS: tuple[str, ...] = ("Yes", "No")
AUTOMATED_DECISIONS: tuple[str, ...] = (
    "AUTOMATED_DECISION_FULLY",
    "AUTOMATED_DECISION_PARTIALLY",
    "AUTOMATED_DECISION_NOT_AUTOMATED",
)
# The database's EUROPEAN_COUNTRY_CODES (EU 27 + IS, LI, NO); Greece is GR.
TERRITORIAL_SCOPE_CODES: tuple[str, ...] = tuple(sorted(EEA_REGIONS))
# ISO 639-1, upper case, as the database's EuropeanLanguagesService::ALL_LANGUAGES accepts them.
_ISO_639_1_CODES = (
    "AB AA AF AK SQ AM AR AN HY AS AV AE AY AZ BM BA EU BE BN BH BI BS BR BG MY CA KM CH CE NY ZH CU CV KW CO CR HR "
    "CS DA DV NL DZ EN EO ET EE FO FJ FI FR FF GD GL LG KA DE KI EL KL GN GU HT HA HE HZ HI HO HU IS IO IG ID IA IE "
    "IU IK GA IT JA JV KN KR KS KK RW KV KG KO KJ KU KY LO LA LV LB LI LN LT LU MK MG MS ML MT GV MI MR MH RO MN NA "
    "NV ND NG NE SE NO NB NN II OC OJ OR OM OS PI PA PS FA PL PT QU RM RN RU SM SG SA SC SR SN SD SI SK SL SO ST NR "
    "ES SU SW SS SV TL TY TG TA TT TE TH BO TI TO TS TN TR TK TW UG UK UR UZ VE VI VO WA CY FY WO XH YI YO ZA ZU"
)
ISO_639_1: frozenset[str] = frozenset(_ISO_639_1_CODES.split())
PUID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,500}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_FACTS = 5_000
MAX_GROUND = 500
MAX_EXPLANATION = 2_000
MAX_OTHER = 500
API_BATCH_SIZE = 100  # the multiple-statements endpoint takes at most 100 per call

# item_type → content_type; an ad is "other" with its nature named, as the database asks.
ITEM_CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    "video": ("CONTENT_TYPE_VIDEO",),
    "live": ("CONTENT_TYPE_VIDEO",),
    "image": ("CONTENT_TYPE_IMAGE",),
    "comment": ("CONTENT_TYPE_TEXT",),
    "text_post": ("CONTENT_TYPE_TEXT",),
    "ad": ("CONTENT_TYPE_OTHER",),
}
CONTENT_TYPE_OTHER_TEXT: dict[str, str] = {"ad": "Advertisement"}
VISIBILITY_OTHER_TEXT: dict[str, str] = {"escalate": "Referred to human review; visibility unchanged pending review"}
# Legal grounds for policies whose pack entry says DECISION_GROUND_ILLEGAL_CONTENT but names none
# (DsaSpec has no field for it yet): the EU instruments those policies enforce.
DEFAULT_LEGAL_GROUNDS: dict[str, str] = {
    "violent_extremism": "Regulation (EU) 2021/784 on addressing the dissemination of terrorist content online; "
    "Directive (EU) 2017/541 on combating terrorism, Art. 5 (public provocation to commit a terrorist offence)",
    "minor_safety": "Directive 2011/93/EU on combating the sexual abuse and sexual exploitation of children, "
    "Art. 6 (solicitation of children for sexual purposes)",
}
SYNTHETIC_POLICY = "aigc.undisclosed"
# Evidence keys never copied into a statement (Art. 24(5): no personal data).
_PERSONAL_KEY = re.compile(r"author|user_?id|account_?id|reviewer|email|phone|ip_?addr|handle|username", re.I)

FLAT_COLUMNS: tuple[str, ...] = (
    "puid",
    "decision_visibility",
    "decision_visibility_other",
    "decision_ground",
    "illegal_content_legal_ground",
    "illegal_content_explanation",
    "incompatible_content_ground",
    "incompatible_content_explanation",
    "category",
    "category_specification",
    "category_specification_other",
    "content_type",
    "content_type_other",
    "content_language",
    "content_date",
    "territorial_scope",
    "application_date",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
)


# --------------------------------------------------------------------------- the statement and its validation


def _in(value: str, allowed: Collection[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not an allowed {what} value")
    return value


def _unique_members(values: list[str], allowed: Collection[str], what: str, *, required: bool) -> list[str]:
    if required and not values:
        raise ValueError("must hold at least one value")
    for v in values:
        _in(v, allowed, what)
    if len(set(values)) != len(values):
        raise ValueError("values repeat")
    return values


def _date_from(value: str, earliest: date) -> str:
    if not DATE_RE.match(value):
        raise ValueError("must be YYYY-MM-DD")
    if date.fromisoformat(value) < earliest:
        raise ValueError(f"must be on or after {earliest.isoformat()}")
    return value


class Statement(BaseModel):
    """One statement of reasons, exactly as the API's statement endpoints take it (``model_dump(exclude_none=True)``).

    Field order is the output order. Cross-field rules (a field required or excluded by another) live in the
    later field's validator, so errors name the field that is wrong.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    puid: str
    decision_visibility: list[str]
    decision_visibility_other: str | None = Field(default=None, validate_default=True)
    decision_ground: str
    illegal_content_legal_ground: str | None = Field(default=None, validate_default=True)
    illegal_content_explanation: str | None = Field(default=None, validate_default=True)
    incompatible_content_ground: str | None = Field(default=None, validate_default=True)
    incompatible_content_explanation: str | None = Field(default=None, validate_default=True)
    category: str
    category_specification: list[str] | None = None
    category_specification_other: str | None = Field(default=None, validate_default=True)
    content_type: list[str]
    content_type_other: str | None = Field(default=None, validate_default=True)
    content_language: str | None = None
    content_date: str
    territorial_scope: list[str]
    application_date: str
    decision_facts: str
    source_type: str
    automated_detection: str
    automated_decision: str

    @field_validator("puid")
    @classmethod
    def _puid(cls, v: str) -> str:
        if not PUID_RE.match(v):
            raise ValueError("must be 1-500 characters of a-z, A-Z, 0-9, '-' and '_'")
        return v

    @field_validator("decision_visibility")
    @classmethod
    def _visibility(cls, v: list[str]) -> list[str]:
        return _unique_members(v, DECISION_VISIBILITIES, "decision_visibility", required=True)

    @field_validator("decision_visibility_other")
    @classmethod
    def _visibility_other(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _conditional_text(
            v,
            "DECISION_VISIBILITY_OTHER" in info.data.get("decision_visibility", []),
            MAX_OTHER,
            "decision_visibility contains DECISION_VISIBILITY_OTHER",
        )

    @field_validator("decision_ground")
    @classmethod
    def _ground(cls, v: str) -> str:
        return _in(v, DECISION_GROUNDS, "decision_ground")

    @field_validator("illegal_content_legal_ground", "illegal_content_explanation")
    @classmethod
    def _illegal(cls, v: str | None, info: ValidationInfo) -> str | None:
        limit = MAX_GROUND if info.field_name == "illegal_content_legal_ground" else MAX_EXPLANATION
        return _conditional_text(
            v,
            info.data.get("decision_ground") == DECISION_GROUND_ILLEGAL,
            limit,
            f"decision_ground is {DECISION_GROUND_ILLEGAL}",
        )

    @field_validator("incompatible_content_ground", "incompatible_content_explanation")
    @classmethod
    def _incompatible(cls, v: str | None, info: ValidationInfo) -> str | None:
        limit = MAX_GROUND if info.field_name == "incompatible_content_ground" else MAX_EXPLANATION
        return _conditional_text(
            v,
            info.data.get("decision_ground") == DECISION_GROUND_INCOMPATIBLE,
            limit,
            f"decision_ground is {DECISION_GROUND_INCOMPATIBLE}",
        )

    @field_validator("category")
    @classmethod
    def _category(cls, v: str) -> str:
        return _in(v, CATEGORIES, "category")

    @field_validator("category_specification")
    @classmethod
    def _keywords(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _unique_members(v, KEYWORDS, "category_specification", required=True)

    @field_validator("category_specification_other")
    @classmethod
    def _keyword_other(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and "KEYWORD_OTHER" not in (info.data.get("category_specification") or []):
            raise ValueError("only allowed when category_specification contains KEYWORD_OTHER")
        if v is not None and not 0 < len(v) <= MAX_OTHER:
            raise ValueError(f"must be 1-{MAX_OTHER} characters")
        return v

    @field_validator("content_type")
    @classmethod
    def _content_type(cls, v: list[str]) -> list[str]:
        return _unique_members(v, CONTENT_TYPES, "content_type", required=True)

    @field_validator("content_type_other")
    @classmethod
    def _content_type_other(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _conditional_text(
            v,
            "CONTENT_TYPE_OTHER" in info.data.get("content_type", []),
            MAX_OTHER,
            "content_type contains CONTENT_TYPE_OTHER",
        )

    @field_validator("content_language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        return None if v is None else _in(v, ISO_639_1, "content_language (upper-case ISO 639-1)")

    @field_validator("content_date")
    @classmethod
    def _content_date(cls, v: str) -> str:
        return _date_from(v, date(2000, 1, 1))

    @field_validator("application_date")
    @classmethod
    def _application_date(cls, v: str) -> str:
        return _date_from(v, date(2020, 1, 1))

    @field_validator("territorial_scope")
    @classmethod
    def _scope(cls, v: list[str]) -> list[str]:
        return _unique_members(v, TERRITORIAL_SCOPE_CODES, "territorial_scope (EU/EEA country)", required=True)

    @field_validator("decision_facts")
    @classmethod
    def _facts(cls, v: str) -> str:
        if not 0 < len(v) <= MAX_FACTS:
            raise ValueError(f"must be 1-{MAX_FACTS} characters")
        return v

    @field_validator("source_type")
    @classmethod
    def _source(cls, v: str) -> str:
        return _in(v, SOURCE_TYPES, "source_type")

    @field_validator("automated_detection")
    @classmethod
    def _detection(cls, v: str) -> str:
        return _in(v, AUTOMATED_DETECTIONS, "automated_detection")

    @field_validator("automated_decision")
    @classmethod
    def _decision(cls, v: str) -> str:
        return _in(v, AUTOMATED_DECISIONS, "automated_decision")

    def to_api(self) -> dict[str, Any]:
        """The request body of one statement (absent optional fields left out)."""
        return self.model_dump(exclude_none=True)


def _conditional_text(v: str | None, required: bool, limit: int, when: str) -> str | None:
    if required:
        if v is None or not v.strip():
            raise ValueError(f"required when {when}")
        if len(v) > limit:
            raise ValueError(f"must be at most {limit} characters (got {len(v)})")
        return v
    if v is not None:
        raise ValueError(f"only allowed when {when}")
    return v


@dataclass(frozen=True)
class StatementProblem:
    """A statement that failed validation: which decision, which field, why."""

    puid: str
    decision_id: str
    field: str
    message: str

    def describe(self) -> str:
        return f"{self.puid}: {self.field}: {self.message}"


def validate_statement(
    candidate: Mapping[str, Any], decision_id: str = "", model: type[Statement] | None = None
) -> Statement | list[StatementProblem]:
    """A ``Statement`` (or ``model``'s, e.g. an account statement), or the problems that keep ``candidate`` from
    being one (one per failing field)."""
    try:
        return (model or Statement).model_validate(dict(candidate))
    except ValidationError as exc:
        puid = str(candidate.get("puid", ""))
        return [
            StatementProblem(
                puid,
                decision_id,
                ".".join(str(p) for p in e["loc"]) or "statement",
                e["msg"].removeprefix("Value error, "),
            )
            for e in exc.errors()
        ]


def statements_frame(statements: Iterable[Statement | Mapping[str, Any]]) -> pd.DataFrame:
    """A flat frame for the ``dsa.statements`` gate: one row per statement, arrays joined with ','."""
    rows = []
    for s in statements:
        doc = s.to_api() if isinstance(s, Statement) else dict(s)
        rows.append({c: ",".join(doc[c]) if isinstance(doc.get(c), list) else doc.get(c) for c in FLAT_COLUMNS})
    frame = pd.DataFrame(rows, columns=list(FLAT_COLUMNS))
    return frame.astype(object).where(frame.notna(), None)


def to_json_line(statement: Statement) -> str:
    """Compact, deterministic JSON (field order fixed by the model, UTF-8 kept as is but U+2028/U+2029 escaped, so
    no line reader splits a statement)."""
    text = json.dumps(statement.to_api(), ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def api_batches(statements: list[Statement], size: int = API_BATCH_SIZE) -> list[dict[str, Any]]:
    """Request bodies for the multiple-statements endpoint: ``{"statements": [...]}`` of at most ``size`` each."""
    if not 0 < size <= API_BATCH_SIZE:
        raise ValueError(f"batch size must be 1-{API_BATCH_SIZE}")
    return [{"statements": [s.to_api() for s in statements[i : i + size]]} for i in range(0, len(statements), size)]


# --------------------------------------------------------------------------- policies as the export needs them


@dataclass(frozen=True)
class PolicyInfo:
    """What a statement needs from a policy of the pack a decision was taken with."""

    policy_id: str
    title: str
    pack: str
    decision_ground: str = DECISION_GROUND_INCOMPATIBLE
    incompatible_content_ground: str | None = None
    illegal_content_legal_ground: str | None = None
    detector_kinds: Mapping[str, str] = field(default_factory=dict)


def policy_infos(pack: PolicyPack) -> dict[str, PolicyInfo]:
    """Per policy id: title, DSA ground and detector kinds (profile extras included)."""
    out: dict[str, PolicyInfo] = {}
    for p in pack.policies():
        ground_text = getattr(p.dsa, "illegal_content_legal_ground", None) or DEFAULT_LEGAL_GROUNDS.get(p.id)
        out[p.id] = PolicyInfo(
            policy_id=p.id,
            title=p.title,
            pack=f"{pack.name} {pack.version}",
            decision_ground=p.dsa.decision_ground,
            incompatible_content_ground=p.dsa.incompatible_content_ground,
            illegal_content_legal_ground=ground_text,
            detector_kinds={d.id: d.kind for d in p.detectors},
        )
    return out


def fallback_policy(policy_id: str) -> PolicyInfo:
    """For a decision whose pack can no longer be loaded: a terms-and-conditions ground naming the policy."""
    return PolicyInfo(policy_id=policy_id, title=policy_id, pack="community guidelines")


def detector_kind(detector_id: str, detector_version: str, kinds: Mapping[str, str]) -> str:
    """The pack's kind of a detector (``aigc-x:machine-text`` is a signal of ``aigc-x``); by version otherwise."""
    base = detector_id.split(":", 1)[0]
    if base in kinds:
        return kinds[base]
    for kind in ("reports", "aigc"):
        if detector_version.startswith(f"{kind}-"):
            return kind
    return "automated"


# --------------------------------------------------------------------------- which decisions need a statement

ENFORCED_EXTRA_COLUMNS: tuple[str, ...] = ("applied_action", "applied_at", "reviewed", "review_task_id")


def enforced_decisions(
    decisions: pd.DataFrame, tasks: pd.DataFrame, skip_run_ids: Collection[str] = ()
) -> pd.DataFrame:
    """Decisions that restricted content: automated actions, plus escalations a reviewer confirmed.

    Adds ``applied_action`` (the action or the reviewer's final action), ``applied_at`` (decided_at or the review's
    decided_at), ``reviewed`` and ``review_task_id``. One row per item × policy (strongest action; ties: earliest,
    then lowest decision id), ordered by item then policy. Decisions of ``skip_run_ids`` (shadow runs) are dropped.
    """
    if decisions.empty:
        return decisions.assign(**{c: pd.Series(dtype=object) for c in ENFORCED_EXTRA_COLUMNS})
    d = decisions[~decisions["run_id"].isin(list(skip_run_ids))]
    auto = d[d["action"] != "escalate"].assign(
        applied_action=lambda f: f["action"],
        applied_at=lambda f: pd.to_datetime(f["decided_at"], utc=True),
        reviewed=False,
        review_task_id=None,
    )
    confirmed = _confirmed_escalations(d[d["action"] == "escalate"], tasks)
    parts = [f for f in (auto, confirmed) if len(f)]
    if not parts:
        return auto
    both = pd.concat(parts, ignore_index=True)
    both = both.assign(_severity=both["applied_action"].map(ACTION_SEVERITY).fillna(0))
    both = both.sort_values(
        ["item_id", "policy_id", "_severity", "applied_at", "decision_id"],
        ascending=[True, True, False, True, True],
        kind="mergesort",
    )
    both = both.drop_duplicates(["item_id", "policy_id"], keep="first").drop(columns="_severity")
    return both.reset_index(drop=True)


def _confirmed_escalations(escalations: pd.DataFrame, tasks: pd.DataFrame) -> pd.DataFrame:
    if escalations.empty or tasks.empty:
        return escalations.iloc[0:0].assign(applied_action=None, applied_at=None, reviewed=True, review_task_id=None)
    t = tasks[
        (tasks["reason"] == "review_band")
        & (tasks["status"] == "decided")
        & (tasks["label"] == "violating")
        & tasks["final_action"].isin(AUTOMATED_ACTIONS)
        & tasks["decided_at"].notna()
    ]
    t = t.sort_values(["decided_at", "task_id"], kind="mergesort").drop_duplicates(["run_key", "item_id", "policy_id"])
    t = t[["run_key", "item_id", "policy_id", "final_action", "decided_at", "task_id"]].rename(
        columns={"final_action": "applied_action", "decided_at": "applied_at", "task_id": "review_task_id"}
    )
    out = escalations.merge(t, on=["run_key", "item_id", "policy_id"], how="inner")
    out["applied_at"] = pd.to_datetime(out["applied_at"], utc=True)
    return out.assign(reviewed=True)


def in_dsa_scope(enforced: pd.DataFrame) -> pd.DataFrame:
    """Rows whose territorial scope holds at least one EU/EEA country (others need no statement)."""
    if enforced.empty:
        return enforced
    keep = [bool(set(_as_list(s)) & set(TERRITORIAL_SCOPE_CODES)) for s in enforced["territorial_scope"]]
    return enforced[np.asarray(keep, dtype=bool)].reset_index(drop=True)


def synthetic_media_items(enforced: pd.DataFrame) -> frozenset[str]:
    """Items found to be undisclosed AI-generated media (an enforced ``aigc.undisclosed`` decision)."""
    if enforced.empty:
        return frozenset()
    return frozenset(enforced.loc[enforced["policy_id"] == SYNTHETIC_POLICY, "item_id"].astype(str))


def _as_list(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def normalise_category(category: str) -> str:
    """A v1 category → its v2 replacement (v2 values unchanged)."""
    return LEGACY_CATEGORIES.get(category, category)


def normalise_keywords(keywords: Iterable[str]) -> list[str]:
    """v1 keywords → v2, duplicates dropped, order kept."""
    out: list[str] = []
    for k in keywords:
        k = LEGACY_KEYWORDS.get(k, k)
        if k not in out:
            out.append(k)
    return out


# --------------------------------------------------------------------------- building statements


def build_statement(
    row: Mapping[str, Any],
    detections: pd.DataFrame,
    policy: PolicyInfo,
    *,
    synthetic: bool = False,
    redact: Collection[str] = (),
) -> dict[str, Any]:
    """The statement of one enforced decision (a candidate: ``validate_statement`` decides whether it is valid).

    ``detections``: the detections of this item × policy in the decision's run (item_id, policy_id, detector_id,
    detector_version, score, evidence). ``redact``: strings never to appear in free text (the author's id).
    """
    action = str(row["applied_action"])
    reviewed = bool(row.get("reviewed", False))
    visibility = [ACTION_VISIBILITY.get(action, "DECISION_VISIBILITY_OTHER")]
    kinds = [
        detector_kind(str(d), str(v), policy.detector_kinds)
        for d, v in zip(detections.get("detector_id", []), detections.get("detector_version", []), strict=True)
    ]
    reports_fired = "reports" in kinds
    if len(kinds):
        automated_detection = any(k != "reports" for k in kinds)
    else:  # detections no longer in the lake: what the decision recorded
        automated_detection = bool(row.get("automated_detection", True))
    notice = reports_fired and int(row.get("user_reports") or 0) > 0
    ground = policy.decision_ground
    item_type = str(row.get("item_type") or "")
    content_types = list(ITEM_CONTENT_TYPES.get(item_type, ("CONTENT_TYPE_OTHER",)))
    if synthetic:
        content_types.append("CONTENT_TYPE_SYNTHETIC_MEDIA")
    content_types = sorted(set(content_types), key=CONTENT_TYPES.index)
    keywords = normalise_keywords(_as_list(row.get("category_specification")))
    facts = decision_facts(row, detections, policy, redact=redact)
    explanation = _clip(_ground_explanation(row, policy), MAX_EXPLANATION)
    statement: dict[str, Any] = {
        "puid": puid_for(str(row["decision_id"])),
        "decision_visibility": visibility,
        "decision_visibility_other": VISIBILITY_OTHER_TEXT.get(action, f"Action '{action}'")
        if "DECISION_VISIBILITY_OTHER" in visibility
        else None,
        "decision_ground": ground,
        "category": normalise_category(str(row["category"])),
        "category_specification": keywords or None,
        "category_specification_other": _clip(policy.title, MAX_OTHER) if "KEYWORD_OTHER" in keywords else None,
        "content_type": content_types,
        "content_type_other": CONTENT_TYPE_OTHER_TEXT.get(item_type, item_type or "Unspecified content")
        if "CONTENT_TYPE_OTHER" in content_types
        else None,
        "content_language": str(row["language"]).upper() if row.get("language") else None,
        "content_date": _utc_day(row["created_at"]),
        "territorial_scope": sorted(set(_as_list(row.get("territorial_scope"))) & set(TERRITORIAL_SCOPE_CODES)),
        "application_date": _utc_day(row["applied_at"]),
        "decision_facts": facts,
        "source_type": ("SOURCE_ARTICLE_16" if ground == DECISION_GROUND_ILLEGAL else "SOURCE_TYPE_OTHER_NOTIFICATION")
        if notice
        else "SOURCE_VOLUNTARY",
        "automated_detection": "Yes" if automated_detection else "No",
        "automated_decision": "AUTOMATED_DECISION_PARTIALLY" if reviewed else "AUTOMATED_DECISION_FULLY",
    }
    if ground == DECISION_GROUND_ILLEGAL:
        statement["illegal_content_legal_ground"] = policy.illegal_content_legal_ground  # None fails validation
        statement["illegal_content_explanation"] = explanation
    else:
        statement["incompatible_content_ground"] = _clip(
            policy.incompatible_content_ground
            or f"Community guidelines, policy {policy.policy_id} ({policy.title}); policy pack {policy.pack}",
            MAX_GROUND,
        )
        statement["incompatible_content_explanation"] = explanation
    return statement


def puid_for(decision_id: str) -> str:
    """Deterministic and unique per decision: ``modsweep-<decision_id>``."""
    return f"modsweep-{decision_id}"


ACTION_WORDS: dict[str, str] = {
    "remove": "removed",
    "reduce_reach": "demoted (reduced reach in feeds and recommendations)",
    "age_restrict": "age-restricted",
    "label": "labelled",
    "escalate": "referred to human review",
}


def decision_facts(
    row: Mapping[str, Any], detections: pd.DataFrame, policy: PolicyInfo, *, redact: Collection[str] = ()
) -> str:
    """What was detected and why the action followed, in at most 5,000 characters and without personal data."""
    action = str(row["applied_action"])
    score, threshold = float(row["score"]), float(row["threshold"])
    lines = [
        f"The {_item_noun(row)} was {ACTION_WORDS.get(action, action)} under the policy {policy.policy_id} "
        f"({policy.title}), policy pack version {row.get('policy_version', '')}.",
    ]
    if bool(row.get("reviewed", False)):
        lines.append(
            f"Its policy score {score:.2f} reached {threshold:.2f}, the lower bound of the human-review band in force "
            f"for {row.get('region', '')}; a trained reviewer confirmed the violation and chose this action on "
            f"{_utc_day(row['applied_at'])}."
        )
    else:
        lines.append(
            f"Its policy score {score:.2f} reached {threshold:.2f}, the lower bound of the '{action}' band in force "
            f"for {row.get('region', '')}; the action was applied automatically."
        )
    signals = _signal_lines(detections)
    if signals:
        lines.append("Signals (detector, version, weighted score: evidence): " + "; ".join(signals) + ".")
    reports = int(row.get("user_reports") or 0)
    lines.append(f"User reports on the item: {reports}." if reports else "No user had reported the item.")
    text = " ".join(lines)
    for secret in sorted({s for s in redact if s}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return _clip(text, MAX_FACTS)


def _item_noun(row: Mapping[str, Any]) -> str:
    return {"text_post": "post", "live": "live stream", "ad": "advertisement"}.get(
        str(row.get("item_type")), str(row.get("item_type") or "item")
    )


def _signal_lines(detections: pd.DataFrame, limit: int = 10) -> list[str]:
    if detections is None or detections.empty:
        return []
    d = detections.sort_values(["score", "detector_id"], ascending=[False, True], kind="mergesort").head(limit)
    out = []
    for det, version, score, evidence in zip(
        d["detector_id"], d["detector_version"], d["score"], d["evidence"], strict=True
    ):
        summary = evidence_summary(evidence)
        out.append(f"{det} ({version}, {float(score):.2f})" + (f": {summary}" if summary else ""))
    return out


def evidence_summary(evidence: Any, limit: int = 300) -> str:
    """``key=value`` pairs of a detection's JSON evidence, personal keys dropped, at most ``limit`` characters."""
    try:
        data = json.loads(evidence) if isinstance(evidence, str) else evidence
    except (TypeError, ValueError):
        return ""
    if not isinstance(data, Mapping):
        return ""
    parts = []
    for key in sorted(data):
        if _PERSONAL_KEY.search(str(key)):
            continue
        value = data[key]
        if isinstance(value, list | tuple):
            shown = "[" + ", ".join(str(v) for v in value[:8]) + (", …" if len(value) > 8 else "") + "]"
        elif isinstance(value, float):
            shown = f"{value:g}"
        else:
            shown = str(value)
        parts.append(f"{key}={shown}")
    return _clip(", ".join(parts), limit)


def _ground_explanation(row: Mapping[str, Any], policy: PolicyInfo) -> str:
    how = "a trained reviewer confirmed" if bool(row.get("reviewed", False)) else "automated detection established"
    if policy.decision_ground == DECISION_GROUND_ILLEGAL:
        return (
            f"The content was assessed as {policy.title.lower()} ({policy.policy_id}), illegal under "
            f"{policy.illegal_content_legal_ground or 'the legal ground stated'}; {how} the violation with a "
            f"policy score of {float(row['score']):.2f}."
        )
    return (
        f"The content breaches the '{policy.title}' rules ({policy.policy_id}) of the community guidelines "
        f"(policy pack {policy.pack}); {how} the violation with a policy score of {float(row['score']):.2f}."
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _utc_day(value: Any) -> str:
    ts = pd.Timestamp(value)
    return (ts.tz_convert("UTC") if ts.tzinfo else ts).date().isoformat()


@dataclass
class StatementBatch:
    """Valid statements (in order) and the problems of the rejected ones."""

    statements: list[Statement] = field(default_factory=list)
    problems: list[StatementProblem] = field(default_factory=list)
    decision_ids: list[str] = field(default_factory=list)


def build_statements(
    enforced: pd.DataFrame,
    detections: pd.DataFrame,
    policies: Mapping[str, Mapping[str, PolicyInfo]],
    *,
    author_ids: Mapping[str, str] | None = None,
) -> StatementBatch:
    """Statements for every EU/EEA-scoped row of ``enforced_decisions`` (in its order), each validated.

    ``detections`` carries ``run_key`` with the detection columns; ``policies`` maps run id → policy id → info;
    ``author_ids`` maps item id → author id, redacted from the free text.
    """
    scoped = in_dsa_scope(enforced)
    synthetic = synthetic_media_items(enforced)
    by_key: dict[tuple[str, str, str], pd.DataFrame] = {}
    if detections is not None and len(detections):
        for key, group in detections.groupby(["run_key", "item_id", "policy_id"], sort=False):
            by_key[(str(key[0]), str(key[1]), str(key[2]))] = group
    empty = pd.DataFrame(columns=["item_id", "policy_id", "detector_id", "detector_version", "score", "evidence"])
    authors = author_ids or {}
    out = StatementBatch()
    for row in scoped.to_dict("records"):
        run_policies = policies.get(str(row["run_id"]), {})
        policy = run_policies.get(str(row["policy_id"])) or fallback_policy(str(row["policy_id"]))
        found = by_key.get((str(row["run_key"]), str(row["item_id"]), str(row["policy_id"])), empty)
        author = authors.get(str(row["item_id"]))
        candidate = build_statement(
            row, found, policy, synthetic=str(row["item_id"]) in synthetic, redact=[author] if author else []
        )
        result = validate_statement(candidate, str(row["decision_id"]))
        if isinstance(result, Statement):
            out.statements.append(result)
            out.decision_ids.append(str(row["decision_id"]))
        else:
            out.problems.extend(result)
    return out


# --------------------------------------------------------------------------- the period summary


def transparency_summary(enforced: pd.DataFrame, start: date, end: date) -> dict[str, Any]:
    """Actions in [start, end]: by DSA category and action, automated share, time to action, territorial scope.

    ``enforced`` is ``enforced_decisions`` over the period (every region). Time to action is the applied time minus
    the item's ``created_at``; the category is the v2 value.
    """
    n = len(enforced)
    doc: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat(), "actions": n}
    if n == 0:
        return doc | {
            "automated": 0,
            "reviewed": 0,
            "automated_share": None,
            "median_hours_to_action": None,
            "p90_hours_to_action": None,
            "by_action": {},
            "by_category": {},
            "by_category_and_action": {},
            "by_territorial_scope": {},
            "outside_eea": 0,
        }
    category = enforced["category"].astype(str).map(normalise_category)
    action = enforced["applied_action"].astype(str)
    reviewed = enforced["reviewed"].astype(bool)
    hours = pd.to_datetime(enforced["applied_at"], utc=True) - pd.to_datetime(enforced["created_at"], utc=True)
    hours = hours.dt.total_seconds() / 3600
    scopes: dict[str, int] = {}
    outside = 0
    for scope in enforced["territorial_scope"]:
        codes = sorted(set(_as_list(scope)) & set(TERRITORIAL_SCOPE_CODES))
        if not codes:
            outside += 1
        for c in codes:
            scopes[c] = scopes.get(c, 0) + 1
    by_cat_action: dict[str, dict[str, int]] = {}
    for (c, a), k in pd.crosstab(category, action).stack().items():
        if k:
            by_cat_action.setdefault(str(c), {})[str(a)] = int(k)
    return doc | {
        "automated": int((~reviewed).sum()),
        "reviewed": int(reviewed.sum()),
        "automated_share": round(float((~reviewed).mean()), 4),
        "median_hours_to_action": round(float(hours.median()), 3),
        "p90_hours_to_action": round(float(hours.quantile(0.9)), 3),
        "by_action": {str(k): int(v) for k, v in action.value_counts().sort_index().items()},
        "by_category": {str(k): int(v) for k, v in category.value_counts().sort_index().items()},
        "by_category_and_action": dict(sorted(by_cat_action.items())),
        "by_territorial_scope": dict(sorted(scopes.items())),
        "outside_eea": outside,
    }
