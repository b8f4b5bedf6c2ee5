// TechEmpower's plaintext and JSON tests on tornado.web: an Application with one RequestHandler
// per test, served by HTTPServer on one IOLoop thread. `bench/run techempower` drives it with wrk
// beside nginx, a Beast server and Python Tornado 6.2 (bench/python/techempower.py, the same two
// handlers). What TechEmpower asks of the two tests
// (https://github.com/TechEmpower/FrameworkBenchmarks/wiki/Project-Information-Framework-Tests-Overview):
//
//   /plaintext  "Hello, World!" as text/plain
//   /json       {"message":"Hello, World!"} as application/json, from an object made and
//               serialized for each request
//
// both with Server, Date and Content-Length headers, keep-alive, and HTTP pipelining.
//
// Usage: bench_techempower --port=N [--address=127.0.0.1]
#include "server_args.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

import tornado.httpserver;
import tornado.ioloop;
import tornado.web;

using namespace tornado;

namespace {

// TechEmpower's responses carry no Etag, and hashing each body for one is work nobody asked for
// here: Tornado's documented way to turn it off. bench/python/techempower.py does the same.
class BaseHandler : public web::RequestHandler {
 public:
  std::optional<std::string> compute_etag() override { return std::nullopt; }
};

class PlaintextHandler : public BaseHandler {
 public:
  void get() {
    set_header("Content-Type", "text/plain");
    finish("Hello, World!");
  }
};

class JsonHandler : public BaseHandler {
 public:
  void get() {
    // Made for each request, as the test requires, in a stack buffer through Boost.JSON's
    // monotonic_resource (what its documentation advises for short-lived values): no malloc or
    // free for the object, its key or its value.
    unsigned char arena[256];
    boost::json::monotonic_resource resource(arena, sizeof arena);
    boost::json::object message(&resource);
    message["message"] = "Hello, World!";
    finish(message);  // serialized, with Content-Type application/json
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto args = bench::parse_server_args(argc, argv, 0);
  if (!args) return 2;
  const int port = args->port;
  const std::string& address = args->address;
  web::Application application({
      {"/plaintext", web::handler<PlaintextHandler>()},
      {"/json", web::handler<JsonHandler>()},
  });
  httpserver::HTTPServer server(application);
  server.listen(static_cast<std::uint16_t>(port), address);
  std::printf("listening on %s:%d\n", address.c_str(), port);
  std::fflush(stdout);
  IOLoop::current().start();
}
