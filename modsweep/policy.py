"""Policy packs: versioned YAML plus resource files, validated on load (DESIGN §4)."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modsweep.lifecycle import EnforcementSpec, StrikeSpec
from modsweep.schemas import ACTIONS, EEA_REGIONS, POLICY_IDS

DETECTOR_KINDS: tuple[str, ...] = (
    "lexicon",
    "regex",
    "hashtag",
    "claim_match",
    "classifier",
    "hash_match",
    "aigc",
    "coordination",
    "reports",
)
NON_ENFORCING_KINDS: frozenset[str] = frozenset({"reports"})
# DSA Transparency Database statement categories (API v2, in force since 1 July 2025).
DSA_CATEGORIES: tuple[str, ...] = (
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
)
# The Transparency Database's category_specification keywords (API v2).
DSA_KEYWORDS: tuple[str, ...] = (
    "KEYWORD_ANIMAL_HARM",
    "KEYWORD_ADULT_SEXUAL_MATERIAL",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS",
    "KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS",
    "KEYWORD_BIOMETRIC_DATA_BREACH",
    "KEYWORD_BULLYING_AGAINST_GIRLS",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL",
    "KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE",
    "KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS",
    "KEYWORD_COORDINATED_HARM",
    "KEYWORD_COPYRIGHT_INFRINGEMENT",
    "KEYWORD_CYBER_BULLYING_INTIMIDATION",
    "KEYWORD_CYBER_HARASSMENT",
    "KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN",
    "KEYWORD_CYBER_INCITEMENT",
    "KEYWORD_CYBER_STALKING",
    "KEYWORD_CYBER_STALKING_AGAINST_WOMEN",
    "KEYWORD_DATA_FALSIFICATION",
    "KEYWORD_DEFAMATION",
    "KEYWORD_DESIGN_INFRINGEMENT",
    "KEYWORD_DISCRIMINATION",
    "KEYWORD_MISINFORMATION_DISINFORMATION",
    "KEYWORD_FEMALE_GENDERED_DISINFORMATION",
    "KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT",
    "KEYWORD_GEOGRAPHICAL_REQUIREMENTS",
    "KEYWORD_GOODS_SERVICES_NOT_PERMITTED",
    "KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS",
    "KEYWORD_HATE_SPEECH",
    "KEYWORD_HIDDEN_ADVERTISEMENT",
    "KEYWORD_HUMAN_EXPLOITATION",
    "KEYWORD_HUMAN_TRAFFICKING",
    "KEYWORD_ILLEGAL_ORGANIZATIONS",
    "KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING",
    "KEYWORD_INAUTHENTIC_ACCOUNTS",
    "KEYWORD_INAUTHENTIC_LISTINGS",
    "KEYWORD_INAUTHENTIC_USER_REVIEWS",
    "KEYWORD_INCITEMENT_AGAINST_WOMEN",
    "KEYWORD_INCITEMENT_VIOLENCE_HATRED",
    "KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS",
    "KEYWORD_LANGUAGE_REQUIREMENTS",
    "KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS",
    "KEYWORD_MISLEADING_INFO_GOODS_SERVICES",
    "KEYWORD_MISSING_PROCESSING_GROUND",
    "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING",
    "KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN",
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE",
    "KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN",
    "KEYWORD_NONCOMPLIANCE_PRICING",
    "KEYWORD_NUDITY",
    "KEYWORD_PATENT_INFRINGEMENT",
    "KEYWORD_PHISHING",
    "KEYWORD_PROHIBITED_PRODUCTS",
    "KEYWORD_PYRAMID_SCHEMES",
    "KEYWORD_RIGHT_TO_BE_FORGOTTEN",
    "KEYWORD_RISK_ENVIRONMENTAL_DAMAGE",
    "KEYWORD_RISK_PUBLIC_HEALTH",
    "KEYWORD_SELF_MUTILATION",
    "KEYWORD_STALKING",
    "KEYWORD_SUICIDE",
    "KEYWORD_TERRORIST_CONTENT",
    "KEYWORD_TRADE_SECRET_INFRINGEMENT",
    "KEYWORD_TRADEMARK_INFRINGEMENT",
    "KEYWORD_TRAFFICKING_WOMEN_GIRLS",
    "KEYWORD_UNLAWFUL_SALE_ANIMALS",
    "KEYWORD_UNSAFE_CHALLENGES",
    "KEYWORD_UNSAFE_PRODUCTS",
    "KEYWORD_VIOLATION_EU_LAW",
    "KEYWORD_VIOLATION_NATIONAL_LAW",
    "KEYWORD_OTHER",
)
DECISION_GROUNDS: tuple[str, ...] = ("DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT")
# Region groups usable as override keys besides ISO-3166-1 alpha-2 codes.
REGION_GROUPS: dict[str, tuple[str, ...]] = {"EU": EEA_REGIONS}
ACTION_SEVERITY: dict[str, int] = {"label": 1, "reduce_reach": 2, "age_restrict": 3, "escalate": 4, "remove": 5}

Action = Literal["label", "reduce_reach", "age_restrict", "remove", "escalate"]


class PolicyPackError(ValueError):
    """A pack that cannot be used: names the file, the path inside it and the bad value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    kind: str
    weight: float = Field(default=1.0, gt=0, le=1)
    params: dict[str, Any] = Field(default_factory=dict)
    # May this detector's score alone take an automated action? Default: every kind but `reports` (user
    # reports are a reason to look, not evidence). Scores of non-enforcing detectors still escalate.
    enforce: bool | None = None

    @property
    def enforces(self) -> bool:
        return self.enforce if self.enforce is not None else self.kind not in NON_ENFORCING_KINDS

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in DETECTOR_KINDS:
            raise ValueError(f"unknown detector kind {v!r}; expected one of {', '.join(DETECTOR_KINDS)}")
        return v


