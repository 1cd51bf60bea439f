"""`prefect server start ARGS...` with one compatibility fix; infra/start-prefect-server.sh runs the server through it.

Prefect 3.8.8's scheduler bulk-inserts flow runs from dicts that carry a `state` key, and `FlowRun.state` is a
hybrid property. SQLAlchemy 2.0 ignored hybrids in ORM bulk INSERTs; SQLAlchemy 2.1 (pinned here: 2.1.9) calls
their `bulk_dml` hook and raises "Can't evaluate bulk DML statement; please supply a bulk_dml decorated function"
when there is none, so no scheduled run is ever created (the server logs that error every 5 s). Giving each such
hybrid a no-op `bulk_dml` hook restores the 2.0 behaviour. Nothing changes under SQLAlchemy 2.0, and a Prefect that
declares its own hooks is left alone. tests/test_infra.py checks that the daily schedule produces runs.
"""

from __future__ import annotations

import sys
from typing import Any


def ignore_hybrids_in_bulk_inserts() -> list[str]:
    """Give every hybrid property of Prefect's ORM models without a bulk_dml hook a no-op one; returns their names."""
    import sqlalchemy
    from sqlalchemy.ext.hybrid import hybrid_property

    if tuple(int(p) for p in sqlalchemy.__version__.split(".")[:2]) < (2, 1):
        return []
    from prefect.server.database import orm_models

    def _ignore(cls: Any, mapping: dict[str, Any], value: Any) -> None:
        """SQLAlchemy 2.0 behaviour: the key is not a column, the INSERT skips it."""

    patched = []
    for model in vars(orm_models).values():
        if not (isinstance(model, type) and issubclass(model, orm_models.Base)):
            continue
        for name, attr in vars(model).items():
            if isinstance(attr, hybrid_property) and getattr(attr, "bulk_dml_setter", None) is None:
                attr.inplace.bulk_dml(_ignore)
                patched.append(f"{model.__name__}.{name}")
    return patched


if __name__ == "__main__":
    ignore_hybrids_in_bulk_inserts()
    from prefect.cli import app

    sys.argv = ["prefect", "server", "start", *sys.argv[1:]]
    sys.exit(app())
