#!/usr/bin/env bash
# Runs the helloworld example for real: starts it on a free port of 127.0.0.1 (once with
# `--port N`, once with `--port=N`), fetches from it with curl and with Python's http.client
# (status, body, headers, keep-alive, 404, 405, HEAD), checks its access log, and stops it with
# SIGINT as Ctrl-C would. Usage: test_helloworld.sh HELLOWORLD_BINARY
set -euo pipefail
# Job control: without it, bash starts background commands with SIGINT ignored, and the SIGINT
# test below (what Ctrl-C sends) would prove nothing.
set -m
bin=$1
out=$(mktemp)
err=$(mktemp)
pid=

cleanup() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$out" "$err"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "--- stdout ---" >&2
  cat "$out" >&2
  echo "--- stderr ---" >&2
  cat "$err" >&2
  exit 1
}

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the server with the given arguments and waits up to 10 s for its "Listening on" line.
start() {
  : >"$out"
  : >"$err"
  "$bin" "$@" >"$out" 2>"$err" &
  pid=$!
  for _ in $(seq 100); do
    grep -q 'Listening on http://' "$out" && return 0
    kill -0 "$pid" 2>/dev/null || fail "server exited"
    sleep 0.1
  done
  fail "server did not print its URL"
}

# Stops the server with SIGINT (what Ctrl-C sends) and checks that it went away.
stop() {
  kill -INT "$pid"
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "server ignored SIGINT"
  wait "$pid" 2>/dev/null || true
  pid=
}

# --- `--port N` form -------------------------------------------------------------------------
port=$(free_port)
start --port "$port" --address=127.0.0.1
grep -qxF "Listening on http://127.0.0.1:$port/ (Ctrl-C to stop)" "$out" || fail "wrong URL line"
url="http://127.0.0.1:$port"

# curl: status line, body, and the headers Tornado sends.
response=$(curl -sS -i --max-time 10 "$url/" | tr -d '\r')
echo "$response"
head -n1 <<<"$response" | grep -qx 'HTTP/1.1 200 OK' || fail "status was not 200 OK"
[[ $(tail -n1 <<<"$response") == "Hello, world" ]] || fail "body was not Hello, world"
grep -qix 'Content-Type: text/html; charset=UTF-8' <<<"$response" || fail "no Tornado Content-Type"
grep -qix 'Content-Length: 12' <<<"$response" || fail "no Content-Length: 12"
grep -qix 'Server: TornadoServer/6.2' <<<"$response" || fail "no Server header"
grep -qiE '^Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT$' <<<"$response" || fail "no Date header"
grep -qiE '^Etag: "[0-9a-f]{40}"$' <<<"$response" || fail "no Etag header"

# Keep-alive: two requests in one curl run go over one connection.
verbose=$(curl -sS -v --max-time 10 "$url/" "$url/" 2>&1 >/dev/null)
grep -qiE 're-?using existing (http: )?connection' <<<"$verbose" || fail "curl did not reuse the connection: $verbose"

# Other paths and methods.
[[ $(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$url/missing") == 404 ]] || fail "/missing was not 404"
[[ $(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST -d x=1 "$url/") == 405 ]] || fail "POST was not 405"

# Python's http.client: GET twice and HEAD on one keep-alive connection.
/usr/bin/python3 - "$port" <<'PY' || fail "http.client checks failed"
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
for _ in range(2):
    conn.request("GET", "/")
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200 and body == b"Hello, world", (r.status, body)
    assert r.getheader("Content-Type") == "text/html; charset=UTF-8", r.getheaders()
    assert not r.will_close, "server closed the keep-alive connection"
conn.request("HEAD", "/")
r = conn.getresponse()
assert r.status == 405 and r.read() == b"", (r.status,)  # MainHandler defines only get
conn.request("GET", "/?name=value")
r = conn.getresponse()
assert r.status == 200 and r.read() == b"Hello, world"
conn.close()
print("http.client: ok")
PY

# The access log on stderr, as tornado.options' logging=info gives it.
grep -qE '200 GET / \(127\.0\.0\.1\) [0-9.]+ms' "$err" || fail "no access log line for GET /"
grep -qE '404 GET /missing \(127\.0\.0\.1\)' "$err" || fail "no access log line for the 404"
stop

# --- `--port=N` form -------------------------------------------------------------------------
port=$(free_port)
start --port="$port" --address 127.0.0.1
[[ $(curl -sS --max-time 10 "http://127.0.0.1:$port/") == "Hello, world" ]] || fail "--port=N: wrong body"
stop

# --- Bad arguments: a usage message and status 2 ---------------------------------------------
for args in "--port=0" "--port=http" "--port" "--bogus=1"; do
  status=0
  "$bin" $args >/dev/null 2>"$err" || status=$?
  [[ $status == 2 ]] || fail "'$args' exited with $status, not 2"
  grep -q usage: "$err" || fail "'$args' printed no usage"
done
echo "PASS"
