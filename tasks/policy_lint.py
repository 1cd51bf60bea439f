"""`policy lint`: semantic checks of a policy pack beyond its schema (gaps, conflicts, inconsistencies).

Every check is a pure function of the pack's raw YAML (for paths), its validated spec, its resource texts and,
when one is given, the registered model's card and the regions seen in the lake. A finding carries a code, a
severity (`error` fails the lint, `warning` does not), the path inside the YAML and one line of explanation.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import pandas as pd
from pydantic import ValidationError

from modsweep.policy import (
    ACTION_SEVERITY,
    REGION_GROUPS,
    Band,
    PackSpec,
    PolicySpec,
    _named_location,
    threshold_for_precision,
)

ERROR, WARNING = "error", "warning"

# code → (severity, what it means); the README's lint table is written from this.
CHECKS: dict[str, tuple[str, str]] = {
    "PL000": (ERROR, "the pack does not pass its schema (the message names the field)"),
    "PL101": (
        WARNING,
        "a region listed in the pack or seen in the lake falls back to a policy's default bands while that policy has regional bands elsewhere",
    ),
    "PL102": (WARNING, "a policy has no detector that may act alone (only reports): it can never act automatically"),
    "PL103": (WARNING, "a policy's DSA statement has no category_specification keyword"),
    "PL104": (ERROR, "a classifier detector names a label the registered model lacks (optional detectors: warning)"),
    "PL201": (
        ERROR,
        "a band can never be chosen: above what the policy's detectors can score, or shadowed by another band",
    ),
    "PL202": (WARNING, "two bands of one ladder take the same action, or a milder action sits above a stricter one"),
    "PL203": (
        WARNING,
        "under a profile meant to be stricter for a policy, a region's bands are looser than the policy's global bands",
    ),
    "PL204": (ERROR, "a profile offset pushes a band's threshold outside [0, 1] (it would be clipped silently)"),
    "PL205": (ERROR, "a never_automate policy has an automated band"),
    "PL206": (WARNING, "the same lexicon term sits in two policies' lexicons: one phrase acts under both"),
    "PL207": (ERROR, "a claim appears in two claim files with different fact-check URLs"),
    "PL301": (WARNING, "a more severe policy has a longer review SLA than a less severe one"),
    "PL302": (
        WARNING,
        "a policy (or a profile entry for it) is not in force today: its effective dates start in the future or have ended",
    ),
    "PL303": (
        WARNING,
        "an automated band aims at a precision below the policy's precision floor (or the model card measures it below)",
    ),
}


@dataclass(frozen=True)
class Finding:
    """One lint result: code, severity, path in the YAML, one-line explanation."""

    code: str
    severity: str
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class LintContext:
    """What the checks read besides the YAML: resources by relative path, the model card, lake regions, today."""

    resources: dict[str, str] = field(default_factory=dict)
    card: dict[str, Any] | None = None
    seen_regions: frozenset[str] = frozenset()
    today: date = field(default_factory=date.today)
    profile: str | None = None  # check this profile only (default: every profile)


def _finding(code: str, path: str, message: str, severity: str | None = None) -> Finding:
    return Finding(code, severity or CHECKS[code][0], path, message)


def lint_pack(raw: dict[str, Any], ctx: LintContext) -> list[Finding]:
    """Every finding for one pack, errors first, then by path."""
    findings = check_never_automate(raw)
    flagged = {f.path.split(".")[0] for f in findings}
    # The schema rejects a never_automate policy with automated bands: lint says why once (PL205), then
    # validates the rest as if the flag were off, so the other checks still run.
    patched = {
        **raw,
        "policies": [
            {**p, "never_automate": False} if _ppath(i, p) in flagged else p
            for i, p in enumerate(raw.get("policies") or [])
        ],
    }
    try:
        spec = PackSpec.model_validate(patched)
    except ValidationError as exc:
        for err in exc.errors():
            findings.append(_finding("PL000", _named_location(patched, err["loc"]), err["msg"]))
        return _ordered(findings)
    if ctx.profile is not None and ctx.profile not in spec.profiles:
        findings.append(
            _finding("PL000", "profiles", f"no profile {ctx.profile!r}; available: {', '.join(spec.profiles)}")
        )
        return _ordered(findings)
    for check in (
        check_region_coverage,
        check_automated_detectors,
        check_dsa_keywords,
        check_classifier_labels,
        check_band_reachability,
        check_band_order,
        check_regions_under_strict_profiles,
        check_profile_offsets,
        check_lexicon_overlap,
        check_claim_urls,
        check_severity_sla,
        check_effective_dates,
        check_precision_floors,
    ):
        findings.extend(check(raw, spec, ctx))
    return _ordered(findings)


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity != ERROR, f.path, f.code))


def _ppath(i: int, policy: dict[str, Any]) -> str:
    return f"policies[{i}]({policy.get('id', '?')})"


def _raw_policies(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [p if isinstance(p, dict) else {} for p in raw.get("policies") or []]


def _ladders(i: int, raw_policy: dict[str, Any], policy: PolicySpec) -> list[tuple[str, str | None, list[Band]]]:
    """(YAML path, region or None, bands in YAML order) for the default ladder and every region override."""
    base = _ppath(i, raw_policy)
    out: list[tuple[str, str | None, list[Band]]] = [(f"{base}.bands", None, [Band(**b) for b in raw_policy["bands"]])]
    for region, override in (raw_policy.get("regions") or {}).items():
        out.append((f"{base}.regions.{region}.bands", region, [Band(**b) for b in override["bands"]]))
    return out


def _profiles(spec: PackSpec, ctx: LintContext) -> dict[str, Any]:
    return {k: v for k, v in spec.profiles.items() if ctx.profile is None or k == ctx.profile}


def _resolved_curve(spec_policy: PolicySpec, ctx: LintContext) -> dict[str, Any] | None:
    return (((ctx.card or {}).get("stream") or {}).get("policies") or {}).get(spec_policy.id)


def _score(band: Band, curve: dict[str, Any] | None) -> float | None:
    """A band's threshold: its number, or its auto@P resolved on the model card's curve (None if unknown)."""
    if band.min_score is not None:
        return band.min_score
    if curve is None or band.auto_precision is None:
        return None
    return threshold_for_precision(curve, band.auto_precision)


# --- gaps -----------------------------------------------------------------------------------------------------


def check_region_coverage(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL101: regions the pack (or the lake) knows that a regionally-tuned policy leaves on its defaults."""
    listed = {r for p in spec.policies for r in p.regions}
    known = {r for r in listed if r not in REGION_GROUPS} | set(ctx.seen_regions)
    groups = {g for g in listed if g in REGION_GROUPS}
    out = []
    for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
        if not p.regions:
            continue

        def covered(region: str, p: PolicySpec = p) -> bool:
            return region in p.regions or any(g in p.regions and region in REGION_GROUPS[g] for g in REGION_GROUPS)

        missing = sorted(r for r in known if not covered(r))
        missing += sorted(g for g in groups if g not in p.regions and not all(covered(m) for m in REGION_GROUPS[g]))
        if missing:
            out.append(
                _finding(
                    "PL101",
                    f"{_ppath(i, rp)}.regions",
                    f"{p.id} has regional bands for {', '.join(sorted(p.regions))} but none for "
                    f"{', '.join(missing)} (listed elsewhere in the pack or seen in the lake): they get the defaults",
                )
            )
    return out


