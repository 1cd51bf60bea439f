#!/usr/bin/env bash
# Start (or reuse) a Prefect server on PostgreSQL, create the work pool, deploy infra/prefect.yaml, start a worker.
# Idempotent: a server already answering and a worker already running are reused; the pool and the deployments are
# created or updated. Everything runs in the background; pid files and logs go to $MODSWEEP_HOME/prefect-server/.
# Stop with infra/stop-prefect-server.sh. Exercised end to end by tests/test_infra.py.
#
#   MODSWEEP_HOME                 state directory (default .modsweep); the worker's flow runs use it
#   MODSWEEP_PREFECT_DB_URL       Prefect's own database (default postgresql+asyncpg://postgres@127.0.0.1:5432/prefect;
#                                 the database is created when missing)
#   MODSWEEP_PREFECT_HOST/PORT    where the API and UI listen (default 127.0.0.1:4200)
#   MODSWEEP_SOURCE, MODSWEEP_SCHEDULE_TIMEZONE   placeholders of infra/prefect.yaml (default
#                                 $MODSWEEP_HOME/source/items and UTC)
#   MODSWEEP_PYTHON               the Python with modsweep installed (default .venv/bin/python of this checkout)
#   MODSWEEP_PREFECT_WAIT         seconds to wait for the server to answer (default 120)
#   MODSWEEP_RUN_KEY_LOCK         runs of the worker (and CLI runs after `source prefect.env`) take a lock per run
#                                 key (default true)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${MODSWEEP_PYTHON:-$REPO/.venv/bin/python}"
PREFECT="$(dirname "$PY")/prefect"
[[ -x "$PY" && -x "$PREFECT" ]] || { echo "no Python with Prefect at $PY (make install, or set MODSWEEP_PYTHON)" >&2; exit 2; }

export GX_ANALYTICS_ENABLED=false PREFECT_SERVER_ANALYTICS_ENABLED=false
# Runs through this server hold a lock per run key (its repossessor frees the locks of killed runs).
export MODSWEEP_RUN_KEY_LOCK="${MODSWEEP_RUN_KEY_LOCK:-true}"
# MODSWEEP_HOME (absolute), MODSWEEP_SOURCE, MODSWEEP_SCHEDULE_TIMEZONE: one definition of the defaults, in Python.
eval "$("$PY" -m modsweep.serving env)"
mkdir -p "$MODSWEEP_HOME"
STATE="$MODSWEEP_HOME/prefect-server"
mkdir -p "$STATE/home"
export PREFECT_HOME="$STATE/home"

HOST="${MODSWEEP_PREFECT_HOST:-127.0.0.1}"
PORT="${MODSWEEP_PREFECT_PORT:-4200}"
DB_URL="${MODSWEEP_PREFECT_DB_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/prefect}"
export PREFECT_API_URL="http://$HOST:$PORT/api"
WAIT="${MODSWEEP_PREFECT_WAIT:-120}"

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
healthy() { curl -fsS --max-time 2 "$PREFECT_API_URL/health" >/dev/null 2>&1; }

# 1. Prefect's database on PostgreSQL, created when missing.
"$PY" - "$DB_URL" <<'EOF'
import asyncio, sys
from urllib.parse import urlsplit

import asyncpg

url = urlsplit(sys.argv[1].replace("postgresql+asyncpg://", "postgresql://", 1))
name = url.path.lstrip("/")

async def main() -> None:
    conn = await asyncpg.connect(url._replace(path="/postgres").geturl(), timeout=5)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")
    finally:
        await conn.close()

asyncio.run(main())
EOF

# 2. The server (API + UI + services: scheduler, lease repossessor, ...): `prefect server start` through
#    infra/prefect_server.py, which makes Prefect 3.8.8's scheduler work with SQLAlchemy 2.1.
if healthy; then
  echo "Prefect server already answering at $PREFECT_API_URL"
elif alive "$STATE/server.pid"; then
  echo "Prefect server (pid $(cat "$STATE/server.pid")) is starting"
else
  # Leases on disk: a server restart must not forget who holds the run-key and deployment limits.
  PREFECT_API_DATABASE_CONNECTION_URL="$DB_URL" \
  PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE=prefect.server.concurrency.lease_storage.filesystem \
  PREFECT_SERVER_LOGGING_LEVEL="${PREFECT_SERVER_LOGGING_LEVEL:-WARNING}" \
    setsid "$PY" "$REPO/infra/prefect_server.py" --host "$HOST" --port "$PORT" </dev/null >>"$STATE/server.log" 2>&1 &
  echo $! >"$STATE/server.pid"
  echo "Prefect server starting (pid $!), log $STATE/server.log"
fi
for ((i = 0; i < WAIT * 2; i++)); do
  healthy && break
  if ! alive "$STATE/server.pid"; then
    echo "Prefect server exited; last lines of $STATE/server.log:" >&2; tail -n 30 "$STATE/server.log" >&2; exit 1
  fi
  sleep 0.5
done
healthy || { echo "Prefect server not answering at $PREFECT_API_URL after ${WAIT}s" >&2; exit 1; }

# 3. The work pool and its queues, then the deployments (both create or update).
POOL="$("$PY" -m modsweep.serving ensure-pool --prefect-file "$REPO/infra/prefect.yaml")"
echo "work pool $POOL ready"
(cd "$REPO" && "$PREFECT" --no-prompt deploy --all --prefect-file "$REPO/infra/prefect.yaml") >"$STATE/deploy.log" 2>&1 \
  || { echo "prefect deploy failed; $STATE/deploy.log:" >&2; cat "$STATE/deploy.log" >&2; exit 1; }
echo "deployed: $(grep -o "'[a-z-]*/modsweep'" "$STATE/deploy.log" | sort -u | tr '\n' ' ')"

# 4. A worker for the pool; its flow runs inherit this environment (MODSWEEP_*, PREFECT_API_URL).
if alive "$STATE/worker.pid"; then
  echo "worker already running (pid $(cat "$STATE/worker.pid"))"
else
  # A script's background jobs start with SIGINT ignored, and the worker stops on SIGINT (it turns SIGTERM into
  # one): restore the default disposition, then exec the worker.
  setsid "$PY" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    "$PREFECT" worker start --pool "$POOL" --type process --name "modsweep-$(hostname)-$PORT" \
    </dev/null >>"$STATE/worker.log" 2>&1 &
  echo $! >"$STATE/worker.pid"
  echo "worker started (pid $!), log $STATE/worker.log"
fi

printf 'export PREFECT_API_URL=%q\nexport PREFECT_HOME=%q\nexport MODSWEEP_RUN_KEY_LOCK=%q\n' \
  "$PREFECT_API_URL" "$PREFECT_HOME" "$MODSWEEP_RUN_KEY_LOCK" >"$STATE/prefect.env"
echo "UI: http://$HOST:$PORT  ·  for the CLI: source $STATE/prefect.env"
