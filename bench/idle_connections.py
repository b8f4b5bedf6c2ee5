#!/usr/bin/python3
"""Measures what idle keep-alive connections cost a server in memory: opens N connections to it
(one at a time), sends one request on each and reads the whole response, then, with all of them
still open and idle, reads the server's resident set size again. Prints

    connections<TAB>rss_before_kib<TAB>rss_after_kib<TAB>bytes_per_connection

where bytes_per_connection = (rss_after - rss_before) / N. Used by `bench/run techempower idle`.

Usage: idle_connections.py --port=N --pid=PID [--connections=10000] [--path=/plaintext]
                           [--host=127.0.0.1] [--settle=0.5]

PID is the process whose memory is measured (the nginx worker, not its master). The file
descriptor limit is raised to its hard limit; the server needs a limit above N too.
"""
import resource
import socket
import sys
import time


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def read_response(sock):
    """Reads one HTTP response with a Content-Length body; returns its status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed in the response body")
        body += chunk
    return status


def main(argv):
    opts = {"port": 0, "pid": 0, "connections": 10000, "path": "/plaintext", "host": "127.0.0.1", "settle": 0.5}
    for a in argv:
        name, eq, value = a.partition("=")
        key = name.lstrip("-")
        if not eq or key not in opts:
            print(__doc__, file=sys.stderr)
            return 2
        opts[key] = type(opts[key])(value)
    n = opts["connections"]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 64)), hard))
    request = ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n" % opts["path"]).encode()

    # Warm the server up on one connection first, so that what it allocates once (buffers,
    # caches, the first handler) is counted in the "before" figure, not per connection.
    warm = socket.create_connection((opts["host"], opts["port"]))
    for _ in range(10):
        warm.sendall(request)
        read_response(warm)
    warm.close()
    time.sleep(opts["settle"])
    before = rss_kib(opts["pid"])

    socks = []
    try:
        for i in range(n):
            s = socket.create_connection((opts["host"], opts["port"]))
            s.sendall(request)
            status = read_response(s)
            if status != 200:
                raise RuntimeError("status %d on connection %d" % (status, i))
            socks.append(s)
        time.sleep(opts["settle"])
        after = rss_kib(opts["pid"])
        # Every connection must still be open: a server that dropped some would look cheap.
        for s in socks[:: max(1, n // 100)]:
            s.sendall(request)
            if read_response(s) != 200:
                raise RuntimeError("an idle connection stopped answering")
    finally:
        for s in socks:
            s.close()
    print("%d\t%d\t%d\t%.0f" % (n, before, after, (after - before) * 1024.0 / n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
