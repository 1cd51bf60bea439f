from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from modsweep.policy import PolicyPackError, load_pack, resolve_pack_path
from modsweep.schemas import POLICY_IDS
from tests.helpers.cards import linear_card


def _write_variant(tmp_path: Path, mutate) -> Path:
    src = resolve_pack_path("community-guidelines")
    raw = yaml.safe_load(src.read_text())
    mutate(raw)
    shutil.copytree(src.parent / "community-guidelines", tmp_path / "community-guidelines")
    out = tmp_path / "pack.yaml"
    out.write_text(yaml.safe_dump(raw))
    return out


def test_default_pack_covers_every_policy_and_hashes_its_resources():
    pack = load_pack("community-guidelines")
    assert {p.id for p in pack.policies()} == set(POLICY_IDS)
    assert len(pack.sha256) == 64
    assert any(k.endswith(".txt") for k in pack.resources)


def test_self_harm_never_removes_in_any_profile():
    for profile in ("standard", "election-surge"):
        policy = load_pack("community-guidelines", profile).policy("self_harm")
        actions = {b.action for b in policy.bands} | {b.action for r in policy.regions.values() for b in r.bands}
        assert actions == {"escalate"}


def test_election_surge_tightens_civic_thresholds():
    card = linear_card()
    std = load_pack("community-guidelines", "standard").with_model_thresholds(card).policy("civic.election_integrity")
    surge = (
        load_pack("community-guidelines", "election-surge")
        .with_model_thresholds(card)
        .policy("civic.election_integrity")
    )
    assert surge.bands[0].min_score < std.bands[0].min_score
    assert surge.bands_for("US")[0].min_score < std.bands_for("US")[0].min_score


def test_region_override_and_eu_group():
    policy = load_pack("community-guidelines").with_model_thresholds(linear_card()).policy("misinfo.medical")
    assert policy.bands_for("DE")[-1].action == "remove"  # EU group override
    assert policy.bands_for("JP")[-1].action == "reduce_reach"  # default bands
    assert policy.bands_for("US")[-1].action == "label"  # own override


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["policies"][0].update(id="misinfo.unknown"), "unknown policy 'misinfo.unknown'"),
        (lambda r: r["policies"][3]["bands"][0].update(action="ban"), "unknown action 'ban'"),
        (lambda r: r["policies"][3]["detectors"][0].update(kind="telepathy"), "unknown detector kind 'telepathy'"),
        (
            lambda r: r["policies"][0]["regions"].update({"Europe": r["policies"][0]["regions"]["EU"]}),
            "unknown region 'Europe'",
        ),
        (lambda r: r["policies"][0]["dsa"].update(category="STATEMENT_CATEGORY_NOPE"), "unknown DSA category"),
    ],
)
def test_invalid_pack_names_file_path_and_value(tmp_path, mutate, expected):
    path = _write_variant(tmp_path, mutate)
    with pytest.raises(PolicyPackError) as info:
        load_pack(str(path))
    message = str(info.value)
    assert str(path) in message
    assert expected in message
    assert "policies[" in message


def test_self_harm_with_removal_band_is_rejected(tmp_path):
    def mutate(raw):
        sh = next(p for p in raw["policies"] if p["id"] == "self_harm")
        sh["bands"].append({"min_score": "auto@0.9", "action": "remove"})

    with pytest.raises(PolicyPackError, match="never_automate"):
        load_pack(str(_write_variant(tmp_path, mutate)))


def test_unknown_profile_and_missing_pack_are_clear():
    with pytest.raises(PolicyPackError, match="no profile 'holiday'"):
        load_pack("community-guidelines", "holiday")
    with pytest.raises(PolicyPackError, match="no policy pack named"):
        load_pack("does-not-exist")


def test_effective_dates_filter_policies(tmp_path):
    def mutate(raw):
        raw["policies"][0]["effective_from"] = "2027-01-01"

    pack = load_pack(str(_write_variant(tmp_path, mutate)))
    assert raw_ids(pack, date(2026, 11, 23)) == set(POLICY_IDS) - {"misinfo.medical"}


def raw_ids(pack, day):
    return {p.id for p in pack.policies(day)}


def test_resources_outside_the_pack_folder_are_refused(tmp_path):
    def mutate(raw):
        raw["policies"][0]["detectors"][0]["params"]["terms"] = "../../etc/passwd"

    with pytest.raises(PolicyPackError, match="outside the pack folder"):
        load_pack(str(_write_variant(tmp_path, mutate)))


def test_a_candidate_pack_saved_anywhere_reuses_the_shipped_resources_and_its_own_first(tmp_path):
    """A copy of the default pack outside policies/ loads with the shipped lexicons; a lexicon beside it wins."""
    shipped = load_pack()
    copy = tmp_path / "candidate.yaml"
    copy.write_bytes(Path(shipped.path).read_bytes())
    assert load_pack(str(copy)).resources == shipped.resources
    rel = next(k for k in shipped.resources if k.endswith(".txt"))
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text("a brand new phrase\n", encoding="utf-8")
    own = load_pack(str(copy))
    assert own.resources[rel] == "a brand new phrase\n" and own.sha256 != shipped.sha256
