// The foundation benchmarks: how many callbacks, timers and coroutine round trips the IOLoop runs
// per second. bench/python/core_bench.py runs the same loops on Python Tornado, and bench/run
// prints both side by side with their ratio.
//
// Every case is a function that performs `n` operations and returns the seconds they took. The
// driver finds an `n` that takes about `--seconds` (calibrating from a small one), then runs that
// `n` `--trials` times and keeps the best rate (the run least disturbed by other processes).
// Time is the process's CPU time by default (`--clock=wall` for elapsed time): the machine is
// shared, and CPU time is what a busy server pays per operation.
//
// Usage: bench_core [--list] [--seconds=S] [--trials=N] [--clock=cpu|wall] [--n=N] [CASE...]
// Prints one line per case: name, operations per second, n, seconds of the best trial.
// `--n=N` skips calibration and runs each case once with N operations: a fixed amount of work
// for a profiler (valgrind --tool=callgrind bench_core --n=100000 future_pingpong).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

import tornado.ioloop;
import tornado.gen;

using namespace tornado;

namespace {

bool use_cpu_clock = true;

double now() {
  timespec ts;
  clock_gettime(use_cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Timers are scheduled in rounds of this many, so that memory stays bounded however fast we are.
constexpr long kRound = 10000;

// Delays for the concurrent timers, the same for every round: uniform in [0, 1 ms).
const std::vector<double>& small_delays() {
  static const std::vector<double> delays = [] {
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> d(0.0, 0.001);
    std::vector<double> v(kRound);
    for (auto& x : v) x = d(rng);
    return v;
  }();
  return delays;
}

// Delays for timers that are removed before they fire: uniform in [1 s, 2 s).
const std::vector<double>& far_delays() {
  static const std::vector<double> delays = [] {
    std::mt19937_64 rng(43);
    std::uniform_real_distribution<double> d(1.0, 2.0);
    std::vector<double> v(kRound);
    for (auto& x : v) x = d(rng);
    return v;
  }();
  return delays;
}

// ---------------------------------------------------------------------------------------------
// 1. Callbacks

// Each callback adds the next with add_callback: one loop iteration per callback.
// A named callable (not a lambda) because it re-adds a copy of itself.
struct ChainLink {
  IOLoop* loop;
  long* left;
  void operator()() const {
    if (--*left > 0) loop->add_callback(*this);
    else loop->stop();
  }
};

double callback_chain(long n) {
  IOLoop& loop = IOLoop::current();
  long left = n;
  double t0 = now();
  loop.add_callback(ChainLink{&loop, &left});
  loop.start();
  return now() - t0;
}

// Adds a batch of callbacks, then runs the loop until the last one has run.
double callback_batch(long n) {
  IOLoop& loop = IOLoop::current();
  double t0 = now();
  for (long done = 0; done < n;) {
    long batch = std::min(kRound, n - done);
    long left = batch;
    for (long i = 0; i < batch; ++i) {
      loop.add_callback([&left, &loop] {
        if (--left == 0) loop.stop();
      });
    }
    loop.start();
    done += batch;
  }
  return now() - t0;
}

// ---------------------------------------------------------------------------------------------
// 2. Timers

// Each timer schedules the next with call_later(0, ...).
struct TimerLink {
  IOLoop* loop;
  long* left;
  void operator()() const {
    if (--*left > 0) loop->call_later(0, *this);
    else loop->stop();
  }
};

double timer_chain(long n) {
  IOLoop& loop = IOLoop::current();
  long left = n;
  double t0 = now();
  loop.call_later(0, TimerLink{&loop, &left});
  loop.start();
  return now() - t0;
}

// Schedules a round of timers with random delays below 1 ms, and runs until all have fired.
double timer_concurrent(long n) {
  IOLoop& loop = IOLoop::current();
  const auto& delays = small_delays();
  double t0 = now();
  for (long done = 0; done < n;) {
    long batch = std::min(kRound, n - done);
    long left = batch;
    for (long i = 0; i < batch; ++i) {
      loop.call_later(delays[i], [&left, &loop] {
        if (--left == 0) loop.stop();
      });
    }
    loop.start();
    done += batch;
  }
  return now() - t0;
}

// Adds a round of timers 1-2 s away, removes them all with remove_timeout, and runs one loop
// iteration (which is when removed timers leave the queue). One operation: one add and its remove.
double timer_add_remove(long n) {
  IOLoop& loop = IOLoop::current();
  const auto& delays = far_delays();
  std::vector<ioloop::TimeoutHandle> handles(kRound);
  long fired = 0;
  double t0 = now();
  for (long done = 0; done < n;) {
    long batch = std::min(kRound, n - done);
    for (long i = 0; i < batch; ++i) handles[i] = loop.call_later(delays[i], [&fired] { ++fired; });
    for (long i = 0; i < batch; ++i) loop.remove_timeout(handles[i]);
    loop.add_callback([&loop] { loop.stop(); });
    loop.start();
    done += batch;
  }
  double t = now() - t0;
  if (fired != 0) {
    std::fprintf(stderr, "timer_add_remove: %ld removed timers fired\n", fired);
    std::exit(1);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// 3. Coroutines

// Two coroutines bounce a value through two futures: the pinger completes `ping` and awaits
// `pong`, the ponger awaits `ping` and completes `pong`. One operation: one round trip (two
// futures created, completed and awaited; two loop iterations).
struct Box {
  Future<long> ping;
  Future<long> pong;
};

Future<void> ponger(Box& box, long n) {
  for (long i = 0; i < n; ++i) {
    long v = co_await box.ping;
    box.ping = Future<long>();
    box.pong.set_result(v);
  }
}

Future<void> pinger(Box& box, long n) {
  for (long i = 0; i < n; ++i) {
    box.pong = Future<long>();
    box.ping.set_result(i);
    long v = co_await box.pong;
    if (v != i) {
      std::fprintf(stderr, "future_pingpong: got %ld, expected %ld\n", v, i);
      std::exit(1);
    }
  }
}

double future_pingpong(long n) {
  IOLoop& loop = IOLoop::current();
  double t0 = now();
  loop.run_sync([n]() -> Future<void> {
    Box box;
    Future<void> pong = ponger(box, n);
    co_await pinger(box, n);
    co_await pong;
  });
  return now() - t0;
}

// One coroutine yields to the loop n times with `co_await gen::moment`.
double moment(long n) {
  IOLoop& loop = IOLoop::current();
  double t0 = now();
  loop.run_sync([n]() -> Future<void> {
    for (long i = 0; i < n; ++i) co_await gen::moment;
  });
  return now() - t0;
}

// ---------------------------------------------------------------------------------------------

struct Case {
  const char* name;
  double (*run)(long n);
  const char* what;
};

const Case kCases[] = {
    {"callback_chain", callback_chain, "each callback adds the next with add_callback"},
    {"callback_batch", callback_batch, "add 10000 callbacks, run them"},
    {"timer_chain", timer_chain, "each timer adds the next with call_later(0, ...)"},
    {"timer_concurrent", timer_concurrent, "10000 timers with random delays < 1 ms, run until all fired"},
    {"timer_add_remove", timer_add_remove, "call_later then remove_timeout, 10000 at a time"},
    {"future_pingpong", future_pingpong, "round trips between two coroutines through two futures"},
    {"moment", moment, "co_await gen::moment in a loop"},
};

struct Result {
  double rate;
  long n;
  double seconds;
};

Result measure(const Case& c, double seconds, int trials) {
  // Calibrate: grow n until a run is long enough to time, then aim at `seconds` per trial.
  long n = 1000;
  double t = c.run(n);
  while (t < seconds / 20) {
    n *= t < seconds / 1000 ? 10 : 2;
    t = c.run(n);
  }
  n = std::max(1L, static_cast<long>(static_cast<double>(n) * seconds / t));
  Result best{0, n, 0};
  for (int i = 0; i < trials; ++i) {
    t = c.run(n);
    double rate = static_cast<double>(n) / t;
    if (rate > best.rate) best = {rate, n, t};
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.3;
  int trials = 3;
  long fixed_n = 0;
  std::vector<std::string> wanted;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--list") {
      for (const auto& c : kCases) std::printf("%s\t%s\n", c.name, c.what);
      return 0;
    } else if (a.starts_with("--seconds=")) {
      seconds = std::atof(argv[i] + 10);
    } else if (a.starts_with("--trials=")) {
      trials = std::atoi(argv[i] + 9);
    } else if (a.starts_with("--n=")) {
      fixed_n = std::atol(argv[i] + 4);
    } else if (a == "--clock=cpu" || a == "--clock=wall") {
      use_cpu_clock = a == "--clock=cpu";
    } else if (a.starts_with("-")) {
      std::fprintf(stderr, "usage: %s [--list] [--seconds=S] [--trials=N] [--clock=cpu|wall] [--n=N] [CASE...]\n",
                   argv[0]);
      return 2;
    } else {
      wanted.emplace_back(a);
    }
  }
  for (const auto& w : wanted) {
    if (std::none_of(std::begin(kCases), std::end(kCases), [&](const Case& c) { return w == c.name; })) {
      std::fprintf(stderr, "unknown case: %s (see --list)\n", w.c_str());
      return 2;
    }
  }
  IOLoop loop;
  for (const auto& c : kCases) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), c.name) == wanted.end()) continue;
    Result r;
    if (fixed_n > 0) {
      double t = c.run(fixed_n);
      r = {static_cast<double>(fixed_n) / t, fixed_n, t};
    } else {
      r = measure(c, seconds, trials);
    }
    std::printf("%s\t%.0f\t%ld\t%.3f\n", c.name, r.rate, r.n, r.seconds);
    std::fflush(stdout);
  }
  return 0;
}