def check_automated_detectors(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL102: a policy whose detectors are all non-enforcing (user reports): nothing can act automatically."""
    out = []
    for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
        automated = [b for b in p._all_bands() if b.action != "escalate"]
        if automated and not any(d.enforces for d in p.detectors):
            out.append(
                _finding(
                    "PL102",
                    f"{_ppath(i, rp)}.detectors",
                    f"{p.id} has automated bands but only non-enforcing detectors "
                    f"({', '.join(d.id for d in p.detectors)}): every hit goes to review",
                )
            )
    return out


def check_dsa_keywords(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL103: a DSA statement without a category_specification keyword."""
    return [
        _finding(
            "PL103",
            f"{_ppath(i, rp)}.dsa.category_specification",
            f"{p.id}: statements of reasons under {p.dsa.category} would carry no keyword",
        )
        for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True))
        if not p.dsa.category_specification
    ]


def check_classifier_labels(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL104: classifier labels the registered model was not trained on (only with a model card)."""
    if ctx.card is None:
        return []
    labels = set(ctx.card.get("labels") or [])
    out = []
    for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
        for j, d in enumerate(p.detectors):
            label = d.params.get("label")
            if d.kind == "classifier" and label not in labels:
                optional = bool(d.params.get("optional"))
                out.append(
                    _finding(
                        "PL104",
                        f"{_ppath(i, rp)}.detectors[{j}]({d.id}).params.label",
                        f"model {ctx.card.get('version', '?')} has no label {label!r}"
                        + (" (optional: the detector is skipped)" if optional else ""),
                        WARNING if optional else None,
                    )
                )
    return out


# --- conflicts ------------------------------------------------------------------------------------------------


def _max_scores(p: PolicySpec) -> tuple[float, float]:
    """Highest policy score any detector can give, and the highest from detectors that may act alone."""
    every = max((d.weight for d in p.detectors), default=0.0)
    enforcing = max((d.weight for d in p.detectors if d.enforces), default=0.0)
    return every, enforcing


def check_band_reachability(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL201: bands no score can reach (above every detector weight) or that another band always shadows."""
    out = []
    for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
        every, enforcing = _max_scores(p)
        curve = _resolved_curve(p, ctx)
        for path, _region, bands in _ladders(i, rp, p):
            for j, b in enumerate(bands):
                t = _score(b, curve)
                if t is None:
                    continue
                cap = every if b.action == "escalate" else enforcing
                if t > cap + 1e-9:
                    who = "detectors" if b.action == "escalate" else "detectors that may act alone"
                    out.append(
                        _finding(
                            "PL201",
                            f"{path}[{j}]",
                            f"{b.action} at {t:g} can never be chosen: {p.id}'s {who} score at most {cap:g} "
                            "(a score is the detector's score times its weight)",
                        )
                    )
            if curve is not None and any(b.auto_precision is not None for b in bands):
                resolved = [(j, b, _score(b, curve)) for j, b in enumerate(bands) if b.auto_precision is not None]
                by_t: dict[float, list[int]] = {}
                for j, _b, t in resolved:
                    if t is not None:
                        by_t.setdefault(t, []).append(j)
                for t, js in by_t.items():
                    if len(js) > 1:
                        kept = max(js, key=lambda j: ACTION_SEVERITY[bands[j].action])
                        for j in js:
                            if j != kept:
                                out.append(
                                    _finding(
                                        "PL201",
                                        f"{path}[{j}]",
                                        f"{bands[j].describe()} resolves to {t:.3f} on model "
                                        f"{ctx.card.get('version', '?')}, the same score as "  # type: ignore[union-attr]
                                        f"{bands[kept].action}: it is never chosen",
                                    )
                                )
    return out


def check_band_order(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL202: a ladder repeating an action, or a milder action above a stricter one (overlapping intent)."""
    out = []
    for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
        for path, _region, bands in _ladders(i, rp, p):
            ordered = sorted(
                range(len(bands)), key=lambda j: bands[j].min_score if bands[j].resolved else bands[j].auto_precision
            )
            seen: dict[str, int] = {}
            for rank, j in enumerate(ordered):
                b = bands[j]
                if b.action in seen:
                    out.append(
                        _finding(
                            "PL202",
                            f"{path}[{j}]",
                            f"{b.action} appears twice in this ladder (also [{seen[b.action]}]): the lower one already takes it",
                        )
                    )
                seen[b.action] = j
                below = [bands[k] for k in ordered[:rank]]
                # escalate routes to review: it is neither milder nor stricter than an automated action
                stricter = [
                    x for x in below if x.action != "escalate" and ACTION_SEVERITY[x.action] > ACTION_SEVERITY[b.action]
                ]
                if stricter and b.action != "escalate":
                    out.append(
                        _finding(
                            "PL202",
                            f"{path}[{j}]",
                            f"{b.action} at {b.describe()} sits above the stricter {stricter[-1].action} at "
                            f"{stricter[-1].describe()}: higher scores would get the milder action",
                        )
                    )
    return out


def _looser(region_bands: list[Band], global_bands: list[Band]) -> list[str]:
    """Actions the global ladder takes that the region's takes later (higher score or precision) or never."""

    def key(b: Band) -> float:
        return b.min_score if b.resolved else b.auto_precision  # type: ignore[return-value]

    mixed = {b.resolved for b in region_bands} | {b.resolved for b in global_bands}
    if len(mixed) > 1:
        return []
    regional = {b.action: key(b) for b in region_bands}
    out = []
    for b in global_bands:
        if b.action == "escalate":
            continue
        if b.action not in regional:
            stricter_there = [a for a in regional if ACTION_SEVERITY[a] > ACTION_SEVERITY[b.action] and a != "escalate"]
            if not stricter_there:
                out.append(f"no {b.action} (global: {b.describe()})")
        elif regional[b.action] > key(b) + 1e-9:
            shown = next(r for r in region_bands if r.action == b.action).describe()
            out.append(f"{b.action} at {shown} (global: {b.describe()})")
    return out


def check_regions_under_strict_profiles(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL203: under a profile that lowers a policy's thresholds (stricter), a region stays looser than global."""
    out = []
    for name, prof in _profiles(spec, ctx).items():
        for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
            if prof.threshold_offsets.get(p.id, 0.0) >= 0:
                continue
            for path, region, bands in _ladders(i, rp, p)[1:]:
                looser = _looser(bands, p.bands)
                if looser:
                    out.append(
                        _finding(
                            "PL203",
                            path,
                            f"profile {name} tightens {p.id} by {prof.threshold_offsets[p.id]:+g}, but {region} "
                            f"stays looser than the global bands: {'; '.join(looser)}",
                        )
                    )
    return out


def check_profile_offsets(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL204: offsets that move a numeric threshold below 0 or above 1, or an auto@P band's precision target
    (the offset moves P, not the resolved score) outside [0.05, 0.999]."""
    out = []
    for name, prof in _profiles(spec, ctx).items():
        for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
            offset = prof.threshold_offsets.get(p.id, 0.0)
            if not offset:
                continue
            curve = _resolved_curve(p, ctx)
            for path, _region, bands in _ladders(i, rp, p):
                for j, b in enumerate(bands):
                    if (
                        b.auto_precision is not None
                    ):  # the offset moves the precision target (PolicySpec.with_thresholds)
                        target = b.auto_precision + offset
                        if not 0.05 <= target <= 0.999:
                            out.append(
                                _finding(
                                    "PL204",
                                    f"profiles.{name}.threshold_offsets.{p.id}",
                                    f"{offset:+g} moves {path}[{j}] ({b.action} at auto@{b.auto_precision:g}) "
                                    f"to a precision target of {target:g}, outside [0.05, 0.999]: it would be "
                                    "clamped",
                                )
                            )
                        continue
                    t = _score(b, curve)
                    if t is not None and not 0.0 <= t + offset <= 1.0:
                        out.append(
                            _finding(
                                "PL204",
                                f"profiles.{name}.threshold_offsets.{p.id}",
                                f"{offset:+g} moves {path}[{j}] ({b.action} at {t:g}) to {t + offset:g}, "
                                "outside [0, 1]: it would be clipped",
                            )
                        )
    return out


def check_never_automate(raw: dict[str, Any]) -> list[Finding]:
    """PL205: never_automate policies whose bands (default or regional) name an automated action."""
    out = []
    for i, rp in enumerate(_raw_policies(raw)):
        if not rp.get("never_automate"):
            continue
        ladders = [(f"{_ppath(i, rp)}.bands", rp.get("bands") or [])]
        ladders += [
            (f"{_ppath(i, rp)}.regions.{k}.bands", (v or {}).get("bands") or [])
            for k, v in (rp.get("regions") or {}).items()
        ]
        for path, bands in ladders:
            for j, b in enumerate(bands):
                if isinstance(b, dict) and b.get("action") not in (None, "escalate"):
                    out.append(
                        _finding(
                            "PL205",
                            f"{path}[{j}]",
                            f"{rp.get('id')} is never_automate but this band would {b['action']} automatically",
                        )
                    )
    return out


def _lexicon_terms(text: str) -> list[tuple[str, float]]:
    terms = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        term, _, weight = line.partition("\t")
        terms.append((term.strip().casefold(), float(weight) if weight.strip() else 1.0))
    return terms


def check_lexicon_overlap(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL206: one lexicon term in two policies: a post using it is acted on under both."""
    where: dict[str, list[tuple[str, str, float]]] = {}
    for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
        for j, d in enumerate(p.detectors):
            rel = d.params.get("terms")
            if d.kind != "lexicon" or rel not in ctx.resources:
                continue
            for term, weight in _lexicon_terms(ctx.resources[rel]):
                where.setdefault(term, []).append((f"{_ppath(i, rp)}.detectors[{j}]({d.id})", p.id, weight * d.weight))
    out = []
    for term, hits in sorted(where.items()):
        policies = sorted({h[1] for h in hits})
        if len(policies) > 1:
            shown = ", ".join(f"{h[1]} ({h[2]:.2f})" for h in hits)
            out.append(_finding("PL206", hits[-1][0], f"term {term!r} is in the lexicons of {shown}"))
    return out


def check_claim_urls(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL207: the same claim text in two claim files (any profile) pointing at different fact checks."""
    files: dict[str, str] = {}
    for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
        for j, d in enumerate(p.detectors):
            if d.kind == "claim_match" and isinstance(d.params.get("claims"), str):
                files.setdefault(d.params["claims"], f"{_ppath(i, rp)}.detectors[{j}]({d.id}).params.claims")
    for name, prof in spec.profiles.items():
        for pid, dets in prof.extra_detectors.items():
            for j, d in enumerate(dets):
                if d.kind == "claim_match" and isinstance(d.params.get("claims"), str):
                    files.setdefault(
                        d.params["claims"], f"profiles.{name}.extra_detectors.{pid}[{j}]({d.id}).params.claims"
                    )
    frames = []
    for rel in files:
        if rel in ctx.resources:
            f = pd.read_csv(io.StringIO(ctx.resources[rel]), dtype=str, keep_default_na=False)
            if {"text", "fact_check_url"} <= set(f.columns):
                frames.append(f.assign(file=rel, key=f["text"].str.strip().str.casefold()))
    if not frames:
        return []
    claims = pd.concat(frames, ignore_index=True)
    out = []
    for key, g in claims.groupby("key", sort=True):
        if g["file"].nunique() > 1 and g["fact_check_url"].nunique() > 1:
            shown = "; ".join(f"{r.file}: {r.fact_check_url}" for r in g.itertuples())
            out.append(
                _finding("PL207", files[g["file"].iloc[-1]], f"claim {key!r} has different fact checks: {shown}")
            )
    return out


# --- inconsistencies ------------------------------------------------------------------------------------------


def check_severity_sla(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL301: a policy whose review SLA is longer than that of a less severe policy."""
    out = []
    for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
        milder = [q for q in spec.policies if q.severity < p.severity and q.sla_hours < p.sla_hours]
        if milder:
            q = min(milder, key=lambda q: q.sla_hours)
            out.append(
                _finding(
                    "PL301",
                    f"{_ppath(i, rp)}.sla_hours",
                    f"{p.id} (severity {p.severity}) waits {p.sla_hours:g} h for review, longer than "
                    f"{q.id} (severity {q.severity}, {q.sla_hours:g} h)",
                )
            )
    return out


def check_effective_dates(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL302: policies not in force today (future start or past end), and profile entries naming them."""
    out = []
    idle = {}
    for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
        if p.effective_until is not None and p.effective_until < p.effective_from:
            out.append(
                _finding(
                    "PL302",
                    f"{_ppath(i, rp)}.effective_until",
                    f"{p.id} ends ({p.effective_until}) before it starts ({p.effective_from}): it never acts",
                    ERROR,
                )
            )
        elif p.effective_from > ctx.today:
            idle[p.id] = f"starts {p.effective_from}"
            out.append(
                _finding(
                    "PL302",
                    f"{_ppath(i, rp)}.effective_from",
                    f"{p.id} is not in force until {p.effective_from}: its bands act on nothing before then",
                )
            )
        elif p.effective_until is not None and p.effective_until < ctx.today:
            idle[p.id] = f"ended {p.effective_until}"
            out.append(
                _finding(
                    "PL302",
                    f"{_ppath(i, rp)}.effective_until",
                    f"{p.id} ended on {p.effective_until}: its bands no longer act",
                )
            )
    for name, prof in _profiles(spec, ctx).items():
        for section in ("threshold_offsets", "priority_multiplier", "extra_detectors"):
            for pid in getattr(prof, section):
                if pid in idle:
                    out.append(
                        _finding(
                            "PL302",
                            f"profiles.{name}.{section}.{pid}",
                            f"profile {name} adjusts {pid}, which is not in force today ({idle[pid]})",
                        )
                    )
    return out


def check_precision_floors(raw: dict[str, Any], spec: PackSpec, ctx: LintContext) -> list[Finding]:
    """PL303: automated bands designed (auto@P, or the policy's precision target) or measured (model card) below
    the precision floor, so the circuit breaker would pause a policy that works as designed."""
    out = []
    for i, (rp, p) in enumerate(zip(_raw_policies(raw), spec.policies, strict=True)):
        curve = _resolved_curve(p, ctx)
        for path, _region, bands in _ladders(i, rp, p):
            for j, b in enumerate(bands):
                if b.action == "escalate":
                    continue
                target = b.auto_precision if b.auto_precision is not None else p.precision_target(b.action)
                if target < p.precision_floor:
                    out.append(
                        _finding(
                            "PL303",
                            f"{path}[{j}]",
                            f"{b.action} aims at precision {target:g}, below {p.id}'s floor {p.precision_floor:g}: "
                            "on target it would trip the circuit breaker",
                        )
                    )
                    continue
                t = _score(b, curve)
                measured = _curve_precision(curve, t) if curve is not None and t is not None else None
                if measured is not None and measured < p.precision_floor:
                    out.append(
                        _finding(
                            "PL303",
                            f"{path}[{j}]",
                            f"{b.action} at {t:.3f}: model {ctx.card.get('version', '?')} measures precision "  # type: ignore[union-attr]
                            f">= {measured:.3f} there (lower bound), below {p.id}'s floor {p.precision_floor:g}",
                        )
                    )
    return out


def _curve_precision(curve: dict[str, Any], threshold: float) -> float | None:
    """The card's conservative precision at the curve point nearest at or above `threshold`."""
    pairs = [
        (t, pl)
        for t, pl in zip(curve.get("thresholds") or [], curve.get("precision_lower") or [], strict=False)
        if pl is not None and t >= threshold - 1e-9
    ]
    return float(min(pairs)[1]) if pairs else None


def exit_code(findings: list[Finding]) -> int:
    """1 when any finding is an error, else 0."""
    return 1 if any(f.severity == ERROR for f in findings) else 0
