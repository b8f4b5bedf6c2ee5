// Runs a coroutine every second and stops after three runs: the smallest program on the IOLoop.
// Tornado's equivalent:
//
//   async def tick(n):
//       print(f"tick {n} at {IOLoop.current().time():.3f}")
//       await gen.sleep(0.1)                       # a coroutine may await inside
//   async def main():
//       for n in range(1, 4):
//           await tick(n)
//           await gen.sleep(1)
//   IOLoop.current().run_sync(main)
//
// Usage: periodic [--interval=SECONDS] [--count=N]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

import tornado.ioloop;
import tornado.gen;

using namespace tornado;

Future<void> tick(int n, double started) {
  std::printf("tick %d at +%.3f s\n", n, IOLoop::current().time() - started);
  std::fflush(stdout);
  co_await gen::sleep(0.01);  // a coroutine may await in the middle of its work
}

int main(int argc, char** argv) {
  double interval = 1.0;
  int count = 3;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("--interval=")) interval = std::atof(argv[i] + 11);
    else if (a.starts_with("--count=")) count = std::atoi(argv[i] + 8);
    else {
      std::fprintf(stderr, "usage: %s [--interval=SECONDS] [--count=N]\n", argv[0]);
      return 2;
    }
  }

  // PeriodicCallback runs the coroutine every `interval` seconds; the loop stops after `count`.
  IOLoop& loop = IOLoop::current();
  double started = loop.time();
  int runs = 0;
  ioloop::PeriodicCallback every(
      [&]() -> Future<void> {
        co_await tick(++runs, started);
        if (runs == count) loop.stop();
      },
      interval * 1000.0);
  every.start();
  loop.start();
  std::printf("done after %d ticks (%s backend)\n", runs, std::string(IOLoop::backend_name()).c_str());
  return 0;
}