AUTO_BAND = re.compile(r"^auto@(0?\.\d+|1(\.0+)?)$")
# Precision each automated action must reach on the model card's mixed validation stream when a pack
# does not say (`precision_targets:` per policy overrides them; `escalate` is the review queue's floor).
DEFAULT_PRECISION_TARGETS: dict[str, float] = {
    "remove": 0.95,
    "age_restrict": 0.9,
    "reduce_reach": 0.9,
    "label": 0.9,
    "escalate": 0.3,
}


class UnresolvedThresholdError(PolicyPackError):
    """A band written `auto@X` used before the model card's thresholds were applied, or one the card lacks."""


class Band(_Strict):
    """Scores ≥ min_score take this action; the highest matching band wins.

    `min_score: auto@0.95` means "the classifier score at which this policy's automated decisions reach
    precision 0.95 on the model card's mixed validation stream"; `auto_precision` keeps the 0.95 and
    `min_score` stays unset until `PolicyPack.with_model_thresholds` fills it in from a card.
    """

    min_score: float | None = Field(default=None, ge=0, le=1)
    action: str
    auto_precision: float | None = Field(default=None, gt=0, le=1)
    # Set when a profile's threshold offset was applied to the precision target (auto@P+offset) at resolution,
    # so `_shift` does not move the resolved score again.
    profile_shifted: bool = False

    @model_validator(mode="before")
    @classmethod
    def _auto(cls, v: Any) -> Any:
        if isinstance(v, dict) and isinstance(v.get("min_score"), str):
            text = v["min_score"].strip()
            m = AUTO_BAND.match(text)
            if not m:
                raise ValueError(f"min_score {text!r}: a number in [0, 1] or auto@P with P a precision in (0, 1]")
            v = {**v, "min_score": None, "auto_precision": float(m.group(1))}
        return v

    @model_validator(mode="after")
    def _has_score(self) -> Band:
        if self.min_score is None and self.auto_precision is None:
            raise ValueError("a band needs min_score (a number or auto@P)")
        return self

    @property
    def resolved(self) -> bool:
        return self.min_score is not None

    def describe(self) -> str:
        if self.auto_precision is None:
            return f"{self.min_score:g}"
        shown = "unresolved" if self.min_score is None else f"{self.min_score:.3f}"
        return f"auto@{self.auto_precision:g} ({shown})"

    @field_validator("action")
    @classmethod
    def _known_action(cls, v: str) -> str:
        if v not in ACTIONS:
            raise ValueError(f"unknown action {v!r}; expected one of {', '.join(ACTIONS)}")
        return v


