"""The pack's enforcement-lifecycle settings (DESIGN §10): strikes, account thresholds, appeals, repeat offenders.

A pack's `enforcement:` section (and a policy's own `strikes:`) validated on load, like the rest of the pack.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modsweep.schemas import AUTOMATED_ACTIONS

AccountAction = Literal["warn", "feature_restrict", "suspend", "terminate"]
ACCOUNT_ACTION_ORDER: dict[str, int] = {"warn": 1, "feature_restrict": 2, "suspend": 3, "terminate": 4}
ACCOUNT_TYPES: tuple[str, ...] = ("ACCOUNT_TYPE_PRIVATE", "ACCOUNT_TYPE_BUSINESS")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StrikeSpec(_Strict):
    """What one enforced violation weighs and how long it counts."""

    weight: float = Field(gt=0, le=100)
    ttl_days: int = Field(gt=0, le=3650)


class AccountThreshold(_Strict):
    """An active strike weight at or above `min_weight` takes `action` (the highest threshold reached wins)."""

    min_weight: float = Field(gt=0)
    action: AccountAction
    features: list[str] = Field(default_factory=list)  # feature_restrict: what the account loses (live, ads, …)
    days: int | None = Field(default=None, gt=0, le=3650)  # suspend: its length

    @model_validator(mode="after")
    def _suspend_has_days(self) -> AccountThreshold:
        if self.action == "suspend" and self.days is None:
            raise ValueError("a suspend threshold needs days (the suspension's length)")
        if self.action == "feature_restrict" and not self.features:
            raise ValueError("a feature_restrict threshold needs features (e.g. [live, ads])")
        return self


class AppealSpec(_Strict):
    """Appeal window, review SLA and the overturn-rate circuit breaker."""

    window_days: int = Field(default=180, gt=0)
    sla_hours: float = Field(default=72, gt=0)
    overturn_ceiling: float = Field(default=0.5, gt=0, le=1)  # breaker trips when the 95% lower bound is above it
    min_appeals: int = Field(default=20, ge=1)  # decided appeals a policy needs before the breaker may trip


class RepeatOffenderSpec(_Strict):
    """Actor risk (DESIGN §10): an author's active strike weight before the run's day (and account age, bursts,
    coordination) raises review priority and, for repeat offenders, lowers escalation thresholds. Off by default.

    ``min_active_weight``: who is a repeat offender (0: nobody); ``escalate_offset`` (≤ 0): added to the
    `escalate` bands' min_score for a repeat offender's items (never to an automated band: more of their items
    reach a person, none is enforced automatically on weaker evidence); ``raise_review_priority``: escalations'
    priority × the actor risk, before queue capacity is applied; ``priority_boost``: the strikes' share of it
    at ``min_active_weight``."""

    min_active_weight: float = Field(default=0, ge=0)  # 0: off
    escalate_offset: float = Field(default=0.0, ge=-0.5, le=0)  # 0: thresholds unchanged
    priority_boost: float = Field(default=1.0, ge=1, le=10)  # review priority multiplier at the threshold
    raise_review_priority: bool = False  # actor risk (strikes, young account, bursts, coordination) × priority

    @model_validator(mode="after")
    def _offset_needs_offenders(self) -> RepeatOffenderSpec:
        if self.escalate_offset < 0 and self.min_active_weight <= 0:
            raise ValueError("repeat_offenders.escalate_offset needs min_active_weight > 0 (who is a repeat offender)")
        return self

    @property
    def reads_strikes(self) -> bool:
        """Whether the sweep needs authors' active strikes before deciding (an offset or a priority to apply)."""
        return self.escalate_offset < 0 or self.raise_review_priority


DEFAULT_BY_SEVERITY: dict[int, StrikeSpec] = {
    1: StrikeSpec(weight=0.5, ttl_days=30),
    2: StrikeSpec(weight=1, ttl_days=60),
    3: StrikeSpec(weight=2, ttl_days=90),
    4: StrikeSpec(weight=3, ttl_days=180),
    5: StrikeSpec(weight=5, ttl_days=365),
}
DEFAULT_THRESHOLDS: tuple[AccountThreshold, ...] = (
    AccountThreshold(min_weight=3, action="warn"),
    AccountThreshold(min_weight=6, action="feature_restrict", features=["live", "ads"]),
    AccountThreshold(min_weight=10, action="suspend", days=7),
    AccountThreshold(min_weight=20, action="terminate"),
)


class EnforcementSpec(_Strict):
    """The pack's `enforcement:` section."""

    strike_actions: list[str] = Field(default_factory=lambda: ["remove", "age_restrict", "reduce_reach"])
    strikes_by_severity: dict[int, StrikeSpec] = Field(default_factory=lambda: dict(DEFAULT_BY_SEVERITY))
    account_thresholds: list[AccountThreshold] = Field(default_factory=lambda: list(DEFAULT_THRESHOLDS))
    automate_account_actions: list[AccountAction] = Field(default_factory=lambda: ["warn", "feature_restrict"])
    account_type: str = "ACCOUNT_TYPE_PRIVATE"
    appeals: AppealSpec = Field(default_factory=AppealSpec)
    repeat_offenders: RepeatOffenderSpec = Field(default_factory=RepeatOffenderSpec)

    @field_validator("strike_actions")
    @classmethod
    def _enforcing(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a not in AUTOMATED_ACTIONS]
        if bad:
            raise ValueError(f"strike_actions: {bad} are not enforcement actions ({', '.join(AUTOMATED_ACTIONS)})")
        return v

    @field_validator("strikes_by_severity")
    @classmethod
    def _every_severity(cls, v: dict[int, StrikeSpec]) -> dict[int, StrikeSpec]:
        missing = [s for s in range(1, 6) if s not in v]
        if missing:
            raise ValueError(f"strikes_by_severity needs every severity 1-5; missing {missing}")
        return v

    @field_validator("account_thresholds")
    @classmethod
    def _ladder(cls, v: list[AccountThreshold]) -> list[AccountThreshold]:
        ordered = sorted(v, key=lambda t: t.min_weight)
        ranks = [ACCOUNT_ACTION_ORDER[t.action] for t in ordered]
        if ranks != sorted(ranks) or len(set(ranks)) != len(ranks):
            raise ValueError("account_thresholds: each action once, heavier actions at higher weights")
        return ordered

    @field_validator("account_type")
    @classmethod
    def _account_type(cls, v: str) -> str:
        if v not in ACCOUNT_TYPES:
            raise ValueError(f"account_type must be one of {', '.join(ACCOUNT_TYPES)}")
        return v

    def strike_for(self, severity: int, override: StrikeSpec | None = None) -> StrikeSpec:
        """A policy's strike: its own `strikes:` when set, else its severity's."""
        return override if override is not None else self.strikes_by_severity[severity]
