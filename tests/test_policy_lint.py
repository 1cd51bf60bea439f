"""`policy lint`: the default pack passes; each check reports its planted problem (one test per check)."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from modsweep.cli import app
from modsweep.cli_policy import _pack_resources
from modsweep.policy import resolve_pack_path
from modsweep.tasks.policy_lint import CHECKS, LintContext, exit_code, lint_pack

TODAY = date(2026, 12, 2)


@pytest.fixture(scope="module")
def default() -> tuple[dict[str, Any], dict[str, str]]:
    path = resolve_pack_path("community-guidelines")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return raw, _pack_resources(path, raw)


def _policy(raw: dict[str, Any], policy_id: str) -> dict[str, Any]:
    return next(p for p in raw["policies"] if p["id"] == policy_id)


def _lint(raw: dict[str, Any], resources: dict[str, str], **kw: Any) -> list:
    return lint_pack(raw, LintContext(resources=resources, today=TODAY, **kw))


def _codes(findings: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in findings:
        out.setdefault(f.code, []).append(f)
    return out


def _new(
    default: tuple[dict[str, Any], dict[str, str]],
    code: str,
    mutated: dict[str, Any],
    resources: dict[str, str] | None = None,
    **kw: Any,
) -> list:
    """Findings of `code` on the mutated pack that the default pack does not have."""
    raw, res = default
    before = {(f.path, f.message) for f in _lint(raw, res, **kw) if f.code == code}
    after = _lint(mutated, resources or res, **kw)
    return [f for f in after if f.code == code and (f.path, f.message) not in before]


def test_default_pack_has_no_errors(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    findings = _lint(*default)
    assert exit_code(findings) == 0
    assert not [f for f in findings if f.severity == "error"]
    assert {f.code for f in findings} <= {"PL101", "PL203"}  # known, reviewed warnings (README)


def test_schema_error_is_a_finding_with_its_path(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    _policy(raw, "hate.speech")["bands"][1]["action"] = "obliterate"
    [f] = _new(default, "PL000", raw)
    assert f.severity == "error" and f.path == "policies[3](hate.speech).bands[1].action"


def test_lake_regions_are_read_through_the_lake_on_any_filesystem(
    modsweep_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest three days' regions, from an fsspec lake that is not a local path (memory://)."""
    import pyarrow as pa

    from modsweep import resources
    from modsweep.cli_policy import _lake_regions

    monkeypatch.setenv("MODSWEEP_LAKE_URL", "memory://lint-regions")
    resources.reset()
    lake = resources.lake()
    for day, key, regions in (
        (date(2026, 11, 1), "a", ["FR"]),
        (date(2026, 11, 2), "a", ["JP", "US"]),
        (date(2026, 11, 3), "a", ["US"]),
        (date(2026, 11, 3), "b", ["KE"]),
        (date(2026, 11, 4), "a", ["BR"]),
    ):
        lake.write(pa.table({"region": regions}), "items", day, key, "part-00000")
    assert lake.days("items")[-1] == date(2026, 11, 4) and lake.run_keys("items", date(2026, 11, 3)) == ["a", "b"]
    assert _lake_regions() == frozenset({"JP", "US", "KE", "BR"})  # 11-01 is older than the newest three days