def _sorted_bands(bands: list[Band]) -> list[Band]:
    """Bands in ascending order: numeric ones by score, auto@P ones by precision (resolved later)."""
    if all(b.resolved for b in bands):
        scores = [b.min_score for b in bands]
        if len(set(scores)) != len(scores):
            raise ValueError("two bands share a min_score")
        return sorted(bands, key=lambda b: b.min_score)  # type: ignore[arg-type, return-value]
    if any(b.resolved for b in bands):
        raise ValueError("a band ladder is either all numbers or all auto@P (a ladder mixing both has no order)")
    precisions = [b.auto_precision for b in bands]
    if len(set(precisions)) != len(precisions):
        raise ValueError("two bands share an auto@ precision")
    return sorted(bands, key=lambda b: b.auto_precision)  # type: ignore[arg-type, return-value]


class DsaSpec(_Strict):
    category: str
    category_specification: list[str] = Field(default_factory=list)
    decision_ground: str = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    incompatible_content_ground: str | None = None
    illegal_content_legal_ground: str | None = Field(default=None, max_length=500)

    @field_validator("category")
    @classmethod
    def _known_category(cls, v: str) -> str:
        if v not in DSA_CATEGORIES:
            raise ValueError(f"unknown DSA category {v!r}")
        return v

    @field_validator("category_specification")
    @classmethod
    def _keywords(cls, v: list[str]) -> list[str]:
        bad = [k for k in v if k not in DSA_KEYWORDS]
        if bad:
            raise ValueError(f"unknown DSA category_specification keyword(s) {bad}")
        return v

    @field_validator("decision_ground")
    @classmethod
    def _known_ground(cls, v: str) -> str:
        if v not in DECISION_GROUNDS:
            raise ValueError(f"unknown DSA decision_ground {v!r}")
        return v

    @model_validator(mode="after")
    def _illegal_needs_legal_ground(self) -> DsaSpec:
        if self.decision_ground == "DECISION_GROUND_ILLEGAL_CONTENT" and not self.illegal_content_legal_ground:
            raise ValueError("illegal-content policies need illegal_content_legal_ground (the law they rely on)")
        return self


class RegionOverride(_Strict):
    bands: list[Band] = Field(min_length=1)

    @field_validator("bands")
    @classmethod
    def _sort(cls, v: list[Band]) -> list[Band]:
        return _sorted_bands(v)


