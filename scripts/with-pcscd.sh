#!/usr/bin/env bash
# Runs a command with a pcscd (and its vpcd virtual readers) available. Only one pcscd can
# run on a machine: if one is already answering, it is used and left alone; otherwise this
# script starts one, runs the command, and stops the pcscd it started, by its pid.
set -uo pipefail
sock=${PCSCLITE_CSOCK_NAME:-/run/pcscd/pcscd.comm}

answering() {
  python3 - "$sock" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(1)
s.connect(sys.argv[1])
PY
}

started=""
if ! answering; then
  if ! command -v pcscd >/dev/null; then
    echo "with-pcscd: pcscd is not installed (run 'make deps')" >&2
  else
    mkdir -p /run/pcscd
    rm -f "$sock"
    pcscd -f >/tmp/tokenbatch-pcscd.log 2>&1 &
    started=$!
    for _ in $(seq 1 50); do answering && break; sleep 0.1; done
    answering || echo "with-pcscd: pcscd did not start; see /tmp/tokenbatch-pcscd.log" >&2
  fi
fi
"$@"
rc=$?
if [ -n "$started" ]; then
  kill "$started" 2>/dev/null
  wait "$started" 2>/dev/null
fi
exit $rc
