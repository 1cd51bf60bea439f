"""Privacy of a whole sweep: secrets never leave their settings, raw author ids never leave the lake, content never
reaches a log; and the audit log's hash chain catches any edited or deleted entry after a real run.

One sweep on PostgreSQL whose URL carries a password (trust authentication ignores it) and with a recognisable
HMAC key, captured everywhere: every logger at DEBUG, stdout/stderr, Prefect's own logs, artifacts and flow-run
parameters, the ledger, the audit log, the HTML report, the review export, the DSA export and CLI outputs.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import ahocorasick
import pyarrow.parquet as pq
import pytest
from helpers.logs import capture_all_logs, prefect_logs
from helpers.sweeps import isolated_home, postgres_schema, run_daily, write_small_day
from typer.testing import CliRunner

from modsweep import resources, store

pytestmark = [pytest.mark.flow, pytest.mark.postgres, pytest.mark.usefixtures("prefect_harness")]

PASSWORD = f"pw-canary-{uuid.uuid4().hex[:12]}"
HMAC_KEY = f"hmac-canary-{uuid.uuid4().hex}"
MIN_TEXT = 16  # texts at least this long are checked (shorter ones could occur by chance)
NEEDLE_CHARS = 120
DAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def small_day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_small_day(tmp_path_factory.mktemp("privacy-source"), DAY, 2_100, 700, seed=5)


def _cli(args: list[str]) -> str:
    from modsweep.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
    return result.output


@pytest.fixture(scope="module")
def swept(request, prefect_harness, synthetic_day, small_day, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """One sweep (review tasks left open, so the export has content) and the commands that read its results, on a
    fresh PostgreSQL schema reached through a URL with a password and with a recognisable HMAC key; every log
    record (all loggers, DEBUG), everything written to stdout and stderr and every command's output captured."""
    from prefect.logging.handlers import APILogHandler

    root = tmp_path_factory.mktemp("privacy")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with (
        postgres_schema("ms_priv", password=PASSWORD) as url,
        isolated_home(root, synthetic_day["models"], MODSWEEP_DATABASE_URL=url, MODSWEEP_HMAC_KEY=HMAC_KEY),
        pytest.MonkeyPatch.context() as mp,
    ):
        assert PASSWORD in url
        for key in ("PREFECT_HOME", "PREFECT_LOGGING_LEVEL", "PREFECT_SERVER_LOGGING_LEVEL"):
            mp.delenv(key, raising=False)  # restored afterwards, whatever a CLI command sets
        export_dir, dsa_file = root / "review-export", root / "dsa.jsonl"
        outputs: dict[str, str] = {}
        if capture is not None:
            capture.read_global_capture()  # start from empty stdout/stderr buffers
        with capture_all_logs(logging.DEBUG) as logs:
            summary = run_daily(small_day, simulate_reviews_from=None)
            outputs["cli reviews export"] = _cli(
                ["reviews", "export", "--run", summary.run_id, "--out", str(export_dir)]
            )
            outputs["cli export dsa"] = _cli(["export", "dsa", "--day", DAY.isoformat(), "--out", str(dsa_file)])
            outputs["cli show"] = _cli(["show", summary.run_id, "--json"])
            outputs["cli history"] = _cli(["history", "--json"])
            outputs["cli verify-log"] = _cli(["verify-log", "--json"])
            APILogHandler().flush()  # every record of the run has reached Prefect's API before it is read back
        captured = capture is not None and capture.is_globally_capturing()
        out, err = capture.read_global_capture() if captured else ("", "")
        yield {
            "summary": summary,
            "logs": logs,
            "captured": captured,
            "stdout": out,
            "stderr": err,
            "outputs": outputs,
            "export_dir": export_dir,
            "dsa_file": dsa_file,
        }