class PolicySpec(_Strict):
    id: str
    title: str
    severity: int = Field(ge=1, le=5)
    dsa: DsaSpec
    detectors: list[DetectorSpec] = Field(min_length=1)
    bands: list[Band] = Field(min_length=1)
    regions: dict[str, RegionOverride] = Field(default_factory=dict)
    never_automate: bool = False
    support_resources: str | None = None
    precision_floor: float = Field(default=0.8, ge=0, le=1)
    sla_hours: float = Field(default=24, gt=0)
    effective_from: date = date(2000, 1, 1)
    effective_until: date | None = None
    # Precision each action must reach (on the model card's stream for auto@ bands; on reviewed samples for
    # `modsweep calibrate`); actions not named take DEFAULT_PRECISION_TARGETS.
    precision_targets: dict[str, float] = Field(default_factory=dict)
    strikes: StrikeSpec | None = None  # this policy's strike weight and TTL (default: its severity's, `enforcement`)

    @field_validator("precision_targets")
    @classmethod
    def _target_actions(cls, v: dict[str, float]) -> dict[str, float]:
        for action, target in v.items():
            if action not in ACTIONS:
                raise ValueError(f"precision_targets: unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
            if not 0 < target <= 1:
                raise ValueError(f"precision_targets.{action}: {target} is not a precision in (0, 1]")
        return v

    def precision_target(self, action: str) -> float:
        return self.precision_targets.get(action, DEFAULT_PRECISION_TARGETS[action])

    @property
    def has_auto_bands(self) -> bool:
        return any(b.auto_precision is not None and not b.resolved for b in self._all_bands())

    def _all_bands(self) -> list[Band]:
        return [*self.bands, *(b for r in self.regions.values() for b in r.bands)]

    @field_validator("id")
    @classmethod
    def _known_policy(cls, v: str) -> str:
        if v not in POLICY_IDS:
            raise ValueError(f"unknown policy {v!r}; expected one of {', '.join(POLICY_IDS)}")
        return v

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, v: dict[str, RegionOverride]) -> dict[str, RegionOverride]:
        for key in v:
            if key not in REGION_GROUPS and not (len(key) == 2 and key.isalpha() and key.isupper()):
                raise ValueError(
                    f"unknown region {key!r}; use an ISO-3166-1 alpha-2 code or one of {list(REGION_GROUPS)}"
                )
        return v

    @field_validator("bands")
    @classmethod
    def _sort(cls, v: list[Band]) -> list[Band]:
        return _sorted_bands(v)

    @model_validator(mode="after")
    def _never_automate_means_no_removal(self) -> PolicySpec:
        if self.never_automate:
            automated = {b.action for b in self.bands} | {b.action for r in self.regions.values() for b in r.bands}
            automated -= {"escalate"}
            if automated:
                raise ValueError(f"policy {self.id} is never_automate but its bands name {sorted(automated)}")
        ids = [d.id for d in self.detectors]
        if len(set(ids)) != len(ids):
            raise ValueError(f"policy {self.id} has duplicate detector ids")
        return self

    def bands_for(self, region: str) -> list[Band]:
        """Bands in force for a region: its own override, else its group's, else the default."""
        bands = self._ladder_for(region)
        if any(not b.resolved for b in bands):
            raise UnresolvedThresholdError(
                f"policy {self.id}: band {next(b for b in bands if not b.resolved).describe()} needs a model card's "
                "thresholds; load the pack with the model (`modsweep train` makes one)"
            )
        return bands

    def _ladder_for(self, region: str) -> list[Band]:
        if region in self.regions:
            return self.regions[region].bands
        for group, members in REGION_GROUPS.items():
            if group in self.regions and region in members:
                return self.regions[group].bands
        return self.bands

    def with_thresholds(
        self, curve: dict[str, Any] | None, source: str, offset: float = 0.0
    ) -> tuple[PolicySpec, list[str]]:
        """This policy with every auto@P band set from a precision curve (`model card stream.policies[id]`).

        A precision no threshold reaches drops that band (the action is never automated for the policy);
        two precisions that resolve to one score keep the stricter action. A profile's threshold `offset`
        moves an auto@ band's precision target (auto@P → auto@(P + offset), kept in [0.05, 0.999]), not its
        resolved score: a score offset on a threshold near 0 would send every item to that band. Returns the
        notes to show.
        """
        if not self.has_auto_bands:
            return self, []
        if not curve:
            raise UnresolvedThresholdError(
                f"policy {self.id}: auto@ bands need thresholds for {self.id!r}, which {source} lacks "
                "(train with a manifest that has data for this policy, or write numeric bands)"
            )
        notes: list[str] = []

        def resolve(bands: list[Band], where: str) -> list[Band]:
            out: dict[float, Band] = {}
            # automated bands first: their thresholds bound the slice an escalate band sends to review
            ordered = sorted(bands, key=lambda b: b.action == "escalate")
            for b in ordered:
                if b.resolved:
                    out[b.min_score] = b  # type: ignore[index]
                    continue
                target = min(0.999, max(0.05, b.auto_precision + offset))  # type: ignore[operator]
                if b.action == "escalate":
                    automated = [t for t, band in out.items() if band.action != "escalate"]
                    t = threshold_for_slice_precision(curve, target, min(automated, default=None))
                else:
                    t = threshold_for_precision(curve, target)
                if t is None:  # said once per policy and action, whichever regions' ladders share it
                    what = "never routes to review" if b.action == "escalate" else "is never automated"
                    oof = out_of_fold_precision(curve, target) if curve.get("parts") else None
                    why = (
                        f"the threshold for precision {target:g} does not hold out of fold on {source} "
                        f"({'on some of its parts no threshold reaches it' if oof is None else f'{oof[0]:.3f} on {oof[1]:,} held-out rows'})"
                        if curve.get("parts") and threshold_for_precision({**curve, "parts": None}, target) is not None
                        else f"no score reaches precision {target:g} on {source}"
                    )
                    notes.append(f"{self.id}: {b.action} at auto@{target:g} {what}: {why}")
                    continue
                out[t] = Band(
                    min_score=t, action=b.action, auto_precision=b.auto_precision, profile_shifted=bool(offset)
                )  # stricter overwrites
            if not out:
                notes.append(
                    f"{self.id}{where}: no band can be reached: the classifier neither acts nor routes to review"
                )
            return sorted(out.values(), key=lambda b: b.min_score)  # type: ignore[arg-type, return-value]

        bands = resolve(self.bands, "")
        regions = {k: resolve(r.bands, f" in {k}") for k, r in self.regions.items()}
        update: dict[str, Any] = {
            "bands": bands or [Band(min_score=1.0, action="escalate")],
            "regions": {
                k: RegionOverride(bands=v or [Band(min_score=1.0, action="escalate")]) for k, v in regions.items()
            },
        }
        return self.model_copy(update=update), notes

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)


