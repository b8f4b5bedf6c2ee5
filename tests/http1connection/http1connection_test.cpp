// tornado.http1connection over socketpairs: the server side answering raw requests, and the
// client side reading raw responses. The full HTTPServer suites port httpserver_test.py.
// HTTP1ConnectionTest ports tornado/test/http1connection_test.py (6.2) whole: its one case,
// test_http10_no_content_length, over a loopback TCP connection as in Python.
#define BOOST_TEST_MODULE http1connection
#include <tornado/testing.hpp>

#include "../support/support.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <variant>
#include <string>
#include <vector>

import tornado.http1connection;
import tornado.httputil;
import tornado.iostream;
import tornado.gen;
import tornado.log;
import tornado.locks;
import tornado.netutil;
import tornado.testing;

using namespace tornado;
using http1connection::HTTP1Connection;
using http1connection::HTTP1ServerConnection;
using httputil::HTTPHeaders;
using iostream::IOStream;
using tornado::testing::AsyncTestCase;

namespace {

// Two connected streams, shared: a connection and the test both hold the server side.
std::pair<std::shared_ptr<IOStream>, std::shared_ptr<IOStream>> make_pair() { return test_support::stream_pair(); }

// Answers every request with its method, path and body, like a tiny echo application.
struct EchoRequest final : httputil::HTTPMessageDelegate {
  httputil::HTTPConnection* conn;
  std::vector<std::string>* log;
  httputil::RequestStartLine start;
  std::string body;
  EchoRequest(httputil::HTTPConnection* c, std::vector<std::string>* l) : conn(c), log(l) {}
  std::optional<Future<void>> headers_received(const httputil::StartLine& sl, HTTPHeaders) override {
    start = std::get<httputil::RequestStartLine>(sl);
    return std::nullopt;
  }
  std::optional<Future<void>> data_received(std::string chunk) override {
    body += chunk;
    return std::nullopt;
  }
  void finish() override {
    std::string out = start.method + " " + start.path + " " + body;
    log->push_back(out);
    HTTPHeaders h{{"Content-Length", std::to_string(out.size())}};
    (void)conn->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"}, h, out);
    conn->finish();
  }
  void on_connection_close() override { log->push_back("closed"); }
};

struct EchoServer final : httputil::HTTPServerConnectionDelegate {
  std::vector<std::string> log;
  std::unique_ptr<httputil::HTTPMessageDelegate> start_request(const void*, httputil::HTTPConnection* c) override {
    return std::make_unique<EchoRequest>(c, &log);
  }
};

struct Fixture : AsyncTestCase {
  EchoServer app;
  std::shared_ptr<IOStream> client;
  std::unique_ptr<HTTP1ServerConnection> server;
  explicit Fixture(http1connection::HTTP1ConnectionParameters params = {}) {
    auto [a, b] = make_pair();
    client = a;
    server = std::make_unique<HTTP1ServerConnection>(b, params);
    (void)server->start_serving(app);
  }
  ~Fixture() override {
    client->close();
    // Let the serving loop end before the connection goes: a loop left suspended would keep
    // (and leak) its coroutine frames.
    io_loop().run_sync([this] { return server->close(); }, 5.0);
    server.reset();
  }
};

struct SmallLimits : Fixture {
  SmallLimits() : Fixture(http1connection::HTTP1ConnectionParameters{.max_header_size = 1024, .max_body_size = 100}) {}
};

}  // namespace

