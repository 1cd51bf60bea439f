"""The generator's phrase tables live in tasks/generate_data/*.yaml; moving them out of code changed no output."""

from __future__ import annotations

import hashlib
from datetime import date

import pyarrow as pa

from modsweep.tasks import generate
from modsweep.tasks.generate import GeneratorParams, generate_chunk, render_lexicon

# sha256 of the days below and the rendered lexicons, taken from the generator before its tables moved to YAML
# (commit 3643a9f, tables in tasks/generate.py).
BEFORE_TABLES_MOVED = "ad9b7f02b8a108ea7a259e2783a837811ca9916a7fce1ab8548554cb856f3c81"


def _fingerprint() -> str:
    h = hashlib.sha256()
    for seed, day, rows, chunks in [(7, date(2026, 11, 23), 3000, 2), (42, date(2026, 3, 1), 2500, 1)]:
        for chunk in range(chunks):
            for table in generate_chunk(day, rows, seed, chunk, GeneratorParams(), n_chunks=chunks):
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, table.schema) as writer:
                    writer.write_table(table)
                h.update(sink.getvalue().to_pybytes())
    for policy in generate.TEXT_POLICIES:
        h.update(render_lexicon(policy).encode())
    return h.hexdigest()


def test_generated_days_are_unchanged_by_moving_tables_to_data_files() -> None:
    assert _fingerprint() == BEFORE_TABLES_MOVED


def test_tables_load_as_tuples_from_the_package_data_folder() -> None:
    assert generate._TABLES.name == "generate_data"
    assert sorted(p.name for p in generate._TABLES.glob("*.yaml")) == [
        "benign.yaml",
        "campaigns.yaml",
        "emerging.yaml",
        "policy_text.yaml",
        "tags.yaml",
    ]
    spec = generate._POLICY_TEXT["misinfo.medical"]["en"]
    assert isinstance(spec["phrases"], tuple) and isinstance(spec["keywords"][0], tuple)
    assert spec["keywords"][0] == ("plandemic", 0.6)
    assert set(generate._BENIGN) >= {"en", "de", "hi"}