class ProfileSpec(_Strict):
    """Adjusts a pack for a kind of run (e.g. an election surge)."""

    description: str = ""
    threshold_offsets: dict[str, float] = Field(default_factory=dict)  # added to numeric min_scores; auto@ bands: to P
    qa_multiplier: float = Field(default=1.0, gt=0, le=10)
    priority_multiplier: dict[str, float] = Field(default_factory=dict)
    extra_detectors: dict[str, list[DetectorSpec]] = Field(default_factory=dict)

    @field_validator("threshold_offsets", "priority_multiplier", "extra_detectors")
    @classmethod
    def _known_policies(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            if key not in POLICY_IDS:
                raise ValueError(f"unknown policy {key!r}")
        return v


class PackSpec(_Strict):
    pack: str
    version: str
    description: str = ""
    policies: list[PolicySpec]
    profiles: dict[str, ProfileSpec] = Field(default_factory=lambda: {"standard": ProfileSpec()})
    enforcement: EnforcementSpec = Field(default_factory=EnforcementSpec)  # strikes, account actions, appeals

    @model_validator(mode="after")
    def _unique_policies(self) -> PackSpec:
        ids = [p.id for p in self.policies]
        if len(set(ids)) != len(ids):
            raise ValueError("a policy id appears twice")
        if "standard" not in self.profiles:
            raise ValueError("a pack needs a 'standard' profile")
        return self


class PolicyPack(BaseModel):
    """A validated pack with one profile applied; what every stage receives."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    spec: PackSpec
    profile: str
    path: str
    sha256: str
    resources: dict[str, str]  # relative resource path → text content
    threshold_notes: tuple[str, ...] = ()  # auto@ bands that no threshold could serve (with_model_thresholds)
    thresholds_from: str | None = None  # the model version whose card resolved the auto@ bands

    @property
    def name(self) -> str:
        return self.spec.pack

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def profile_spec(self) -> ProfileSpec:
        return self.spec.profiles[self.profile]

    def policies(self, day: date | None = None) -> list[PolicySpec]:
        """Policies in force on ``day`` with the profile's threshold offsets and extra detectors applied."""
        prof = self.profile_spec
        out = []
        for p in self.spec.policies:
            if day is not None and not p.in_force(day):
                continue
            offset = prof.threshold_offsets.get(p.id, 0.0)
            update: dict[str, Any] = {}
            if offset:
                update["bands"] = _shift(p.bands, offset)
                update["regions"] = {k: RegionOverride(bands=_shift(r.bands, offset)) for k, r in p.regions.items()}
            if p.id in prof.extra_detectors:
                update["detectors"] = [*p.detectors, *prof.extra_detectors[p.id]]
            out.append(p.model_copy(update=update) if update else p)
        return out

    def policy(self, policy_id: str) -> PolicySpec:
        for p in self.policies():
            if p.id == policy_id:
                return p
        raise KeyError(policy_id)

    def with_model_thresholds(self, card: dict[str, Any] | None, version: str | None = None) -> PolicyPack:
        """The pack with auto@P bands resolved from a model card's stream thresholds (a copy; notes kept)."""
        if not any(p.has_auto_bands for p in self.spec.policies):
            return self
        source = f"model card {version or (card or {}).get('version', '?')}"
        if card is None:
            raise UnresolvedThresholdError(
                f"{self.path}: auto@ bands need a trained model's card; run `modsweep train` first"
            )
        if "stream" not in card:
            raise UnresolvedThresholdError(
                f"{source} comes from an older modsweep (an older featurisation or training, without stream "
                "thresholds for auto@ bands); retrain it: `modsweep train` (synthetic data) or "
                "`modsweep train --manifest manifests/shared-datasets.yaml --data-root ../shared/datasets`"
            )
        curves = (card.get("stream") or {}).get("policies") or {}
        policies, notes = [], []
        for p in self.spec.policies:
            offset = self.profile_spec.threshold_offsets.get(p.id, 0.0)
            resolved, said = p.with_thresholds(curves.get(p.id), source, offset)
            policies.append(resolved)
            notes.extend(said)
        notes = list(dict.fromkeys(notes))
        spec = self.spec.model_copy(update={"policies": policies})
        return self.model_copy(
            update={"spec": spec, "threshold_notes": tuple(notes), "thresholds_from": (card or {}).get("version")}
        )

    def resource_lines(self, relpath: str) -> list[str]:
        """Non-blank, non-comment lines of a resource file."""
        text = self.resources[relpath]
        return [ln.rstrip("\n") for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _shift(bands: list[Band], offset: float) -> list[Band]:
    """Bands moved by a profile's offset (auto@ bands moved their precision target when resolved instead)."""
    if not all(b.resolved for b in bands):
        return bands
    return [
        b if b.profile_shifted else b.model_copy(update={"min_score": min(1.0, max(0.0, b.min_score + offset))})  # type: ignore[operator]
        for b in bands
    ]


def threshold_for_slice_precision(curve: dict[str, Any], precision: float, upper: float | None) -> float | None:
    """The lowest threshold t below `upper` (an automated band's threshold) at which the items scoring in
    [t, upper), the ones an escalate band sends to review, keep a conservative precision >= `precision`.

    Without `upper`, or on a curve without weighted sums (older cards), this is `threshold_for_precision`.
    """
    if upper is None or "tp_weight" not in curve:  # escalation is not automated: no out-of-fold check
        return threshold_for_precision({**curve, "parts": None}, precision)
    thresholds = curve["thresholds"]
    above = [k for k, t in enumerate(thresholds) if t >= upper]
    k_up = max(above, key=lambda k: curve["flagged"][k]) if above else None
    base = (
        (0.0, 0.0, 0)
        if k_up is None
        else (curve["tp_weight"][k_up], curve["flagged_weight"][k_up], curve["flagged"][k_up])
    )
    met = []
    for k, t in enumerate(thresholds):
        n = curve["flagged"][k] - base[2]
        if t >= upper or n <= 0:
            continue
        w = curve["flagged_weight"][k] - base[1]
        p = (curve["tp_weight"][k] - base[0]) / w if w > 0 else 0.0
        if wilson_lower(p, n) >= precision:
            met.append(float(t))
    return min(met) if met else None


WILSON_Z_ONE_SIDED_90 = 1.2816  # one-sided 90% bound: a threshold must beat its precision target with margin


def wilson_lower(p: Any, n: Any, z: float = WILSON_Z_ONE_SIDED_90) -> Any:
    """Wilson score lower bound of a proportion p observed on n units (0 where n is 0); scalars or arrays."""
    p, n = np.asarray(p, dtype=np.float64), np.asarray(n, dtype=np.float64)
    safe = np.maximum(n, 1e-12)
    centre = p + z * z / (2 * safe)
    spread = z * np.sqrt(np.maximum(p * (1 - p) / safe + z * z / (4 * safe * safe), 0))
    out = np.where(n > 0, (centre - spread) / (1 + z * z / safe), 0.0)
    return float(out) if out.ndim == 0 else out


def threshold_for_precision(curve: dict[str, Any], precision: float) -> float | None:
    """The lowest threshold of `curve` whose conservative precision (all rows scoring at or above it) is at
    least `precision`: the most recall at that precision. None when no threshold qualifies.

    `curve` holds `thresholds` with `precision_lower` at each (see tasks/train.stream_precision_curve). A curve
    that also carries `parts` (a model card's stream split in K parts by text hash) must pass the out-of-fold
    check too: the rule applied to every K-1 parts picks a threshold that must reach `precision` on the part
    it did not see (pooled over the K parts); else None, and the action is never automated. When it passes, the
    threshold is the strictest of the whole stream's and those K picks (`part_thresholds`): where the evidence is
    thin the picks on less data sit higher and the stricter one is kept; where it is ample they agree and
    nothing changes.
    """
    met = [
        float(t)
        for t, p in zip(curve.get("thresholds") or [], curve.get("precision_lower") or [], strict=True)
        if p is not None and p >= precision
    ]
    if not met:
        return None
    if curve.get("parts"):
        oof = out_of_fold_precision(curve, precision)
        if oof is None or wilson_lower(oof[0], oof[1]) < precision:
            return None
        return max([min(met), *(part_thresholds(curve, precision) or [])])
    return min(met)


def _part_picks(curve: dict[str, Any], precision: float) -> list[int] | None:
    """Per part k, the index into the curve of the threshold the rule picks on the other K-1 parts (the lowest
    whose Wilson bound reaches `precision` there); None without parts or when some K-1 parts reach it nowhere."""
    parts = curve.get("parts")
    if not parts:
        return None
    flagged = np.asarray(curve["flagged"], dtype=np.float64)
    flagged_w = np.asarray(curve["flagged_weight"], dtype=np.float64)
    tp_w = np.asarray(curve["tp_weight"], dtype=np.float64)
    picks = []
    for n_k, fw_k, tw_k in zip(parts["flagged"], parts["flagged_weight"], parts["tp_weight"], strict=True):
        n_k, fw_k, tw_k = (np.asarray(v, dtype=np.float64) for v in (n_k, fw_k, tw_k))
        n_in, fw_in = flagged - n_k, flagged_w - fw_k
        p_in = np.divide(tp_w - tw_k, fw_in, out=np.zeros_like(fw_in), where=fw_in > 0)
        ok = np.flatnonzero((n_in > 0) & (wilson_lower(p_in, n_in) >= precision))
        if not len(ok):
            return None
        picks.append(int(ok[-1]))  # thresholds run from high to low: the last qualifying one is the lowest
    return picks


def part_thresholds(curve: dict[str, Any], precision: float) -> list[float] | None:
    """The thresholds the rule picks for `precision` on every K-1 parts of the curve's stream (see
    `out_of_fold_precision`); None without parts or when some K-1 parts reach the target at no threshold."""
    picks = _part_picks(curve, precision)
    return None if picks is None else [float(curve["thresholds"][j]) for j in picks]


def out_of_fold_precision(curve: dict[str, Any], precision: float) -> tuple[float, int] | None:
    """(precision, flagged rows) of the thresholds picked for `precision` on every K-1 parts of the curve's
    stream, measured on the part each did not see (weighted precision, pooled over the parts). None without
    parts, or when some K-1 parts reach the target at no threshold (the rule does not carry over), or nothing
    is flagged out of fold. `threshold_for_precision` needs its Wilson lower bound to reach the target: the
    in-sample bound flatters a threshold chosen on the same rows, the out-of-fold one does not.
    """
    picks = _part_picks(curve, precision)
    if picks is None:
        return None
    parts = curve["parts"]
    tp_out, flagged_out, n_out = 0.0, 0.0, 0
    for j, n_k, fw_k, tw_k in zip(picks, parts["flagged"], parts["flagged_weight"], parts["tp_weight"], strict=True):
        tp_out += float(tw_k[j])
        flagged_out += float(fw_k[j])
        n_out += int(n_k[j])
    return (tp_out / flagged_out, n_out) if flagged_out > 0 else None


def _resource_refs(spec: PackSpec) -> list[str]:
    refs: set[str] = set()
    detectors = [d for p in spec.policies for d in p.detectors]
    detectors += [d for prof in spec.profiles.values() for ds in prof.extra_detectors.values() for d in ds]
    for d in detectors:
        for key, value in d.params.items():
            if key in ("terms", "claims", "hashes", "patterns") and isinstance(value, str):
                refs.add(value)
    return sorted(refs)


def resolve_pack_path(name_or_path: str) -> Path:
    """A pack given by file path, or by name of a pack shipped in `policies/`."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise PolicyPackError(f"{candidate}: no such policy pack file")
        return candidate
    shipped = Path(str(resources.files("modsweep.policies"))) / f"{name_or_path}.yaml"
    if not shipped.is_file():
        raise PolicyPackError(f"no policy pack named {name_or_path!r} (looked for {shipped}); pass a .yaml path")
    return shipped


def load_pack(name_or_path: str = "community-guidelines", profile: str = "standard") -> PolicyPack:
    """Load, validate and hash a pack; errors name the file, the path inside it and the bad value.

    Resources (lexicons, claims, hash lists) are read beside the pack, else from the shipped `policies/` folder
    under the same relative path, so a candidate pack saved anywhere reuses the shipped lists it does not
    replace; either way their bytes are in the pack's sha256."""
    path = resolve_pack_path(name_or_path)
    raw_bytes = path.read_bytes()
    try:
        raw = yaml.safe_load(raw_bytes)
    except yaml.YAMLError as exc:
        raise PolicyPackError(f"{path}: not valid YAML: {exc}") from exc
    try:
        spec = PackSpec.model_validate(raw)
    except ValidationError as exc:
        raise PolicyPackError(_describe(path, raw, exc)) from exc
    if profile not in spec.profiles:
        raise PolicyPackError(f"{path}: profiles: no profile {profile!r}; available: {', '.join(spec.profiles)}")
    digest = hashlib.sha256()
    digest.update(raw_bytes)
    texts: dict[str, str] = {}
    shipped = Path(str(resources.files("modsweep.policies")))
    for rel in _resource_refs(spec):
        res = _resource_file(path.parent, rel) or _resource_file(shipped, rel)
        if res is None:
            raise PolicyPackError(
                f"{path}: resource {rel!r} is missing (looked beside the pack and in {shipped}) "
                "or outside the pack folder"
            )
        data = res.read_bytes()
        digest.update(rel.encode() + b"\0" + data)
        texts[rel] = data.decode("utf-8")
    return PolicyPack(spec=spec, profile=profile, path=str(path), sha256=digest.hexdigest(), resources=texts)


def _resource_file(folder: Path, rel: str) -> Path | None:
    """`rel` inside `folder` when it exists there (never a path that leaves the folder)."""
    res = (folder / rel).resolve()
    return res if res.is_relative_to(folder.resolve()) and res.is_file() else None


def _describe(path: Path, raw: Any, exc: ValidationError) -> str:
    lines = [f"{path}: invalid policy pack"]
    for err in exc.errors():
        loc = _named_location(raw, err["loc"])
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
        lines.append(f"  at {loc}: {err['msg']} (got {shown})")
    return "\n".join(lines)


def _named_location(raw: Any, loc: tuple[Any, ...]) -> str:
    """`policies[3](hate.speech).bands[0].action` rather than `policies.3.bands.0.action`."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            if isinstance(node, list) and key < len(node):
                node = node[key]
                if isinstance(node, dict) and "id" in node:
                    label += f"({node['id']})"
            parts.append(label)
        else:
            parts.append(f".{key}" if parts else str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)