TORNADO_GEN_TEST(keep_alive_two_requests, Fixture) {
  co_await client->write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = co_await client->read_until("\r\n\r\n");
  BOOST_TEST(head.starts_with("HTTP/1.1 200 OK\r\n"));
  BOOST_TEST(head.find("Content-Length: 7\r\n") != std::string::npos);
  BOOST_TEST((co_await client->read_bytes(7)) == "GET /a ");
  co_await client->write("POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
  co_await client->read_until("\r\n\r\n");
  BOOST_TEST((co_await client->read_bytes(11)) == "POST /b xyz");
}

TORNADO_GEN_TEST(pipelined_requests, Fixture) {
  co_await client->write("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
  std::string all;
  for (int i = 0; i < 3; ++i) {
    co_await client->read_until("\r\n\r\n");
    all += co_await client->read_bytes(7);
  }
  BOOST_TEST(all == "GET /1 GET /2 GET /3 ");
}

TORNADO_GEN_TEST(chunked_request_body, Fixture) {
  co_await client->write("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  co_await client->read_until("\r\n\r\n");
  BOOST_TEST((co_await client->read_bytes(13)) == "POST /c abcde");
}

TORNADO_GEN_TEST(http10_closes_after_response, Fixture) {
  co_await client->write("GET /old HTTP/1.0\r\n\r\n");
  auto all = co_await client->read_until_close();
  BOOST_TEST(all.starts_with("HTTP/1.1 200 OK"));
  BOOST_TEST(all.ends_with("GET /old "));
}

TORNADO_GEN_TEST(malformed_request_line_gets_400, Fixture) {
  tornado::testing::ExpectLog expect(log::gen_log(), "Malformed HTTP message", true, log::Level::INFO);
  co_await client->write("this is not http\r\n\r\n");
  auto all = co_await client->read_until_close();
  BOOST_TEST(all.starts_with("HTTP/1.1 400 Bad Request"));
}

TORNADO_GEN_TEST(transfer_encoding_and_content_length_gets_400, Fixture) {
  tornado::testing::ExpectLog expect(log::gen_log(), "Malformed HTTP message", true, log::Level::INFO);
  co_await client->write("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
  auto all = co_await client->read_until_close();
  BOOST_TEST(all.starts_with("HTTP/1.1 400 Bad Request"));
}

TORNADO_GEN_TEST(unsupported_transfer_encoding_gets_400, Fixture) {
  tornado::testing::ExpectLog expect(log::gen_log(), "Malformed HTTP message", true, log::Level::INFO);
  co_await client->write("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  auto all = co_await client->read_until_close();
  BOOST_TEST(all.starts_with("HTTP/1.1 400 Bad Request"));
}

TORNADO_GEN_TEST(oversized_headers_get_431, SmallLimits) {
  tornado::testing::ExpectLog expect(log::gen_log(), "Malformed HTTP message", true, log::Level::INFO);
  co_await client->write("GET / HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  auto all = co_await client->read_until_close();
  BOOST_TEST(all.starts_with("HTTP/1.1 431 Request Header Fields Too Large"));
}

TORNADO_GEN_TEST(oversized_declared_body_gets_413, SmallLimits) {
  tornado::testing::ExpectLog expect(log::gen_log(), "Malformed HTTP message", true, log::Level::INFO);
  co_await client->write("POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
  auto all = co_await client->read_until_close();
  BOOST_TEST(all.starts_with("HTTP/1.1 413 Request Entity Too Large"));
}

TORNADO_GEN_TEST(oversized_chunked_body_closes, SmallLimits) {
  tornado::testing::ExpectLog expect(log::gen_log(), "Malformed HTTP message", true, log::Level::INFO);
  co_await client->write("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n" + std::string(512, 'b') + "\r\n0\r\n\r\n");
  auto all = co_await client->read_until_close();
  BOOST_TEST(all.empty());
}

// --- answers to pipelined requests ------------------------------------------------------------

namespace {
// An IOStream that counts the system calls that wrote something.
class CountingIOStream final : public IOStream {
 public:
  using IOStream::IOStream;
  int writes = 0;

 protected:
  std::size_t write_to_fd(const iostream::ConstBuffer* buffers, std::size_t count) override {
    std::size_t n = IOStream::write_to_fd(buffers, count);
    if (n) ++writes;
    return n;
  }
};

// Answers "ok /path" at once, except /slow, whose answer waits for `release`.
struct HoldingRequest final : httputil::HTTPMessageDelegate {
  httputil::HTTPConnection* conn;
  locks::Event* release;
  std::string path;
  HoldingRequest(httputil::HTTPConnection* c, locks::Event* r) : conn(c), release(r) {}
  std::optional<Future<void>> headers_received(const httputil::StartLine& sl, HTTPHeaders) override {
    path = std::get<httputil::RequestStartLine>(sl).path;
    return std::nullopt;
  }
  std::optional<Future<void>> data_received(std::string) override { return std::nullopt; }
  void finish() override {
    if (path == "/slow") {
      answer_later();
    } else {
      answer();
    }
  }
  void on_connection_close() override {}
  void answer() {
    std::string out = "ok " + path;
    HTTPHeaders h{{"Content-Length", std::to_string(out.size())}};
    (void)conn->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"}, h, out);
    conn->finish();
  }
  void answer_later() {
    [](HoldingRequest* self) -> Future<void> {
      co_await self->release->wait();
      self->answer();
    }(this);
  }
};

struct HoldingServer final : httputil::HTTPServerConnectionDelegate {
  locks::Event release;
  std::unique_ptr<httputil::HTTPMessageDelegate> start_request(const void*, httputil::HTTPConnection* c) override {
    return std::make_unique<HoldingRequest>(c, &release);
  }
};

struct PipelineFixture : AsyncTestCase {
  HoldingServer app;
  std::shared_ptr<IOStream> client;
  std::shared_ptr<CountingIOStream> server_stream;
  std::unique_ptr<HTTP1ServerConnection> server;
  PipelineFixture() {
    auto [c, s] = test_support::socket_pair();
    client = std::make_shared<IOStream>(c);
    server_stream = std::make_shared<CountingIOStream>(s);
    server = std::make_unique<HTTP1ServerConnection>(server_stream);
    (void)server->start_serving(app);
  }
  ~PipelineFixture() override {
    app.release.set();
    client->close();
    io_loop().run_sync([this] { return server->close(); }, 5.0);
    server.reset();
  }
  // Reads one answer and returns its body.
  Future<std::string> read_answer() {
    auto head = co_await client->read_until("\r\n\r\n");
    auto at = head.find("Content-Length: ");
    BOOST_REQUIRE(at != std::string::npos);
    co_return co_await client->read_bytes(std::stoul(head.substr(at + 16)));
  }
};
}  // namespace

TORNADO_GEN_TEST(pipelined_answers_leave_in_one_write, PipelineFixture) {
  co_await client->write("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n\r\n");
  for (int i = 1; i <= 4; ++i) BOOST_TEST((co_await read_answer()) == "ok /" + std::to_string(i));
  BOOST_TEST(server_stream->writes == 1);
  // A request on its own afterwards is answered at once, on its own.
  co_await client->write("GET /5 HTTP/1.1\r\n\r\n");
  BOOST_TEST((co_await read_answer()) == "ok /5");
  BOOST_TEST(server_stream->writes == 2);
}

TORNADO_GEN_TEST(held_answers_leave_when_the_next_request_is_incomplete, PipelineFixture) {
  // The answer to /1 is held while /2's bytes are buffered, and must leave when the server has to
  // wait for the rest of /2 (the client may be waiting for /1's answer before sending it).
  co_await client->write("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n");
  BOOST_TEST((co_await read_answer()) == "ok /1");
  co_await client->write("Host: x\r\n\r\n");
  BOOST_TEST((co_await read_answer()) == "ok /2");
}

TORNADO_GEN_TEST(held_answers_do_not_wait_for_a_slow_handler, PipelineFixture) {
  co_await client->write("GET /1 HTTP/1.1\r\n\r\nGET /slow HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
  // /slow's handler waits: /1's answer must not wait with it.
  BOOST_TEST((co_await read_answer()) == "ok /1");
  BOOST_TEST(!app.release.is_set());
  app.release.set();
  BOOST_TEST((co_await read_answer()) == "ok /slow");
  BOOST_TEST((co_await read_answer()) == "ok /3");
}

TORNADO_GEN_TEST(held_answers_leave_before_a_close, PipelineFixture) {
  // The last request closes the connection: every answer held back must still be sent.
  co_await client->write(
      "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\nConnection: close\r\n\r\n");
  auto all = co_await client->read_until_close();
  BOOST_TEST(all.find("ok /1") != std::string::npos);
  BOOST_TEST(all.find("ok /2") != std::string::npos);
  BOOST_TEST(all.ends_with("ok /3"));
  BOOST_TEST(server_stream->writes == 1);
}

TORNADO_GEN_TEST(endless_pipelining_does_not_starve_other_connections, AsyncTestCase) {
  // A batch of pipelined requests is answered in one go, but not without end: after a few dozen
  // the connection yields, and a request on another connection is answered in between.
  EchoServer app;
  auto [a_client, a_server] = make_pair();
  auto [b_client, b_server] = make_pair();
  HTTP1ServerConnection a(a_server), b(b_server);
  (void)a.start_serving(app);
  (void)b.start_serving(app);
  std::string many;
  for (int i = 1; i <= 100; ++i) many += "GET /a" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
  (void)a_client->write(std::move(many));
  (void)b_client->write("GET /b HTTP/1.1\r\n\r\n");
  co_await b_client->read_until("GET /b ");
  std::string last = "GET /a100 ";
  co_await a_client->read_until(last);
  auto at = [&](const std::string& entry) { return std::find(app.log.begin(), app.log.end(), entry) - app.log.begin(); };
  BOOST_TEST(at("GET /b ") < at(last));
  BOOST_TEST(at(last) < static_cast<long>(app.log.size()));
  a_client->close();
  b_client->close();
  co_await a.close();
  co_await b.close();
}

// --- client side ------------------------------------------------------------------------------

namespace {
struct Collect final : httputil::HTTPMessageDelegate {
  httputil::ResponseStartLine start;
  HTTPHeaders headers;
  std::string body;
  bool finished = false;
  std::optional<Future<void>> headers_received(const httputil::StartLine& sl, HTTPHeaders h) override {
    start = std::get<httputil::ResponseStartLine>(sl);
    headers = std::move(h);
    return std::nullopt;
  }
  std::optional<Future<void>> data_received(std::string chunk) override {
    body += chunk;
    return std::nullopt;
  }
  void finish() override { finished = true; }
  void on_connection_close() override {}
};
}  // namespace

TORNADO_GEN_TEST(client_reads_chunked_response, AsyncTestCase) {
  auto [a, b] = make_pair();
  HTTP1Connection conn(a, true);
  co_await conn.write_headers(httputil::RequestStartLine{"GET", "/", "HTTP/1.1"}, HTTPHeaders{{"Host", "x"}});
  conn.finish();
  auto req = co_await b->read_until("\r\n\r\n");
  BOOST_TEST(req.starts_with("GET / HTTP/1.1\r\n"));
  co_await b->write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  Collect c;
  bool keep = co_await conn.read_response(c);
  BOOST_TEST(keep);
  BOOST_TEST(c.start.code == 200);
  BOOST_TEST(c.body == "hello");
  BOOST_TEST(c.finished);
}

TORNADO_GEN_TEST(client_reads_body_until_close, AsyncTestCase) {
  auto [a, b] = make_pair();
  HTTP1Connection conn(a, true);
  co_await conn.write_headers(httputil::RequestStartLine{"GET", "/", "HTTP/1.1"}, HTTPHeaders{});
  conn.finish();
  co_await b->read_until("\r\n\r\n");
  co_await b->write("HTTP/1.0 200 OK\r\n\r\nuntil the end");
  b->close();
  Collect c;
  co_await conn.read_response(c);
  BOOST_TEST(c.body == "until the end");
  BOOST_TEST(c.finished);
}

// ================================================================================================
BOOST_AUTO_TEST_SUITE(HTTP1ConnectionTest)

namespace {
// A connected pair of IOStreams over loopback TCP: the test's asyncSetUp.
struct TCPPair : AsyncTestCase {
  std::shared_ptr<IOStream> server_stream;
  std::shared_ptr<IOStream> client_stream;
  TCPPair() {
    auto listener = tornado::testing::bind_unused_port();
    locks::Event event;
    auto stop = netutil::add_accept_handler(listener.fd, [&](int fd, netutil::SocketAddress) {
      server_stream = std::make_shared<IOStream>(fd);
      event.set();
    });
    client_stream = std::make_shared<IOStream>(::socket(AF_INET, SOCK_STREAM, 0));
    auto connect = [&]() -> Future<void> {
      co_await client_stream->connect(netutil::SocketAddress("127.0.0.1", static_cast<std::uint16_t>(listener.port)));
      co_await event.wait();
    };
    io_loop().run_sync(connect, 5.0);
    stop();
    ::close(listener.fd);
  }
  ~TCPPair() override {
    if (server_stream) server_stream->close();
    client_stream->close();
  }
};
}  // namespace

TORNADO_GEN_TEST(test_http10_no_content_length, TCPPair) {
  // Regression test (Tornado's) for can_keep_alive failing on an HTTP/1.0 response with no
  // Content-Length: the body runs until the connection closes.
  HTTP1Connection conn(client_stream, true);
  (void)server_stream->write("HTTP/1.0 200 Not Modified\r\n\r\nhello");
  server_stream->close();

  Collect delegate;
  co_await conn.read_response(delegate);
  BOOST_TEST(delegate.finished);
  BOOST_TEST(delegate.start.code == 200);
  BOOST_TEST(delegate.start.reason == "Not Modified");
  BOOST_TEST(delegate.body == "hello");
  BOOST_TEST(client_stream->closed());
}

BOOST_AUTO_TEST_SUITE_END()
