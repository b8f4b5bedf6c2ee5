#!/usr/bin/env bash
# Runs the tcpecho example for real: starts tcpecho_server on a free port of 127.0.0.1, sends a
# line with tcpecho_client, checks the reply and the server's log, stops the server.
# Usage: test_tcpecho.sh SERVER_BINARY CLIENT_BINARY
set -euo pipefail
server_bin=$1
client_bin=$2
log=$(mktemp)
server_pid=

cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "--- server log ---" >&2
  cat "$log" >&2
  exit 1
}

# Waits up to 10 s for the server log to match a regex; prints the first match.
wait_for_log() {
  for _ in $(seq 100); do
    if grep -Eo "$1" "$log"; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || fail "server exited"
    sleep 0.1
  done
  fail "server did not log /$1/"
}

"$server_bin" --port=0 --address=127.0.0.1 2>"$log" &
server_pid=$!
port=$(wait_for_log 'Listening on TCP port [0-9]+' | head -n1 | grep -Eo '[0-9]+$')
echo "server listening on port $port"

message="hello from tcpecho $$"
output=$(timeout 10 "$client_bin" --host=127.0.0.1 --port="$port" --message="$message") ||
  fail "client failed (status $?): $output"
echo "$output"
grep -qxF "Sent to server: $message" <<<"$output" || fail "client did not report the sent line"
grep -qxF "Response from server: $message" <<<"$output" || fail "reply was not the echoed line"

# The server saw the line, then the client going away.
wait_for_log "Received bytes: $message" >/dev/null
wait_for_log 'Lost client at host 127\.0\.0\.1' >/dev/null

# A second client on the same server: it goes on serving.
output=$(timeout 10 "$client_bin" --host=127.0.0.1 --port="$port" --message=again) || fail "second client failed"
grep -qxF "Response from server: again" <<<"$output" || fail "second reply was wrong: $output"
echo "PASS"
