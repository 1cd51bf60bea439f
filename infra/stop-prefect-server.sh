#!/usr/bin/env bash
# Stop the worker and the Prefect server started by infra/start-prefect-server.sh (by their pid files, each with its
# process group: the server's uvicorn and the worker's flow-run processes go too). Prefect's database is kept.
# Exercised by tests/test_infra.py.
set -euo pipefail

STATE="${MODSWEEP_HOME:-.modsweep}/prefect-server"
[[ -d "$STATE" ]] || { echo "no $STATE: nothing to stop"; exit 0; }

stop() {  # stop NAME: TERM the process group, KILL it after 15 s
  local pidfile="$STATE/$1.pid" pid
  [[ -f "$pidfile" ]] || { echo "$1: not started here"; return 0; }
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
    echo "$1 (pid $pid) stopped"
  else
    echo "$1 (pid $pid) was not running"
  fi
  rm -f "$pidfile"
}

stop worker
stop server
rm -f "$STATE/prefect.env"
