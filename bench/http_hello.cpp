// Hello-world over a bare HTTPServer with a trivial delegate: the tornado-cpp side of bench/run's
// http rows, beside Python Tornado's bench/python/http_hello.py and nginx (bench/nginx.conf).
// Every request gets "Hello, world" with the headers nginx sends for its `return 200`:
// Content-Type, Content-Length, Date (cached per second, httputil::http_date_now) and Server.
//
// Usage: http_hello [--port=8888] [--address=127.0.0.1]
// Prints "Listening on HTTP port N" once listening (--port=0: a port the kernel picks).
#include "server_args.hpp"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

import tornado.httpserver;
import tornado.httputil;
import tornado.ioloop;
import tornado.netutil;

using namespace tornado;

namespace {

constexpr std::string_view kBody = "Hello, world";

// Answers when the request is complete, as a handler's get() would.
class HelloDelegate final : public httputil::HTTPMessageDelegate {
 public:
  explicit HelloDelegate(httputil::HTTPConnection* connection) : connection_(connection) {}
  std::optional<Future<void>> headers_received(const httputil::StartLine&, httputil::HTTPHeaders) override {
    return std::nullopt;
  }
  std::optional<Future<void>> data_received(std::string) override { return std::nullopt; }
  void finish() override {
    httputil::HTTPHeaders headers{
        {"Content-Type", "text/plain"},
        {"Content-Length", "12"},
        {"Date", httputil::http_date_now()},
        {"Server", "TornadoServer/6.2"},
    };
    (void)connection_->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"}, headers, kBody);
    connection_->finish();
  }
  void on_connection_close() override {}

 private:
  httputil::HTTPConnection* connection_;
};

class HelloApplication final : public httputil::HTTPServerConnectionDelegate {
 public:
  std::unique_ptr<httputil::HTTPMessageDelegate> start_request(const void*, httputil::HTTPConnection* conn) override {
    return std::make_unique<HelloDelegate>(conn);
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto args = bench::parse_server_args(argc, argv, 8888);
  if (!args) return 2;
  const int port = args->port;
  const std::string& address = args->address;
  HelloApplication app;
  httpserver::HTTPServer server(app);
  auto sockets = netutil::bind_sockets(static_cast<std::uint16_t>(port), address);
  std::printf("Listening on HTTP port %d\n", netutil::get_sock_name(sockets.front()).port());
  std::fflush(stdout);
  server.add_sockets(sockets);
  IOLoop::current().start();
}
