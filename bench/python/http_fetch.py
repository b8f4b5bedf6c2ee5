#!/usr/bin/python3
"""The fetch rate of Python Tornado 6.2's AsyncHTTPClient (simple_httpclient): the peer of
bench/http_fetch.cpp in bench/run's client rows, the same loop against the same server.

Usage: http_fetch.py --url=URL [--seconds=3] [--concurrency=1]
Runs a warm-up of a quarter of --seconds first, then prints "fetch<TAB>fetches/s<TAB>fetches<TAB>seconds".
"""
import sys
import time

from tornado import gen
from tornado.httpclient import AsyncHTTPClient
from tornado.ioloop import IOLoop


async def worker(run):
    while True:
        response = await run["client"].fetch(run["url"])
        if response.code != 200 or not response.body:
            raise RuntimeError("unexpected response")
        t = time.monotonic()
        if t >= run["end"]:
            return
        if t >= run["warmup_end"]:
            run["count"] += 1


async def main(url, seconds, concurrency):
    run = {"url": url, "count": 0}
    run["client"] = AsyncHTTPClient(force_instance=True, max_clients=concurrency)
    start = time.monotonic()
    run["warmup_end"] = start + seconds / 4
    run["end"] = run["warmup_end"] + seconds
    await gen.multi([worker(run) for _ in range(concurrency)])
    measured = time.monotonic() - run["warmup_end"]
    run["client"].close()
    print("fetch\t%.1f\t%d\t%.3f" % (run["count"] / measured, run["count"], measured))


if __name__ == "__main__":
    url, seconds, concurrency = None, 3.0, 1
    for a in sys.argv[1:]:
        if a.startswith("--url="):
            url = a[6:]
        elif a.startswith("--seconds="):
            seconds = float(a[10:])
        elif a.startswith("--concurrency="):
            concurrency = int(a[14:])
        else:
            print(__doc__, file=sys.stderr)
            sys.exit(2)
    if not url:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    IOLoop.current().run_sync(lambda: main(url, seconds, concurrency))
