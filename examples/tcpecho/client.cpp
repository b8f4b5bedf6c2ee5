// Sends one line to the TCP echo server and prints the reply. Tornado's demos/tcpecho/client.py:
//
//   async def send_message():
//       stream = await TCPClient().connect(options.host, options.port)
//       await stream.write((options.message + "\n").encode())
//       print("Sent to server:", options.message)
//       reply = await stream.read_until(b"\n")
//       print("Response from server:", reply.decode().strip())
//
//   IOLoop.current().run_sync(send_message)
//
// Usage: tcpecho_client [--host=localhost] [--port=9888] [--message=ping]
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

import tornado.ioloop;
import tornado.iostream;
import tornado.tcpclient;

using namespace tornado;

namespace {

std::string strip(std::string s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

Future<void> send_message(std::string host, std::uint16_t port, std::string message) {
  auto stream = co_await tcpclient::TCPClient().connect(host, port);
  co_await stream->write(message + "\n");
  std::printf("Sent to server: %s\n", message.c_str());
  auto reply = co_await stream->read_until("\n");
  std::printf("Response from server: %s\n", strip(reply).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "localhost";
  int port = 9888;
  std::string message = "ping";
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("--host=")) host = argv[i] + 7;
    else if (a.starts_with("--port=")) port = std::atoi(argv[i] + 7);
    else if (a.starts_with("--message=")) message = argv[i] + 10;
    else {
      std::fprintf(stderr, "usage: %s [--host=HOST] [--port=PORT] [--message=TEXT]\n", argv[0]);
      return 2;
    }
  }
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "bad port %d\n", port);
    return 2;
  }
  try {
    IOLoop::current().run_sync([&] { return send_message(host, static_cast<std::uint16_t>(port), message); });
  } catch (const iostream::StreamClosedError& e) {
    // The connection failed or broke: say why (ECONNREFUSED...), not just "Stream is closed".
    std::string why = e.real_error ? describe_exception(e.real_error) : e.what();
    std::fprintf(stderr, "tcpecho_client: %s:%d: %s\n", host.c_str(), port, why.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tcpecho_client: %s:%d: %s\n", host.c_str(), port, e.what());
    return 1;
  }
  return 0;
}