def _prefect_records(flow_run_id: str) -> dict[str, str]:
    """What Prefect keeps of the run besides logs: artifacts and the flow run's parameters."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)]))
        )
        run = client.read_flow_run(UUID(flow_run_id))
    return {
        "prefect artifacts": json.dumps([a.data for a in artifacts], default=str),
        "prefect flow-run parameters": json.dumps(run.parameters, default=str),
    }


def _table_dump(engine: Any, table: Any) -> str:
    with engine.connect() as conn:
        return json.dumps([dict(r) for r in conn.execute(table.select()).mappings()], default=str)


def _find(needles: list[str], blobs: dict[str, str]) -> dict[str, list[str]]:
    """Which needles occur in which blob (Aho-Corasick: thousands of needles, megabytes of text)."""
    automaton = ahocorasick.Automaton()
    for n in needles:
        automaton.add_word(n, n)
    automaton.make_automaton()
    found: dict[str, list[str]] = {}
    for name, blob in blobs.items():
        hits = sorted({value for _, value in automaton.iter(blob)})
        if hits:
            found[name] = hits[:5]
    return found


def test_no_secret_raw_author_id_or_content_escapes_a_sweep(swept, small_day):
    from modsweep.tasks.reviews_io import pseudonymise

    summary, logs, export_dir, dsa_file = (swept[k] for k in ("summary", "logs", "export_dir", "dsa_file"))
    engine = resources.store_engine()
    run = store.get_run(engine, summary.run_id)
    assert run["state"] == "completed"

    logs_blobs = {
        "python logging (all loggers, DEBUG)": logs.text(),
        "stdout": swept["stdout"],
        "stderr": swept["stderr"],
        "prefect API logs": "\n".join(prefect_logs(run["prefect_flow_run_id"])),
        **swept["outputs"],
    }
    assert len(logs.lines) > 200 and any(r.name.startswith("sqlalchemy") for r in logs.records)  # capture works
    assert swept["stderr"] or not swept["captured"], "pytest captures output, yet none was caught"
    export_files = sorted(export_dir.glob("*"))
    assert export_files, "the review export wrote nothing"
    record_blobs = {
        "ledger": _table_dump(engine, store.Run.__table__),
        "audit log": _table_dump(engine, store.AuditEntry.__table__),
        "report": Path(summary.report_path).read_text(encoding="utf-8"),
        "dsa export": dsa_file.read_text(encoding="utf-8"),
        **{f"review export {f.name}": f.read_text(encoding="utf-8") for f in export_files},
        **_prefect_records(run["prefect_flow_run_id"]),
    }
    every = {**logs_blobs, **record_blobs}

    # Secrets: nowhere at all.
    assert _find([HMAC_KEY, PASSWORD], every) == {}

    # Raw author ids: never in logs, reports, exports, the ledger or Prefect.
    sources = sorted(small_day["items"].rglob("*.parquet"))
    raw = [pq.read_table(f, columns=["author_id", "text"]).to_pandas() for f in sources]
    author_ids = sorted({a for r in raw for a in r["author_id"].dropna() if len(a) >= 8})
    assert len(author_ids) > 100
    assert _find(author_ids, every) == {}

    # The export does carry the keyed pseudonyms instead (so the check above is not vacuous).
    exported = [json.loads(line) for f in export_files if f.suffix == ".jsonl" for line in f.read_text().splitlines()]
    items = resources.lake().read_all("items", DAY, summary.run_key, columns=["item_id", "author_id"]).to_pandas()
    expected = dict(zip(items["item_id"], pseudonymise(items["author_id"], HMAC_KEY), strict=True))
    assert exported and all(row["author_pseudonym"] == expected[row["item_id"]] for row in exported)

    # Content: never in a log (the review export and the lake are where it belongs).
    # The first NEEDLE_CHARS of each text: a truncated leak is found too, and the automaton stays shallow (the
    # generator plants ~1 MB texts; a trie that deep overflows the C stack when pyahocorasick frees it).
    texts = sorted({t.strip()[:NEEDLE_CHARS] for r in raw for t in r["text"].dropna() if len(t.strip()) >= MIN_TEXT})
    assert len(texts) > 100
    assert _find(texts, logs_blobs) == {}


def test_the_audit_chain_of_a_real_run_detects_an_edited_and_a_deleted_entry(swept):
    """On the store of the sweep above (so it runs last: it deletes an entry of that store's audit log)."""
    from sqlalchemy import delete, select, update

    summary = swept["summary"]
    engine = resources.store_engine()
    table = store.AuditEntry.__table__
    verified = store.verify_audit_log(engine)
    assert verified.ok and verified.rows_checked >= 2
    events = _table_dump(engine, table)
    assert summary.run_id in events and "run.completed" in events

    with engine.begin() as conn:
        original = conn.execute(select(table.c.payload).where(table.c.seq == 2)).scalar_one()
        conn.execute(update(table).where(table.c.seq == 2).values(payload={**original, "tampered": True}))
    edited = store.verify_audit_log(engine)
    assert not edited.ok and edited.first_broken_seq == 2 and "edited" in edited.reason
    from modsweep.cli import app

    result = CliRunner().invoke(app, ["verify-log"])
    assert result.exit_code == 1 and "BROKEN" in result.output

    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.seq == 2).values(payload=original))
    assert store.verify_audit_log(engine).ok  # the chain is whole again once the entry is restored

    last = verified.last_seq
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.seq == last - 1))
    deleted = store.verify_audit_log(engine)
    assert not deleted.ok and deleted.first_broken_seq == last - 1 and "deleted" in deleted.reason
