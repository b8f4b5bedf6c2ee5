#!/usr/bin/python3
"""The foundation benchmarks on Python Tornado: the loops bench/core_bench.cpp runs, written the way
Tornado 6.2 (Debian's python3-tornado) runs them, so bench/run can print both and their ratio.

Every case is a function that performs `n` operations and returns the seconds they took. The
driver finds an `n` that takes about --seconds, runs it --trials times and keeps the best rate.
Time is the process's CPU time by default (--clock=wall for elapsed time).

Usage: core_bench.py [--list] [--seconds=S] [--trials=N] [--clock=cpu|wall] [CASE...]
Prints one line per case: name, operations per second, n, seconds of the best trial.
"""
import asyncio
import random
import sys
import time
import warnings

import tornado
from tornado import gen
from tornado.ioloop import IOLoop

warnings.filterwarnings("ignore", category=DeprecationWarning)

now = time.process_time

ROUND = 10000  # timers are scheduled in rounds of this many, as in the C++ version
_rng = random.Random(42)
SMALL_DELAYS = [_rng.uniform(0.0, 0.001) for _ in range(ROUND)]  # [0, 1 ms)
_rng = random.Random(43)
FAR_DELAYS = [_rng.uniform(1.0, 2.0) for _ in range(ROUND)]  # [1 s, 2 s)


# --- Timing helpers -----------------------------------------------------------------------------

def timed_chain(n, schedule):
    """Runs a chain of n callbacks, each scheduling the next with schedule(f), and returns the
    seconds it took."""
    loop = IOLoop.current()
    left = n

    def link():
        nonlocal left
        left -= 1
        if left > 0:
            schedule(link)
        else:
            loop.stop()

    t0 = now()
    schedule(link)
    loop.start()
    return now() - t0


def timed_rounds(n, run_round):
    """Calls run_round(batch) for rounds of at most ROUND operations adding up to n, and returns
    the seconds they took."""
    t0 = now()
    done = 0
    while done < n:
        batch = min(ROUND, n - done)
        run_round(batch)
        done += batch
    return now() - t0


def stop_after(loop, count):
    """A callback that stops `loop` when it has been called `count` times."""
    left = count

    def cb():
        nonlocal left
        left -= 1
        if left == 0:
            loop.stop()

    return cb


def timed_run_sync(main):
    """Runs main() with IOLoop.run_sync and returns the seconds it took."""
    loop = IOLoop.current()
    t0 = now()
    loop.run_sync(main)
    return now() - t0


# --- 1. Callbacks -------------------------------------------------------------------------------

def callback_chain(n):
    """Each callback adds the next with add_callback."""
    return timed_chain(n, IOLoop.current().add_callback)


def callback_batch(n):
    """Add a batch of 10000 callbacks, run the loop until the last one has run."""
    loop = IOLoop.current()

    def run_round(batch):
        cb = stop_after(loop, batch)
        for _ in range(batch):
            loop.add_callback(cb)
        loop.start()

    return timed_rounds(n, run_round)


# --- 2. Timers ----------------------------------------------------------------------------------

def timer_chain(n):
    """Each timer adds the next with call_later(0, ...)."""
    loop = IOLoop.current()
    return timed_chain(n, lambda f: loop.call_later(0, f))


def timer_concurrent(n):
    """10000 timers with random delays below 1 ms, run until all have fired."""
    loop = IOLoop.current()

    def run_round(batch):
        cb = stop_after(loop, batch)
        for i in range(batch):
            loop.call_later(SMALL_DELAYS[i], cb)
        loop.start()

    return timed_rounds(n, run_round)


def timer_add_remove(n):
    """call_later 1-2 s away then remove_timeout, 10000 at a time, then one loop iteration."""
    loop = IOLoop.current()
    fired = 0

    def cb():
        nonlocal fired
        fired += 1

    def run_round(batch):
        handles = [loop.call_later(FAR_DELAYS[i], cb) for i in range(batch)]
        for h in handles:
            loop.remove_timeout(h)
        loop.add_callback(loop.stop)
        loop.start()

    t = timed_rounds(n, run_round)
    if fired:
        sys.exit("timer_add_remove: %d removed timers fired" % fired)
    return t


# --- 3. Coroutines ------------------------------------------------------------------------------

class Box:
    __slots__ = ("ping", "pong")


async def ponger(box, n):
    loop = asyncio.get_running_loop()
    for _ in range(n):
        v = await box.ping
        box.ping = loop.create_future()
        box.pong.set_result(v)


async def pinger(box, n):
    loop = asyncio.get_running_loop()
    for i in range(n):
        box.pong = loop.create_future()
        box.ping.set_result(i)
        v = await box.pong
        if v != i:
            sys.exit("future_pingpong: got %r, expected %r" % (v, i))


def future_pingpong(n):
    """Round trips between two coroutines through two asyncio futures."""

    async def main():
        box = Box()
        box.ping = asyncio.get_running_loop().create_future()
        pong = asyncio.ensure_future(ponger(box, n))
        await pinger(box, n)
        await pong

    return timed_run_sync(main)


def moment(n):
    """`yield gen.moment` in a @gen.coroutine loop (gen.moment cannot be awaited by a native
    coroutine; Tornado's documentation gives `await asyncio.sleep(0)` as its equivalent there,
    measured by the next case)."""

    @gen.coroutine
    def main():
        for _ in range(n):
            yield gen.moment

    return timed_run_sync(main)


def sleep0(n):
    """`await asyncio.sleep(0)` in a native coroutine: the native spelling of gen.moment."""

    async def main():
        for _ in range(n):
            await asyncio.sleep(0)

    return timed_run_sync(main)


CASES = [
    ("callback_chain", callback_chain),
    ("callback_batch", callback_batch),
    ("timer_chain", timer_chain),
    ("timer_concurrent", timer_concurrent),
    ("timer_add_remove", timer_add_remove),
    ("future_pingpong", future_pingpong),
    ("moment", moment),
    ("sleep0", sleep0),
]


def measure(run, seconds, trials):
    n = 1000
    t = run(n)
    while t < seconds / 20:
        n *= 10 if t < seconds / 1000 else 2
        t = run(n)
    n = max(1, int(n * seconds / t))
    best = (0.0, n, 0.0)
    for _ in range(trials):
        t = run(n)
        rate = n / t
        if rate > best[0]:
            best = (rate, n, t)
    return best


def main(argv):
    global now
    seconds, trials, wanted = 0.3, 3, []
    for a in argv:
        if a == "--list":
            for name, run in CASES:
                print("%s\t%s" % (name, run.__doc__.split("\n")[0]))
            return 0
        elif a.startswith("--seconds="):
            seconds = float(a[10:])
        elif a.startswith("--trials="):
            trials = int(a[9:])
        elif a in ("--clock=cpu", "--clock=wall"):
            now = time.process_time if a == "--clock=cpu" else time.perf_counter
        elif a.startswith("-"):
            print(__doc__, file=sys.stderr)
            return 2
        else:
            wanted.append(a)
    names = [name for name, _ in CASES]
    for w in wanted:
        if w not in names:
            print("unknown case: %s (see --list)" % w, file=sys.stderr)
            return 2
    asyncio.set_event_loop(asyncio.new_event_loop())
    IOLoop.current()  # wraps the loop just set, as Tornado 6.2 does
    for name, run in CASES:
        if wanted and name not in wanted:
            continue
        rate, n, t = measure(run, seconds, trials)
        print("%s\t%.0f\t%d\t%.3f" % (name, rate, n, t), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