def test_region_gap_from_the_lake(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    without = {f.path for f in _lint(*default) if f.code == "PL101"}
    found = [f for f in _lint(*default, seen_regions=frozenset({"JP"})) if f.code == "PL101"]
    # every policy with regional bands now lacks JP, including those that covered every listed region
    assert all("JP" in f.message for f in found) and len(found) == 7
    assert {f.path for f in found} > without
    assert "policies[2](aigc.undisclosed).regions" in {f.path for f in found} - without


def test_policy_with_only_report_detectors(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    pol = _policy(raw, "hate.speech")
    pol["detectors"] = [d for d in pol["detectors"] if d["kind"] == "reports"]
    [f] = _new(default, "PL102", raw)
    assert f.path == "policies[3](hate.speech).detectors" and f.severity == "warning"


def test_missing_dsa_keyword(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    _policy(raw, "self_harm")["dsa"]["category_specification"] = []
    [f] = _new(default, "PL103", raw)
    assert f.path == "policies[5](self_harm).dsa.category_specification"


def test_classifier_label_missing_from_the_model(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    card = {
        "version": "v-test",
        "labels": [
            "misinfo.medical",
            "civic.election_integrity",
            "self_harm",
            "minor_safety",
            "deceptive.spam",
            "violent_extremism",
        ],
    }
    found = _lint(*default, card=card)
    by_path = {f.path: f for f in found if f.code == "PL104"}
    assert by_path["policies[3](hate.speech).detectors[1](hate-classifier).params.label"].severity == "error"
    optional = by_path["policies[3](hate.speech).detectors[2](harassment-classifier).params.label"]
    assert optional.severity == "warning" and "optional" in optional.message


def test_band_above_what_detectors_can_score(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    pol = _policy(raw, "deceptive.coordinated")
    pol["detectors"][0]["weight"] = 0.82  # the only detector now scores at most 0.82
    found = _new(default, "PL201", raw)
    base = "policies[8](deceptive.coordinated)"
    # reduce_reach at 0.85 (default, EU, US) is out of reach; IN and BR act from 0.8 and stay reachable
    assert {f.path for f in found} == {f"{base}.bands[1]", f"{base}.regions.EU.bands[1]", f"{base}.regions.US.bands[1]"}
    assert all("at most 0.82" in f.message and f.severity == "error" for f in found)


def test_milder_action_above_stricter_one(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    _policy(raw, "violent_extremism")["bands"].append({"min_score": 0.95, "action": "label"})
    [f] = _new(default, "PL202", raw)
    assert f.path == "policies[4](violent_extremism).bands[2]" and "stricter remove" in f.message


def test_region_looser_under_a_stricter_profile(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    _policy(raw, "civic.election_integrity")["regions"]["BR"]["bands"][1] = {
        "min_score": "auto@0.97",
        "action": "label",
    }
    [f] = _new(default, "PL203", raw)
    assert f.path == "policies[1](civic.election_integrity).regions.BR.bands" and "election-surge" in f.message


def test_profile_offset_outside_zero_one(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    raw["profiles"]["election-surge"]["threshold_offsets"]["deceptive.coordinated"] = -0.6
    found = _new(default, "PL204", raw)
    assert found and all(f.path == "profiles.election-surge.threshold_offsets.deceptive.coordinated" for f in found)
    assert any("-0.1" in f.message for f in found)  # 0.5 - 0.6 on the default escalate band
    # restricted to the standard profile the offset is not checked
    assert not [f for f in _lint(raw, default[1], profile="standard") if f.code == "PL204"]
    # on an auto@ ladder the offset moves the precision target: -0.15 on auto@0.3 is fine, -0.3 is not
    raw = copy.deepcopy(default[0])
    assert not _new(default, "PL204", raw)
    raw["profiles"]["election-surge"]["threshold_offsets"]["civic.election_integrity"] = -0.3
    found = _new(default, "PL204", raw)
    assert found and all("precision target of 0" in f.message and "auto@0.3" in f.message for f in found)


def test_never_automate_policy_with_an_automated_band(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    _policy(raw, "self_harm")["bands"].append({"min_score": "auto@0.99", "action": "remove"})
    found = _lint(raw, default[1])
    [f] = [x for x in found if x.code == "PL205"]
    assert f.path == "policies[5](self_harm).bands[1]" and f.severity == "error"
    assert not [x for x in found if x.code == "PL000"]  # said once, not again by the schema


def test_lexicon_term_in_two_policies(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    res = dict(default[1])
    rel = "community-guidelines/lexicons/deceptive.spam.txt"
    res[rel] = res[rel] + "\nplandemic\t0.9\n"
    [f] = _new(default, "PL206", default[0], resources=res)
    assert "'plandemic'" in f.message and "misinfo.medical" in f.message and "deceptive.spam" in f.message


def test_claim_in_two_files_with_different_fact_checks(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    res = dict(default[1])
    rel = "community-guidelines/claims/election.csv"
    res[rel] = res[rel].rstrip("\n") + "\nx-1,Vaccines cause autism,https://example.org/other-check,en\n"
    [f] = _new(default, "PL207", default[0], resources=res)
    assert "vaccines cause autism" in f.message and "https://example.org/other-check" in f.message
    assert f.severity == "error"


def test_more_severe_policy_with_longer_sla(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    _policy(raw, "violent_extremism")["sla_hours"] = 96
    [f] = _new(default, "PL301", raw)
    assert f.path == "policies[4](violent_extremism).sla_hours" and "96 h" in f.message


def test_policy_not_yet_in_force_and_profile_referencing_it(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    _policy(raw, "civic.election_integrity")["effective_from"] = date(2027, 6, 1)
    found = _new(default, "PL302", raw)
    paths = {f.path for f in found}
    assert "policies[1](civic.election_integrity).effective_from" in paths
    assert "profiles.election-surge.threshold_offsets.civic.election_integrity" in paths


def test_automated_band_aiming_below_the_floor(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    raw = copy.deepcopy(default[0])
    _policy(raw, "hate.speech")["bands"][1] = {"min_score": "auto@0.8", "action": "reduce_reach"}  # floor is 0.85
    [f] = _new(default, "PL303", raw)
    assert f.path == "policies[3](hate.speech).bands[1]" and "0.8" in f.message and "0.85" in f.message


def test_automated_band_measured_below_the_floor_on_the_card(default: tuple[dict[str, Any], dict[str, str]]) -> None:
    curve = {"thresholds": [0.2, 0.5, 0.8], "precision_lower": [0.5, 0.86, 0.97]}
    card = {"version": "v-test", "labels": [], "stream": {"policies": {"deceptive.spam": curve}}}
    raw = copy.deepcopy(default[0])
    pol = _policy(raw, "deceptive.spam")
    pol["precision_floor"] = 0.9
    pol["bands"] = [
        {"min_score": 0.3, "action": "escalate"},
        {"min_score": 0.5, "action": "reduce_reach"},
        {"min_score": 0.9, "action": "remove"},
    ]  # the card measures 0.86 at 0.5, below the floor
    found = [f for f in _lint(raw, default[1], card=card) if f.code == "PL303"]
    assert [f.path for f in found] == ["policies[7](deceptive.spam).bands[1]"]
    assert "0.860" in found[0].message


def test_every_check_has_a_test() -> None:
    text = Path(__file__).read_text(encoding="utf-8")
    assert all(f'"{code}"' in text for code in CHECKS)


def test_cli_lint_json_and_exit_codes(
    tmp_path: Path, default: tuple[dict[str, Any], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODSWEEP_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    ok = runner.invoke(app, ["policy", "lint", "community-guidelines", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["errors"] == 0
    raw = copy.deepcopy(default[0])
    _policy(raw, "self_harm")["bands"].append({"min_score": "auto@0.99", "action": "remove"})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    res = runner.invoke(app, ["policy", "lint", str(bad)])
    assert res.exit_code == 1 and "PL205" in res.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("pack: [unclosed\n", encoding="utf-8")
    res = runner.invoke(app, ["policy", "lint", str(broken)])
    assert res.exit_code == 2 and "Traceback" not in res.output
