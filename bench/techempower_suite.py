"""The techempower suite of bench/run: TechEmpower's plaintext and JSON tests, and plaintext
pipelined 16 deep, through tornado.web (bench/techempower.cpp: Application and RequestHandler on
HTTPServer) beside nginx (bench/nginx-techempower.conf), a single-threaded Boost.Beast server
(bench/beast_server.cpp) and Python Tornado 6.2 (bench/python/techempower.py), all in the same
run; plus the memory 10,000 idle keep-alive connections cost each server
(bench/idle_connections.py).

Every server runs pinned to one CPU (--cpu, default the last), wrk (one thread) on another. wrk
sends TechEmpower's headers; the pipelined case uses TechEmpower's pipeline.lua
(bench/pipeline.lua) with a depth of 16. Each (case, server) is measured --rounds times, the
servers taking turns in a different order each round, and the best rate is kept, with the p99
latency of that run and the server's CPU use during it.

Run through bench/run:  bench/run techempower [plaintext] [json] [pipelined] [idle]
"""
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
NGINX = "/usr/sbin/nginx"
CASES = ["plaintext", "json", "pipelined", "idle"]
TARGETS = ["bench_techempower", "bench_beast_server"]
SERVERS = ["tornado-cpp", "nginx", "beast", "python"]
DEPTH = 16
# TechEmpower's wrk headers (toolset/benchmark/benchmarker: the plaintext and JSON test types).
ACCEPT = {
    "plaintext": "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7",
    "json": "application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7",
}
PATH = {"plaintext": "/plaintext", "json": "/json", "pipelined": "/plaintext", "idle": "/plaintext"}
# What tornado-cpp should reach (issue 5).
TARGET_VS_NGINX = {"plaintext": 1.0, "json": 1.0, "pipelined": 2.5}
TARGET_VS_BEAST = 1.2
TARGET_VS_PYTHON = 25.0
TARGET_IDLE_BYTES = 4096


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile():
    """Lets a server (or the idle client) open as many descriptors as the hard limit allows."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_listening(port, proc, what, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with status %s" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not start listening on port %d" % (what, port))


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class Server:
    """One server process, pinned, on a free port of 127.0.0.1."""

    def __init__(self, name, build, pin):
        self.name = name
        self.port = free_port()
        self.prefix = None
        if name == "tornado-cpp":
            argv = [os.path.join(build, "bench", "bench_techempower"), "--port=%d" % self.port]
        elif name == "beast":
            argv = [os.path.join(build, "bench", "bench_beast_server"), "--port=%d" % self.port]
        elif name == "python":
            argv = [PY, os.path.join(HERE, "python", "techempower.py"), "--port=%d" % self.port]
        elif name == "nginx":
            self.prefix = tempfile.mkdtemp(prefix="tornado-bench-te-nginx.")
            os.mkdir(os.path.join(self.prefix, "tmp"))
            with open(os.path.join(HERE, "nginx-techempower.conf")) as f:
                conf = f.read().replace("127.0.0.1:8090", "127.0.0.1:%d" % self.port)
            with open(os.path.join(self.prefix, "nginx.conf"), "w") as f:
                f.write(conf)
            argv = [NGINX, "-p", self.prefix + "/", "-c", "nginx.conf"]
        else:
            raise ValueError(name)
        self.proc = subprocess.Popen(pin + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=raise_nofile, cwd=ROOT)
        wait_listening(self.port, self.proc, name)
        # The process that serves: nginx's worker, not its master.
        self.pid = self.proc.pid
        if name == "nginx":
            for _ in range(100):
                kids = children(self.proc.pid)
                if kids:
                    self.pid = kids[0]
                    break
                time.sleep(0.05)

    def url(self, case):
        return "http://127.0.0.1:%d%s" % (self.port, PATH[case])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.prefix:
            shutil.rmtree(self.prefix, ignore_errors=True)


def parse_latency(text):
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]  # milliseconds


def run_wrk(server, case, opts):
    connections = opts["pipelined_connections"] if case == "pipelined" else opts["connections"]
    argv = opts["wrk_pin"] + ["wrk", "-t1", "-c%d" % connections, "-d%gs" % opts["duration"], "--latency",
                              "--timeout", "8", "-H", "Host: localhost",
                              "-H", "Accept: " + ACCEPT["json" if case == "json" else "plaintext"],
                              "-H", "Connection: keep-alive", server.url(case)]
    if case == "pipelined":
        argv += ["-s", os.path.join(HERE, "pipeline.lua"), "--", str(DEPTH)]
    ticks0 = cpu_ticks(server.pid)
    t0 = time.time()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    elapsed = time.time() - t0
    cpu = (cpu_ticks(server.pid) - ticks0) / os.sysconf("SC_CLK_TCK") / elapsed
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = parse_latency(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    return {"rate": rate, "p99": p99, "cpu": cpu, "errors": errors}


def run_idle(server, opts):
    out = subprocess.run([PY, os.path.join(HERE, "idle_connections.py"), "--port=%d" % server.port,
                          "--pid=%d" % server.pid, "--connections=%d" % opts["idle_connections"]],
                         capture_output=True, text=True, check=True, preexec_fn=raise_nofile).stdout
    n, before, after, per = out.split("\t")
    return {"before": int(before), "after": int(after), "per": float(per)}


def fmt_rate(r):
    return "{:,.0f}".format(r)


def check(ok):
    return "yes" if ok else "NO"


def run(opts, cases, build_dir):
    """Runs the suite; `opts` has duration, rounds, cpu. Returns 0, or 1 if a target is missed."""
    cases = cases or CASES
    cpu = opts["cpu"]
    ncpu = os.cpu_count()
    pin = ["taskset", "-c", str(cpu)] if cpu >= 0 and shutil.which("taskset") else []
    wrk_cpu = (cpu - 1) % ncpu if ncpu > 1 else cpu
    opts = dict(opts)
    opts.setdefault("connections", 128)
    opts.setdefault("pipelined_connections", 256)
    opts.setdefault("idle_connections", 10000)
    opts["wrk_pin"] = ["taskset", "-c", str(wrk_cpu)] if pin else []
    wrk_cases = [c for c in cases if c != "idle"]
    print("techempower: servers pinned to CPU %s, wrk (1 thread) to CPU %s; %gs runs, best of %d rounds; "
          "%d connections (%d pipelined %d deep)"
          % (cpu if pin else "-", wrk_cpu if pin else "-", opts["duration"], opts["rounds"],
             opts["connections"], opts["pipelined_connections"], DEPTH))
    servers = []
    status = 0
    try:
        for name in SERVERS:
            servers.append(Server(name, build_dir, pin))
        # Warm-up: one short run per server, so that the first measured one is not also the first.
        warm = dict(opts, duration=1.0)
        for s in servers:
            run_wrk(s, "plaintext", warm)
        best = {}
        for r in range(opts["rounds"]):
            order = servers[r % len(servers):] + servers[:r % len(servers)]
            for case in wrk_cases:
                for s in order:
                    res = run_wrk(s, case, opts)
                    key = (case, s.name)
                    if key not in best or res["rate"] > best[key]["rate"]:
                        best[key] = res
        for case in wrk_cases:
            print()
            title = "%s%s" % (case, " (plaintext, %d requests per write)" % DEPTH if case == "pipelined" else "")
            header = "%-12s %14s %10s %10s %16s %8s" % (title if len(title) <= 12 else case, "requests/s",
                                                      "p99 ms", "server CPU", "req/CPU-second", "errors")
            print(header)
            print("-" * len(header))
            for name in SERVERS:
                b = best[(case, name)]
                print("%-12s %14s %10.2f %9.0f%% %16s %8d" % (name, fmt_rate(b["rate"]), b["p99"], b["cpu"] * 100,
                                                             fmt_rate(b["rate"] / b["cpu"]) if b["cpu"] else "-",
                                                             b["errors"]))
            ours = best[(case, "tornado-cpp")]
            vs = {n: ours["rate"] / best[(case, n)]["rate"] for n in ("nginx", "beast", "python")}
            lines = ["vs nginx %.2fx (target %gx: %s)" % (vs["nginx"], TARGET_VS_NGINX[case],
                                                           check(vs["nginx"] >= TARGET_VS_NGINX[case]))]
            ok = vs["nginx"] >= TARGET_VS_NGINX[case]
            if case != "pipelined":
                p99_ok = ours["p99"] <= best[(case, "nginx")]["p99"]
                lines.append("vs Beast %.2fx (target %gx: %s)" % (vs["beast"], TARGET_VS_BEAST,
                                                                   check(vs["beast"] >= TARGET_VS_BEAST)))
                lines.append("vs Python %.1fx (target %gx: %s)" % (vs["python"], TARGET_VS_PYTHON,
                                                                    check(vs["python"] >= TARGET_VS_PYTHON)))
                lines.append("p99 %.2f ms vs nginx's %.2f ms (target: no worse: %s)"
                             % (ours["p99"], best[(case, "nginx")]["p99"], check(p99_ok)))
                ok = ok and vs["beast"] >= TARGET_VS_BEAST and vs["python"] >= TARGET_VS_PYTHON and p99_ok
            else:
                lines.append("vs Beast %.2fx, vs Python %.1fx" % (vs["beast"], vs["python"]))
            if any(best[(case, n)]["errors"] for n in SERVERS):
                ok = False
            print("tornado-cpp: " + "; ".join(lines))
            if not ok:
                status = 1
        if "idle" in cases:
            print()
            header = "%-12s %12s %12s %16s" % ("idle %d" % opts["idle_connections"], "RSS before", "RSS after",
                                               "bytes/connection")
            print(header)
            print("-" * len(header))
            idle = {}
            for s in servers:
                idle[s.name] = run_idle(s, opts)
                i = idle[s.name]
                print("%-12s %9d KiB %9d KiB %16s" % (s.name, i["before"], i["after"], fmt_rate(i["per"])))
            per = idle["tornado-cpp"]["per"]
            print("tornado-cpp: %.0f bytes per idle connection (target < %d: %s)"
                  % (per, TARGET_IDLE_BYTES, check(per < TARGET_IDLE_BYTES)))
            if per >= TARGET_IDLE_BYTES:
                status = 1
    finally:
        for s in servers:
            s.stop()
    return status


USAGE = """Usage: bench/run techempower [options] [CASE...]

  CASE            plaintext, json, pipelined, idle (default: all four)
  --duration=S    seconds of each wrk run (default 5)
  --rounds=N      runs per (case, server), taking turns (default 2); the best is kept
  --connections=N wrk connections for plaintext and json (default 128)
  --pipelined-connections=N  for the pipelined case (default 256)
  --idle-connections=N       for the idle case (default 10000)
  --cpu=N         the CPU the servers are pinned to (default: the last; wrk gets the one before;
                  -1: no pinning)
  --no-build      use the binaries already built in build/bench-release
"""


def build(targets):
    env = dict(os.environ)
    env.setdefault("TORNADO_BACKEND", "epoll")
    build_dir = os.path.join(ROOT, "build", "bench-release")
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        subprocess.run(["cmake", "--preset", "release", "-B", build_dir], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "--target"] + targets, cwd=ROOT, env=env, check=True)
    return build_dir


def main(argv):
    opts = {"duration": 5.0, "rounds": 2, "cpu": os.cpu_count() - 1}
    do_build = True
    cases = []
    for a in argv:
        name, eq, value = a.partition("=")
        if a == "--no-build":
            do_build = False
        elif eq and name in ("--duration",):
            opts["duration"] = float(value)
        elif eq and name in ("--rounds", "--cpu", "--connections", "--pipelined-connections", "--idle-connections"):
            opts[name[2:].replace("-", "_")] = int(value)
        elif a in ("-h", "--help"):
            print(USAGE)
            return 0
        elif a in CASES:
            cases.append(a)
        else:
            print(USAGE, file=sys.stderr)
            return 2
    build_dir = build(TARGETS) if do_build else os.path.join(ROOT, "build", "bench-release")
    print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    return run(opts, cases, build_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
