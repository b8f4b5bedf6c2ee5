// The fetch rate of AsyncHTTPClient: the tornado-cpp side of bench/run's client rows, beside
// bench/python/http_fetch.py doing the same with Python Tornado's AsyncHTTPClient against the same
// server (nginx in bench/run). Each fetch is a GET that must answer 200 with a non-empty body. Our
// client keeps connections alive and reuses them (AsyncHTTPClientOptions::
// max_idle_connections_per_host); with --no-keep-alive every fetch makes a new connection and sends
// `Connection: close`, as Tornado's simple_httpclient always does.
//
// Usage: http_fetch --url=URL [--seconds=3] [--concurrency=1] [--no-keep-alive]
//   --concurrency=1: one fetch after the other (sequential). --concurrency=N: N coroutines each
//   fetching one after the other on one client with max_clients=N, so N requests are in flight.
// Runs a warm-up of a quarter of --seconds first, then prints
// "fetch<TAB>fetches/s<TAB>fetches<TAB>seconds".
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

import tornado.gen;
import tornado.httpclient;
import tornado.ioloop;

using namespace tornado;

namespace {

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Run {
  std::shared_ptr<httpclient::AsyncHTTPClient> client;
  std::string url;
  double warmup_end = 0, end = 0;
  long count = 0;
};

// Fetches until the run's end; counts the fetches that finished after the warm-up.
Future<void> worker(Run& run) {
  for (;;) {
    auto response = co_await run.client->fetch(run.url);
    if (response.code != 200 || response.body.empty()) throw std::runtime_error("unexpected response");
    double t = now();
    if (t >= run.end) co_return;
    if (t >= run.warmup_end) ++run.count;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  double seconds = 3;
  int concurrency = 1;
  bool keep_alive = true;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("--url=")) url = argv[i] + 6;
    else if (a.starts_with("--seconds=")) seconds = std::atof(argv[i] + 10);
    else if (a.starts_with("--concurrency=")) concurrency = std::atoi(argv[i] + 14);
    else if (a == "--no-keep-alive") keep_alive = false;
    else {
      std::fprintf(stderr, "usage: %s --url=URL [--seconds=S] [--concurrency=N] [--no-keep-alive]\n", argv[0]);
      return 2;
    }
  }
  if (url.empty() || concurrency < 1) {
    std::fprintf(stderr, "http_fetch: --url is required, --concurrency at least 1\n");
    return 2;
  }
  Run run;
  run.url = url;
  double measured = 0;
  try {
    IOLoop::current().run_sync([&]() -> Future<void> {
      httpclient::AsyncHTTPClientOptions options;
      options.max_clients = static_cast<std::size_t>(concurrency);
      if (!keep_alive) options.max_idle_connections_per_host = 0;
      run.client = httpclient::AsyncHTTPClient::instance(true, options);
      double start = now();
      run.warmup_end = start + seconds / 4;
      run.end = run.warmup_end + seconds;
      std::vector<Future<void>> workers;
      for (int i = 0; i < concurrency; ++i) workers.push_back(worker(run));
      co_await gen::multi(std::move(workers));
      measured = now() - run.warmup_end;
      run.client->close();
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_fetch: %s\n", e.what());
    return 1;
  }
  std::printf("fetch\t%.1f\t%ld\t%.3f\n", static_cast<double>(run.count) / measured, run.count, measured);
}
