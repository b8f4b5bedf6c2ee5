// A single-threaded Boost.Beast server answering TechEmpower's plaintext and JSON tests: the C++
// peer of bench/techempower.cpp in `bench/run techempower`. It is Beast's own
// example/http/server/async (http_server_async.cpp) cut down to these two routes: one io_context
// run on one thread, a session per connection that reads a request with http::async_read into a
// flat_buffer, answers it with http::async_write (one write per response), and reads the next
// while keep-alive lasts. Not part of tornado-cpp (no tornado module is used).
//
// Usage: beast_server --port=N [--address=127.0.0.1]
#include "server_args.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// TechEmpower requires a Date header; like every serious entry, format it once per second.
std::string_view http_date() {
  static std::time_t last = 0;
  static char text[64];
  std::time_t now = std::time(nullptr);
  if (now != last) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    last = now;
  }
  return text;
}

http::message_generator handle_request(http::request<http::string_body>&& req) {
  http::response<http::string_body> res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "Beast");
  res.set(http::field::date, http_date());
  if (req.method() == http::verb::get && req.target() == "/plaintext") {
    res.result(http::status::ok);
    res.set(http::field::content_type, "text/plain");
    res.body() = "Hello, World!";
  } else if (req.method() == http::verb::get && req.target() == "/json") {
    res.result(http::status::ok);
    res.set(http::field::content_type, "application/json");
    // TechEmpower: a new object serialized for each request.
    boost::json::object message;
    message["message"] = "Hello, World!";
    res.body() = boost::json::serialize(message);
  } else {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain");
    res.body() = "Not Found";
  }
  res.prepare_payload();
  return res;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket&& socket) : stream_(std::move(socket)) {}

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, req_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return do_close();
    bool keep_alive = req_.keep_alive();
    beast::async_write(stream_, handle_request(std::move(req_)),
                       beast::bind_front_handler(&Session::on_write, shared_from_this(), keep_alive));
  }

  void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
    if (ec) return;
    if (!keep_alive) return do_close();
    do_read();
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, tcp::endpoint endpoint) : ioc_(ioc), acceptor_(net::make_strand(ioc)) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }
  void run() { do_accept(); }

 private:
  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }
  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(socket))->run();
    }
    do_accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char** argv) {
  auto args = bench::parse_server_args(argc, argv, 0);
  if (!args) return 2;
  const int port = args->port;
  const std::string& address = args->address;
  // One thread: the hint lets Asio drop its locks, as Beast's examples do with `threads == 1`.
  net::io_context ioc{1};
  std::make_shared<Listener>(ioc, tcp::endpoint{net::ip::make_address(address), static_cast<unsigned short>(port)})
      ->run();
  std::printf("listening on %s:%d\n", address.c_str(), port);
  std::fflush(stdout);
  ioc.run();
}
