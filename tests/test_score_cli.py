"""`modsweep score`: any file, every policy, bounded memory, clear errors."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from modsweep.cli import app
from modsweep.tasks.generate import phrasebook


def _sample(tmp_path, fmt):
    spam = phrasebook("deceptive.spam")["en"]
    texts = [f"wow {p} right now" for p in spam] + ["lovely weather at the beach today"] * 10 + ["", None]
    frame = pd.DataFrame({"body": texts, "y": [1] * len(spam) + [0] * 12})
    path = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return path, frame


def test_score_writes_every_policy_for_every_row_and_reports_label_metrics(sweep_home, tmp_path):
    runner = CliRunner()
    for fmt in ("csv", "jsonl", "parquet"):
        path, frame = _sample(tmp_path, fmt)
        out = tmp_path / f"out-{fmt}.parquet"
        result = runner.invoke(
            app,
            ["score", str(path), "--text-column", "body", "--out", str(out), "--label-column", "y", "--positive", "1"],
        )
        assert result.exit_code == 0, result.output
        scored = pq.read_table(out).to_pandas()
        assert len(scored) == len(frame)
        assert {"score.deceptive.spam", "action.deceptive.spam", "detectors.hate.speech"} <= set(scored.columns)
        assert "score.deceptive.coordinated" not in scored.columns  # needs a whole day, not single rows
        spam = scored["score.deceptive.spam"].to_numpy()
        assert spam[:10].mean() > spam[10:].mean()
        assert scored["score.deceptive.spam"].iloc[-2:].eq(0).all()  # empty and missing text score 0
        assert "roc_auc" in result.output


def test_score_errors_are_clear(sweep_home, tmp_path):
    runner = CliRunner()
    path, _ = _sample(tmp_path, "csv")
    missing = runner.invoke(app, ["score", str(path), "--text-column", "nope", "--out", str(tmp_path / "o.parquet")])
    assert missing.exit_code == 2 and "--text-column 'nope' is not a column" in missing.output
    unknown = runner.invoke(
        app, ["score", str(tmp_path / "x.xlsx"), "--text-column", "a", "--out", str(tmp_path / "o.parquet")]
    )
    assert unknown.exit_code == 2
    traversal = runner.invoke(app, ["score", str(path), "--text-column", "body", "--out", "../../etc/out.parquet"])
    assert traversal.exit_code == 2 and "'..'" in traversal.output


def test_unreadable_inputs_and_a_missing_label_column_exit_2_with_one_line_and_no_output(sweep_home, tmp_path):
    runner = CliRunner()
    header_only = tmp_path / "header.csv"
    header_only.write_text("body,y\n")
    unterminated = tmp_path / "quote.csv"
    unterminated.write_text('body,y\n"an unterminated quote,1\nnext,0\n')
    path, _ = _sample(tmp_path, "csv")
    cases = [
        (["score", str(header_only), "--text-column", "body"], "no rows to score"),
        (["score", str(unterminated), "--text-column", "body"], "cannot be read as csv"),
        (
            ["score", str(path), "--text-column", "body", "--label-column", "lbl"],
            "--label-column 'lbl' is not a column",
        ),
    ]
    for args, expected in cases:
        out = tmp_path / "o.parquet"
        result = runner.invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 2, (args, result.output, result.exception)
        assert expected in result.output and "Traceback" not in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert not out.exists() and not out.with_suffix(".partial").exists()
