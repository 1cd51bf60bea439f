"""DSA statements of reasons for account restrictions, and the statements a reversal supersedes.

An account statement is the content statement of `tasks/dsa.py` with the Transparency Database's account fields
(`decision_provision`, `decision_account`, `account_type`, `end_date_account_restriction`); it is validated by
the same model plus their rules. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pandas as pd
from pydantic import ValidationInfo, field_validator, model_validator

from modsweep.tasks.dsa import (
    DECISION_GROUND_INCOMPATIBLE,
    DECISION_VISIBILITIES,
    MAX_GROUND,
    Statement,
    StatementProblem,
    _clip,
    _date_from,
    _in,
    _unique_members,
    _utc_day,
    normalise_category,
    puid_for,
    validate_statement,
)

DECISION_ACCOUNTS: tuple[str, ...] = ("DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED")
DECISION_PROVISIONS: tuple[str, ...] = (
    "DECISION_PROVISION_PARTIAL_SUSPENSION",
    "DECISION_PROVISION_TOTAL_SUSPENSION",
    "DECISION_PROVISION_PARTIAL_TERMINATION",
    "DECISION_PROVISION_TOTAL_TERMINATION",
)
ACCOUNT_TYPES: tuple[str, ...] = ("ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE")
EEA_SCOPE_STATUSES: tuple[str, ...] = ("active", "ended")  # statements for restrictions that took effect
SUPERSEDED_COLUMNS: tuple[str, ...] = ("puid", "decision_id", "superseded_at", "cause", "reason")


class AccountStatement(Statement):
    """A statement about an account: at least one of visibility, provision or account restriction; an end date
    only for a suspension, never before the application date."""

    decision_visibility: list[str] = []
    decision_provision: str | None = None
    decision_account: str | None = None
    account_type: str | None = None
    end_date_account_restriction: str | None = None

    @field_validator("decision_visibility")
    @classmethod
    def _visibility(cls, v: list[str]) -> list[str]:
        return _unique_members(v, DECISION_VISIBILITIES, "decision_visibility", required=False)

    @field_validator("decision_provision")
    @classmethod
    def _provision(cls, v: str | None) -> str | None:
        return v if v is None else _in(v, DECISION_PROVISIONS, "decision_provision")

    @field_validator("decision_account")
    @classmethod
    def _account(cls, v: str | None) -> str | None:
        return v if v is None else _in(v, DECISION_ACCOUNTS, "decision_account")

    @field_validator("account_type")
    @classmethod
    def _account_type(cls, v: str | None) -> str | None:
        return v if v is None else _in(v, ACCOUNT_TYPES, "account_type")

    @field_validator("end_date_account_restriction")
    @classmethod
    def _end_date(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        suspended = info.data.get("decision_account") == "DECISION_ACCOUNT_SUSPENDED" or str(
            info.data.get("decision_provision") or ""
        ).endswith("_SUSPENSION")
        if not suspended:
            raise ValueError("only allowed for a suspension (decision_account or decision_provision)")
        value = _date_from(v, pd.Timestamp("2020-01-01").date())
        applied = info.data.get("application_date")
        if applied and value < applied:
            raise ValueError(f"{value} is before application_date {applied}")
        return value

    def to_api(self) -> dict[str, Any]:
        """The request body (absent optional fields, and an empty visibility, left out)."""
        body = super().to_api()
        if not body.get("decision_visibility"):
            body.pop("decision_visibility", None)
        return body

    @model_validator(mode="after")
    def _restricts_something(self) -> AccountStatement:
        if not (self.decision_visibility or self.decision_provision or self.decision_account):
            raise ValueError("needs decision_visibility, decision_provision or decision_account")
        return self


def account_puid(account_decision_id: str) -> str:
    """Deterministic and apart from content statements' puids."""
    return puid_for(account_decision_id)


