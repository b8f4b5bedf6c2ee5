#!/usr/bin/python3
"""Counts the user-space instructions a server spends per HTTP request, with callgrind.

Timed rates on a shared machine move with its load; instruction counts do not. This runs a
server under `valgrind --tool=callgrind`, zeroes the counters once it listens, sends requests
with wrk (keep-alive, TechEmpower's headers, optionally pipelined), dumps the counters and
prints instructions per request: the figure to watch while optimising the request path. The
dump is kept for `callgrind_annotate` (its path is printed).

Usage:
  bench/instructions_per_request.py [--server=bench_techempower|http_hello|PATH] [--path=/plaintext]
                                    [--seconds=5] [--connections=16] [--pipeline=N] [--keep]

  --server   a program of build/bench-release/bench (default bench_techempower) or a path; it
             must take --port=N
  --path     the request path (default /plaintext; http_hello answers any)
  --pipeline send N requests per write (TechEmpower's pipeline.lua), default 1
  --keep     keep the callgrind output directory (always printed)

The counts include everything the server process does while loaded (the IOLoop, system call
wrappers, malloc, and wrk's connection set-up and teardown), not the kernel's work. A one-second
run before the counted one warms the server up (lazy symbol binding, first allocations).
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(ROOT, "build", "bench-release", "bench")
ACCEPT = "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("server exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("server did not listen on port %d within %gs" % (port, timeout))


def main(argv):
    opts = {"server": "bench_techempower", "path": "/plaintext", "seconds": "5", "connections": "16",
            "pipeline": "1", "keep": False}
    for a in argv:
        if a == "--keep":
            opts["keep"] = True
        elif a.startswith("--") and "=" in a and a[2:a.index("=")] in opts:
            opts[a[2:a.index("=")]] = a[a.index("=") + 1:]
        else:
            sys.exit(__doc__)
    server = opts["server"]
    if os.sep not in server:
        server = os.path.join(BUILD, server)
    if not os.path.exists(server):
        sys.exit("no %s: build it first (bench/run --help)" % server)
    out_dir = tempfile.mkdtemp(prefix="tornado-callgrind.")
    out = os.path.join(out_dir, "callgrind.out")
    port = free_port()
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, "--compress-strings=no", "--compress-pos=no", server, "--port=%d" % port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)

        def wrk(seconds):
            argv = ["wrk", "-t1", "-c" + opts["connections"], "-d%ss" % seconds, "-H", "Accept: " + ACCEPT,
                    "-H", "Connection: keep-alive", "http://127.0.0.1:%d%s" % (port, opts["path"])]
            if int(opts["pipeline"]) > 1:
                argv[1:1] = ["-s", os.path.join(HERE, "pipeline.lua")]
                argv += ["--", opts["pipeline"]]
            return subprocess.run(argv, check=True, capture_output=True, text=True)

        # A warm-up run first: the first calls of each library function (lazy binding), the first
        # allocations and the caches would otherwise be counted as if they were per request.
        wrk(1)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = wrk(opts["seconds"])
        m = re.search(r"(\d+) requests in", res.stdout)
        if not m:
            sys.exit("cannot read wrk's output:\n" + res.stdout)
        if "Non-2xx" in res.stdout or "Socket errors" in res.stdout:
            sys.exit("wrk saw errors:\n" + res.stdout)
        requests = int(m.group(1))
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        proc.kill()
        proc.wait()
    # The requested dump is a numbered one (callgrind.out.N); callgrind may write another, nearly
    # empty, numbered dump besides it, so the one with the most instructions is the counted run.
    dumps = sorted(f for f in os.listdir(out_dir) if re.fullmatch(r"callgrind\.out\.\d+", f))
    total = 0
    dump = None
    for f in dumps:
        with open(os.path.join(out_dir, f)) as fh:
            text = fh.read()
        m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if m and int(m.group(1)) > total:
            total, dump = int(m.group(1)), os.path.join(out_dir, f)
    if not dump:
        sys.exit("no callgrind dump found in " + out_dir)
    print("%s %s: %d requests, %d instructions, %.0f instructions per request" %
          (os.path.basename(server), opts["path"], requests, total, total / requests))
    print("profile: callgrind_annotate --inclusive=yes " + dump)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
