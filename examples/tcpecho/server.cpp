// A TCP echo server: every line a client sends comes back to it. Tornado's demos/tcpecho/server.py:
//
//   class EchoServer(TCPServer):
//       async def handle_stream(self, stream, address):
//           while True:
//               try:
//                   data = await stream.read_until(b"\n")
//                   logger.info("Received bytes: %s", data)
//                   if not data.endswith(b"\n"):
//                       data = data + b"\n"
//                   await stream.write(data)
//               except StreamClosedError:
//                   logger.warning("Lost client at host %s", address[0])
//                   break
//
// Usage: tcpecho_server [--port=9888] [--address=ADDRESS] [--logging=info]
//   --port=0 listens on a port the kernel picks; the log line "Listening on TCP port N" tells
//   which. --address defaults to every interface. --logging sets the log level as Tornado's
//   option does (debug, info, warning, error, none); bench/run passes warning, so that each line
//   is not logged, on both sides of the benchmark.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

import tornado.ioloop;
import tornado.iostream;
import tornado.log;
import tornado.netutil;
import tornado.tcpserver;

using namespace tornado;

namespace {

log::Logger& logger() { return log::get_logger("tcpecho"); }

// The line as Python's log shows bytes: control characters escaped, so one line stays one line.
std::string printable(std::string_view data) {
  std::string out;
  for (unsigned char c : data) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) {
      const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

class EchoServer : public tcpserver::TCPServer {
 public:
  Future<void> handle_stream(std::unique_ptr<iostream::IOStream> stream, netutil::SocketAddress address) override {
    for (;;) {
      try {
        std::string data = co_await stream->read_until("\n");
        // Only escape the line when it will be logged (Python's logging formats lazily too).
        if (logger().is_enabled_for(log::Level::INFO)) logger().info("Received bytes: {}", printable(data));
        if (!data.ends_with('\n')) data += '\n';
        co_await stream->write(std::move(data));
      } catch (const iostream::StreamClosedError&) {
        logger().warning("Lost client at host {}", address.host());
        break;
      } catch (const std::exception& e) {
        std::printf("%s\n", e.what());
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  int port = 9888;
  std::string address;
  log::Level level = log::Level::INFO;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("--port=")) port = std::atoi(argv[i] + 7);
    else if (a.starts_with("--address=")) address = argv[i] + 10;
    else if (a.starts_with("--logging=")) {
      bool ok = true;
      level = log::parse_level(a.substr(10), ok);
      if (!ok) {
        std::fprintf(stderr, "bad --logging level %s\n", argv[i] + 10);
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--port=PORT] [--address=ADDRESS] [--logging=LEVEL]\n", argv[0]);
      return 2;
    }
  }
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "bad port %d\n", port);
    return 2;
  }
  log::enable_pretty_logging(level);

  EchoServer server;
  try {
    // server.listen(port, address) does the same; binding first tells us the port when it is 0.
    auto sockets = netutil::bind_sockets(static_cast<std::uint16_t>(port), address);
    port = netutil::get_sock_name(sockets.front()).port();
    server.add_sockets(sockets);
  } catch (const std::exception& e) {
    logger().error("Cannot listen on port {}: {}", port, e.what());
    return 1;
  }
  logger().info("Listening on TCP port {}", port);
  IOLoop::current().start();
}
