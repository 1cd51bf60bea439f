"""`modsweep train --manifest`: real labelled data → a registered model with per data set validation metrics;
bad manifests and data roots exit 2 naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from modsweep.cli import app
from modsweep.registry import load_model
from modsweep.tasks.train import MODEL_NAME

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "manifests" / "shared-datasets.yaml"


def _subset_manifest(path: Path, ids: list[str]) -> Path:
    """The shipped manifest cut down to a few entries (the same paths, relative to the shared data root)."""
    data = yaml.safe_load(SHIPPED.read_text())
    data["datasets"] = [d for d in data["datasets"] if d["id"] in ids]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_train_manifest_registers_a_model_and_prints_validation_metrics(modsweep_home, shared_datasets, tmp_path):
    manifest = _subset_manifest(tmp_path / "subset.yaml", ["sms-spam", "suicide-ideation"])
    result = CliRunner().invoke(
        app, ["train", "--manifest", str(manifest), "--data-root", str(shared_datasets), "--max-train-rows", "800"]
    )
    assert result.exit_code == 0, result.output
    for text in ("sms-spam", "suicide-ideation", "macro-F1", "ROC-AUC", "prec@0.9", "rec@0.5"):
        assert text in result.output, text
    # The default pack's policies without training data are named: sweeps skip those classifiers.
    assert "hate.speech/hate-classifier" in result.output and "minor_safety/minors-classifier" in result.output
    # The very first model becomes the one sweeps use; a later one only when asked (`models activate`).
    latest = modsweep_home / "models" / MODEL_NAME / "LATEST"
    (first,) = [p.parent.name for p in (modsweep_home / "models" / MODEL_NAME).glob("*/card.json")]
    assert latest.read_text() == first and "a quick model: --max-train-rows 800" in result.output
    again = CliRunner().invoke(
        app, ["train", "--manifest", str(manifest), "--data-root", str(shared_datasets), "--max-train-rows", "700"]
    )
    assert again.exit_code == 0, again.output
    (version,) = [
        p.parent.name for p in (modsweep_home / "models" / MODEL_NAME).glob("*/card.json") if p.parent.name != first
    ]
    assert latest.read_text() == first
    assert "registered but not active" in again.output and f"modsweep models activate {version}" in again.output
    listed = json.loads(CliRunner().invoke(app, ["models", "list", "--json"]).output)
    assert [(v["version"], v["active"], v["max_train_rows"]) for v in listed] == [
        (first, True, 800),
        (version, False, 700),
    ]
    activated = CliRunner().invoke(app, ["models", "activate", version])
    assert activated.exit_code == 0, activated.output
    model, card = load_model(modsweep_home / "models", MODEL_NAME)
    assert model.labels == ["deceptive.spam", "self_harm"]
    assert latest.read_text() == card["version"] == version
    assert CliRunner().invoke(app, ["models", "activate", "no-such-version"]).exit_code == 2
    spam = card["training_data"]["datasets"]["sms-spam"]
    assert spam["rows_train"] == 700 and spam["validation"]["rows"] > 1000 and spam["validation"]["roc_auc"] > 0.95
    assert card["training_data"]["source"] == f"manifest:{manifest}" and json.dumps(card)
    p = model.score_texts(__import__("pandas").Series(["WINNER!! claim your free prize, call 09061701461 now"]))
    assert p["deceptive.spam"][0] > 0.5


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("manifest_text", "expected"),
    [
        # an unknown key inside an entry: the file, the entry and the key are named
        (
            "datasets:\n  - {id: spam, label: deceptive.spam, format: tsv, source: s.tsv, holdout: 0.2,\n"
            "     text_column: t, label_column: l, positive: [spam], seperator: ';'}\n",
            ["'spam'", "seperator"],
        ),
        # a format that does not exist
        (
            "datasets:\n  - {id: spam, label: deceptive.spam, format: xlsx, source: s.tsv, holdout: 0.2,\n"
            "     text_column: t, label_column: l, positive: [spam]}\n",
            ["'spam'", "'format'"],
        ),
        ("datasets: []\n", ["'datasets'"]),
        ("datasets: [\n", ["not valid YAML"]),
    ],
)
def test_train_manifest_errors_exit_2_naming_the_file_and_the_key(modsweep_home, tmp_path, manifest_text, expected):
    manifest = _write(tmp_path / "bad.yaml", manifest_text)
    result = CliRunner().invoke(app, ["train", "--manifest", str(manifest), "--data-root", str(tmp_path)])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "bad.yaml" in output
    for text in expected:
        assert text in output, text
    assert not (modsweep_home / "models").exists()


def test_train_manifest_bad_data_root_and_missing_files_exit_2(modsweep_home, tmp_path):
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(app, ["train", *args])
        return result.exit_code, " ".join(result.output.split())

    code, out = run("--manifest", str(SHIPPED), "--data-root", str(tmp_path / "nowhere"))
    assert code == 2 and "--data-root" in out and "nowhere" in out and "not a directory" in out
    code, out = run("--manifest", str(tmp_path / "missing.yaml"), "--data-root", str(tmp_path))
    assert code == 2 and "missing.yaml" in out and "not found" in out
    # A data root without the manifest's files: the data set, the file and the manifest are named.
    code, out = run("--manifest", str(SHIPPED), "--data-root", str(tmp_path), "--dataset", "sms-spam")
    assert code == 2 and "'sms-spam'" in out and "SMSSpamCollection" in out and "shared-datasets.yaml" in out
    # A column the file does not have.
    (tmp_path / "d.csv").write_text("text,label\nhello,1\n")
    manifest = _write(
        tmp_path / "cols.yaml",
        yaml.safe_dump(
            {
                "datasets": [
                    {
                        "id": "d",
                        "label": "deceptive.spam",
                        "format": "csv",
                        "source": "d.csv",
                        "holdout": 0.5,
                        "text_column": "body",
                        "label_column": "label",
                        "positive": ["1"],
                    }
                ]
            }
        ),
    )
    code, out = run("--manifest", str(manifest), "--data-root", str(tmp_path))
    assert code == 2 and "'d'" in out and "text_column" in out and "'body'" in out
    code, out = run("--manifest", str(SHIPPED))
    assert code == 2 and "--data-root" in out
    code, out = run("--manifest", str(SHIPPED), "--data-root", str(tmp_path), "--synthetic", str(tmp_path))
    assert code == 2 and "not both" in out
    code, out = run("--dataset", "sms-spam")
    assert code == 2 and "only with --manifest" in out
    assert not (modsweep_home / "models").exists()


def test_train_without_manifest_still_trains_on_synthetic_output(modsweep_home, tmp_path):
    from datetime import date

    from modsweep.tasks.generate import write_synthetic_day

    write_synthetic_day(tmp_path / "training", date(2026, 11, 22), 12_000, seed=7, partition_rows=12_000)
    result = CliRunner().invoke(app, ["train", "--synthetic", str(tmp_path / "training")])
    assert result.exit_code == 0, result.output
    assert "F1@0.5" in result.output and "trained on" in result.output
    model, card = load_model(modsweep_home / "models", MODEL_NAME)
    assert card["training_data"]["source"].startswith("synthetic:") and "minor_safety" in model.labels
    assert "is now the one sweeps use" in result.output