def build_account_statement(row: Mapping[str, Any], policy_title: str, pack: str) -> dict[str, Any]:
    """The candidate statement of one account decision (feature_restrict, suspend, terminate)."""
    action = str(row["action"])
    features = ", ".join(row.get("features") or []) or "some features"
    words = {
        "feature_restrict": f"restricted ({features} disabled)",
        "suspend": "suspended",
        "terminate": "terminated",
    }.get(action, action)
    facts = (
        f"The account was {words} because its active strikes under the community guidelines weighed "
        f"{float(row['active_weight']):g}, reaching the {action} threshold {float(row['threshold']):g}; the "
        f"latest strike was under policy {row['policy_id']} ({policy_title})."
    )
    end = row.get("end_date")
    statement: dict[str, Any] = {
        "puid": account_puid(str(row["account_decision_id"])),
        "decision_provision": _text(row.get("decision_provision")),
        "decision_account": _text(row.get("decision_account")),
        "account_type": _text(row.get("account_type")) or "ACCOUNT_TYPE_PRIVATE",
        "decision_ground": DECISION_GROUND_INCOMPATIBLE,
        "incompatible_content_ground": _clip(f"Community guidelines, repeat violations ({pack})", MAX_GROUND),
        "incompatible_content_explanation": facts,
        "category": normalise_category(str(row["category"])),
        "content_type": ["CONTENT_TYPE_OTHER"],
        "content_type_other": "User account",
        "content_date": _utc_day(row["decided_at"]),
        "territorial_scope": sorted(set(row.get("territorial_scope") or [])),
        "application_date": _utc_day(row["decided_at"]),
        "end_date_account_restriction": None if end is None or pd.isna(end) else _utc_day(end),
        "decision_facts": facts,
        "source_type": "SOURCE_VOLUNTARY",
        "automated_detection": "Yes",
        "automated_decision": "AUTOMATED_DECISION_FULLY"
        if bool(row.get("automated"))
        else "AUTOMATED_DECISION_PARTIALLY",
    }
    return statement


def _text(value: Any) -> str | None:
    """A stored text value, None when missing (store frames give NaN)."""
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def validate_account_statement(candidate: Mapping[str, Any]) -> AccountStatement | list[StatementProblem]:
    """An ``AccountStatement``, or one problem per failing field (`dsa.validate_statement` with the account model;
    a problem names the account decision by its puid)."""
    found = validate_statement(candidate, str(candidate.get("puid", "")).removeprefix("modsweep-"), AccountStatement)
    return found if isinstance(found, list) else cast(AccountStatement, found)


def account_statements(
    decisions: pd.DataFrame, titles: Mapping[str, str], pack: str, eea: tuple[str, ...]
) -> tuple[list[AccountStatement], list[StatementProblem]]:
    """Statements for the day's account restrictions that took effect in the EU/EEA (warnings restrict nothing)."""
    scoped = decisions[(decisions["action"] != "warn") & decisions["status"].isin(EEA_SCOPE_STATUSES)]
    out: list[AccountStatement] = []
    problems: list[StatementProblem] = []
    for row in scoped.to_dict("records"):  # one row per restricted account of the day
        row["territorial_scope"] = sorted(set(row.get("territorial_scope") or []) & set(eea))
        if not row["territorial_scope"]:
            continue
        result = validate_account_statement(
            build_account_statement(row, titles.get(row["policy_id"], row["policy_id"]), pack)
        )
        if isinstance(result, AccountStatement):
            out.append(result)
        else:
            problems.extend(result)
    return out, problems


def superseded(enforced: pd.DataFrame, reversals: pd.DataFrame) -> pd.DataFrame:
    """Statements of reasons a reversal supersedes: the content statement of every reversed decision."""
    if enforced.empty or reversals.empty:
        return pd.DataFrame(columns=list(SUPERSEDED_COLUMNS))
    rows = enforced[["decision_id"]].merge(reversals, on="decision_id", how="inner")
    return pd.DataFrame(
        {
            "puid": [puid_for(str(d)) for d in rows["decision_id"]],
            "decision_id": rows["decision_id"].to_numpy(),
            "superseded_at": pd.to_datetime(rows["reversed_at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
            "cause": rows["cause"].to_numpy(),
            "reason": rows["reason"].astype(str).str.slice(0, 500).to_numpy(),
        }
    )
