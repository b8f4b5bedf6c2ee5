// Conformance of tornado.httpserver + tornado.http1connection on real loopback sockets, driven by
// raw IOStream clients. Ported by name from Python Tornado's tornado/test/httpserver_test.py
// (6.2, plus the request-smuggling cases Tornado added in 6.3-6.5: invalid chunk sizes, duplicate
// and unsupported Transfer-Encoding, Transfer-Encoding with Content-Length, whitespace in Host,
// strict Content-Length, invalid methods).
//
// Not ported, and why:
//  - SSLv3Test, TLSv1Test: they pin an old protocol version; OpenSSL 3 is built without SSLv3 and
//    refuses TLS 1.0 at its default security level, and SSLContext has no version pinning.
//    SSLTestMixin's four cases run on SSLv23Test (a negotiating context, what SSLContext is) and
//    SSLContextTest (a context from ssl_options_to_context).
//  - HTTPServerTest.test_types: it checks the Python types (str or bytes) of the request's fields;
//    in C++ they are fixed by their declarations.
//  - HTTPConnectionTest.test_newlines with bare LF: Beast's parser requires CRLF line endings
//    (RFC 9112 allows, but does not require, accepting bare LF); the CRLF half is ported.
// Adapted:
//  - HTTPServerTest.test_post_encodings: Python's handlers decode the argument as UTF-8 or GBK
//    (RequestHandler.decode_argument, tornado.web); here the test checks that the server hands the
//    application the bytes sent, percent-encoded or raw, for both encodings.
//  - BadSSLOptionsTest: Python passes an ssl_options dict to HTTPServer; here the same files go
//    through ssl_options_to_context and HTTPServer, and either may be the one that throws.
// The earlier suites write their requests by hand (they were ported before tornado.httpclient
// existed); the later ones (SSL*, BadSSLOptionsTest, HTTPServerTest, ManualProtocolTest,
// GzipUnsupportedTest, LegacyInterfaceTest) fetch with AsyncHTTPClient as Python does.
// The server answers malformed requests with "HTTP/1.1 <code> <reason>" plus Content-Length: 0
// and Connection: close (Python sends the bare status line); the tests check the status line and
// that the connection closes.
#define BOOST_TEST_MODULE httpserver_conformance
#include <tornado/testing.hpp>

#include "../support/support.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

import tornado.httpserver;
import tornado.httpclient;
import tornado.http1connection;
import tornado.httputil;
import tornado.iostream;
import tornado.netutil;
import tornado.gen;
import tornado.ioloop;
import tornado.locks;
import tornado.log;
import tornado.concurrent;

using namespace tornado;
using namespace std::string_view_literals;
using httpserver::HTTPServer;
using httpserver::HTTPServerOptions;
using tornado::testing::AsyncTestCase;
using tornado::testing::ExpectLog;

namespace {

// gzip (mtime 0) of "foo=bar", of StreamingChunkSizeTest.BODY, and of 10240 "a"s.
constexpr std::string_view kGzipFooBar =
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff\x4b\xcb\xcf\xb7\x4d\x4a\x2c\x02\x00\x76\x8e\x35\x1c\x07\x00\x00\x00"sv;
constexpr std::string_view kStreamingBody = "01234567890123456789012345678901234567890123456789";
constexpr std::string_view kGzipStreamingBody =
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff\x33\x30\x34\x32\x36\x31\x35\x33\xb7\xb0\x34\x20\x92\x05\x00\x54\xf5"
    "\xa7\xc7\x32\x00\x00\x00"sv;
constexpr std::string_view kGzip10KiB =
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff\xed\xc1\x01\x0d\x00\x00\x00\xc2\xa0\xac\xef\x5f\xc2\x1c\x6e\x40\x01"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x6f\x06\xd3\x40\xd4\x5f\x00\x28\x00\x00"sv;

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return r;
}

// A response as read by the crude client below.
struct Response {
  std::string version;
  int code = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(std::string_view name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
  }
  bool has(std::string_view name) const { return headers.contains(lower(name)); }
};

// Parses "HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\n".
Response parse_head(std::string_view head) {
  Response r;
  auto eol = head.find("\r\n");
  std::string_view first = head.substr(0, eol);
  auto sp1 = first.find(' ');
  r.version = std::string(first.substr(0, sp1));
  auto rest = first.substr(sp1 + 1);
  auto sp2 = rest.find(' ');
  r.code = std::atoi(std::string(rest.substr(0, sp2)).c_str());
  if (sp2 != std::string_view::npos) r.reason = std::string(rest.substr(sp2 + 1));
  std::size_t pos = eol + 2;
  while (pos < head.size()) {
    auto e = head.find("\r\n", pos);
    if (e == std::string_view::npos || e == pos) break;
    auto line = head.substr(pos, e - pos);
    auto colon = line.find(':');
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    r.headers[lower(line.substr(0, colon))] = std::string(v);
    pos = e + 2;
  }
  return r;
}

// Reads one response: head, then a body framed by Content-Length, chunked encoding or the end of
// the connection (none for HEAD, 1xx, 204, 304). Mirrors the tests' read_stream_body.
Future<Response> read_response(iostream::IOStream& s, bool head_request = false) {
  auto head = co_await s.read_until("\r\n\r\n");
  Response r = parse_head(head);
  if (head_request || r.code / 100 == 1 || r.code == 204 || r.code == 304) co_return r;
  if (r.has("Content-Length")) {
    r.body = co_await s.read_bytes(std::stoul(r.header("Content-Length")));
  } else if (lower(r.header("Transfer-Encoding")) == "chunked") {
    for (;;) {
      auto line = co_await s.read_until("\r\n");
      std::size_t n = std::stoul(line, nullptr, 16);
      if (n == 0) {
        co_await s.read_until("\r\n");
        break;
      }
      auto data = co_await s.read_bytes(n + 2);
      r.body += data.substr(0, n);
    }
  } else {
    r.body = co_await s.read_until_close();
  }
  co_return r;
}

// Reads what is left until the server closes (a closed stream reads as its buffered data).
Future<std::string> read_to_close(iostream::IOStream& s) {
  try {
    co_return co_await s.read_until_close();
  } catch (const iostream::StreamClosedError&) {
    co_return std::string();
  }
}

std::string json_arguments(const httputil::Arguments& args) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, vs] : args) {
    if (!first) out += ", ";
    first = false;
    out += "\"" + k + "\": [";
    for (std::size_t i = 0; i < vs.size(); ++i) out += (i ? ", \"" : "\"") + vs[i] + "\"";
    out += "]";
  }
  return out + "}";
}

void respond(httputil::HTTPConnection& conn, int code, std::string_view body, httputil::HTTPHeaders headers = {}) {
  headers.set("Content-Length", std::to_string(body.size()));
  (void)conn.write_headers(httputil::ResponseStartLine{"HTTP/1.1", code, std::string(httputil::responses(code))},
                           headers, body);
  conn.finish();
}

// The application: one delegate per request, dispatching on the path like the Python tests'
// handlers. Bodies are buffered except on /streaming and /chunk_sizes, which count them.
struct App;
struct Handler final : httputil::HTTPMessageDelegate {
  App& app;
  http1connection::HTTP1Connection* conn;
  std::optional<httputil::HTTPServerRequest> request;
  std::string body;
  std::size_t bytes_read = 0;
  std::vector<std::size_t> chunk_lengths;
  bool streaming = false;

  Handler(App& a, httputil::HTTPConnection* c) : app(a), conn(static_cast<http1connection::HTTP1Connection*>(c)) {}
  std::optional<Future<void>> headers_received(const httputil::StartLine& start_line,
                                               httputil::HTTPHeaders headers) override {
    request.emplace(std::get<httputil::RequestStartLine>(start_line), std::move(headers), conn);
    streaming = request->path == "/streaming" || request->path == "/chunk_sizes";
    if (request->path == "/streaming") {
      // BodyLimitsTest.StreamingHandler.prepare.
      if (auto it = request->arguments.find("expected_size"); it != request->arguments.end())
        conn->set_max_body_size(std::stoul(it->second.front()));
      if (auto it = request->arguments.find("body_timeout"); it != request->arguments.end())
        conn->set_body_timeout(std::stod(it->second.front()));
    }
    return std::nullopt;
  }
  std::optional<Future<void>> data_received(std::string chunk) override {
    bytes_read += chunk.size();
    chunk_lengths.push_back(chunk.size());
    if (!streaming) body += chunk;
    return std::nullopt;
  }
  void finish() override;
  void on_connection_close() override {}
};

struct App final : httputil::HTTPServerConnectionDelegate {
  std::size_t requests = 0;
  std::unique_ptr<httputil::HTTPMessageDelegate> start_request(const void*, httputil::HTTPConnection* c) override {
    return std::make_unique<Handler>(*this, c);
  }
  void on_close(const void*) override {}
};

void Handler::finish() {
  ++app.requests;
  auto& r = *request;
  r.body = std::move(body);
  try {
    r.parse_body();
  } catch (const httputil::HTTPInputError& e) {
    // As RequestHandler._execute does: a body that cannot be parsed is the client's error.
    log::gen_log().warning("400 {} {} ({}): Invalid body: {}", r.method, r.uri, r.remote_ip, e.what());
    respond(*conn, 400, "");
    return;
  }
  const std::string& p = r.path;
  if (p == "/echo" || p == "//doubleslash") {
    respond(*conn, 200, json_arguments(r.arguments));
  } else if (p == "/post_utf8" || p == "/post_gbk") {
    // HTTPServerTest's PostEchoHandler, without RequestHandler's charset decoding: the argument's
    // bytes as the server parsed them.
    auto it = r.arguments.find("data");
    respond(*conn, it == r.arguments.end() ? 400 : 200, it == r.arguments.end() ? "" : it->second.front());
  } else if (p == "/" || p == "/hello") {
    if (r.method == "POST" && p == "/hello") {
      respond(*conn, 200, "Got " + std::to_string(r.body.size()) + " bytes in POST");
    } else {
      respond(*conn, 200, "Hello world");
    }
  } else if (p == "/large") {
    std::string big;
    big.reserve(512 * 1024);
    for (int i = 0; i < 512; ++i) big.append(1024, static_cast<char>(i % 256));
    respond(*conn, 200, big);
  } else if (p == "/chunked") {
    // KeepAliveTest.TransferEncodingChunkedHandler: a HEAD answered without Content-Length, the
    // body dropped as RequestHandler.flush drops it for HEAD.
    (void)conn->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"}, httputil::HTTPHeaders{});
    conn->finish();
  } else if (p == "/finish_on_close") {
    // KeepAliveTest.FinishOnCloseHandler: flush the headers, then finish from the close callback.
    (void)conn->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"}, httputil::HTTPHeaders{});
    auto* c = conn;
    conn->set_close_callback([c] {
      (void)c->write("closed");
      c->finish();
    });
  } else if (p == "/multipart") {
    // HTTPConnectionTest's MultipartTestHandler, with '|' between the fields instead of JSON.
    auto file = r.files.find("files");
    std::string out = r.headers.get("X-Header-encoding-test", std::string()) + "|" +
                      (r.arguments.contains("argument") ? r.arguments.at("argument").front() : std::string()) + "|" +
                      (file != r.files.end() ? file->second.front().filename + "|" + file->second.front().body
                                             : std::string("|"));
    respond(*conn, 200, out);
  } else if (p == "/xheaders") {
    respond(*conn, 200, r.remote_ip + " " + r.protocol);
  } else if (p == "/buffered" || p == "/streaming") {
    respond(*conn, 200, std::to_string(p == "/buffered" ? r.body.size() : bytes_read));
  } else if (p == "/chunk_sizes") {
    std::string out;
    for (auto n : chunk_lengths) out += (out.empty() ? "" : ",") + std::to_string(n);
    respond(*conn, 200, out);
  } else {
    respond(*conn, 404, "");
  }
}

struct ServerTest : AsyncTestCase {
  App app;
  std::unique_ptr<HTTPServer> server;
  int port = 0;
  std::vector<std::shared_ptr<iostream::IOStream>> streams;

  explicit ServerTest(HTTPServerOptions options = {}) {
    server = std::make_unique<HTTPServer>(app, std::move(options));
    port = test_support::listen_on_unused_port(*server);
  }
  ~ServerTest() override {
    for (auto& s : streams) s->close();
    test_support::shut_down(*server, io_loop());
  }
  Future<std::shared_ptr<iostream::IOStream>> connect() {
    std::shared_ptr<iostream::IOStream> stream = co_await test_support::connect_local(port);
    streams.push_back(stream);
    co_return stream;
  }
  // One request on a fresh connection; the response read back.
  Future<Response> fetch(std::string raw, bool head_request = false) {
    auto s = co_await connect();
    co_await s->write(std::move(raw));
    co_return co_await read_response(*s, head_request);
  }
};

// A request with a body and its Content-Length.
std::string request_with_body(std::string start_and_headers, std::string_view body) {
  return start_and_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// A body sent as chunks of these sizes (as SimpleAsyncHTTPClient's body_producer sends it).
std::string chunked_request(std::string start_and_headers, const std::vector<std::string_view>& chunks) {
  std::string out = start_and_headers + "Transfer-Encoding: chunked\r\n\r\n";
  for (auto c : chunks) {
    char hex[20];
    std::snprintf(hex, sizeof hex, "%zx\r\n", c.size());
    out += hex;
    out += c;
    out += "\r\n";
  }
  return out + "0\r\n\r\n";
}

// Sends `raw` on a new connection and expects "<code> <reason>", then the connection closing.
Future<void> expect_rejected(ServerTest& t, std::string raw, int code = 400) {
  auto s = co_await t.connect();
  co_await s->write(std::move(raw));
  auto head = co_await s->read_until("\r\n");
  std::string expected = "HTTP/1.1 " + std::to_string(code) + " " + std::string(httputil::responses(code)) + "\r\n";
  BOOST_TEST(head == expected);
  (void)co_await read_to_close(*s);
  BOOST_TEST(s->closed());
}

}  // namespace

// ================================================================================================
BOOST_AUTO_TEST_SUITE(HTTPServerRawTest)

TORNADO_GEN_TEST(test_empty_request, ServerTest) {
  auto s = co_await connect();
  s->close();
  co_await gen::sleep(0.01);
  // The server shrugged it off: the next connection is served.
  auto r = co_await fetch("GET / HTTP/1.1\r\n\r\n");
  BOOST_TEST(r.body == "Hello world");
  BOOST_TEST(server->connection_count() == 1u);
}

TORNADO_GEN_TEST(test_malformed_first_line_response, ServerTest) {
  ExpectLog expect(log::gen_log(), ".*Malformed HTTP message", true, log::Level::INFO);
  auto s = co_await connect();
  co_await s->write("asdf\r\n\r\n");
  auto r = co_await read_response(*s);
  BOOST_TEST(r.version == "HTTP/1.1");
  BOOST_TEST(r.code == 400);
  BOOST_TEST(r.reason == "Bad Request");
}

TORNADO_GEN_TEST(test_malformed_first_line_log, ServerTest) {
  ExpectLog expect(log::gen_log(), ".*Malformed HTTP message", true, log::Level::INFO);
  co_await expect_rejected(*this, "asdf\r\n\r\n");
}

TORNADO_GEN_TEST(test_malformed_headers, ServerTest) {
  ExpectLog expect(log::gen_log(), ".*Malformed HTTP message", true, log::Level::INFO);
  co_await expect_rejected(*this, "GET / HTTP/1.0\r\nasdf\r\n\r\n");
}

TORNADO_GEN_TEST(test_invalid_host_header_with_whitespace, ServerTest) {
  ExpectLog expect(log::gen_log(), ".*Malformed HTTP message.*Invalid Host header", true, log::Level::INFO);
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.0\r\nHost: foo bar\r\n\r\n");
  auto r = co_await read_response(*s);
  BOOST_TEST(r.version == "HTTP/1.1");
  BOOST_TEST(r.code == 400);
  BOOST_TEST(r.reason == "Bad Request");
}

TORNADO_GEN_TEST(test_chunked_request_body, ServerTest) {
  auto r = co_await fetch(
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
      "4\r\nfoo=\r\n3\r\nbar\r\n0\r\n\r\n");
  BOOST_TEST(r.body == R"({"foo": ["bar"]})");
}

TORNADO_GEN_TEST(test_chunked_request_uppercase, ServerTest) {
  auto r = co_await fetch(
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
      "4\r\nfoo=\r\n3\r\nbar\r\n0\r\n\r\n");
  BOOST_TEST(r.body == R"({"foo": ["bar"]})");
}

TORNADO_GEN_TEST(test_chunked_request_body_invalid_size, ServerTest) {
  // Only hex digits: not Python int()'s underscores, signs or spaces.
  for (std::string size : {"1_a", "+a", "-1", "0x1a", " 1a", "g"}) {
    ExpectLog expect(log::gen_log(), ".*Malformed HTTP message", true, log::Level::INFO);
    co_await expect_rejected(*this, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + size +
                                        "\r\n1234567890abcdef1234567890\r\n0\r\n\r\n");
  }
}

TORNADO_GEN_TEST(test_chunked_request_body_duplicate_header, ServerTest) {
  ExpectLog expect(log::gen_log(), ".*Malformed HTTP message", true, log::Level::INFO);
  co_await expect_rejected(*this,
                           "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-encoding: chunked\r\n\r\n"
                           "2\r\nok\r\n0\r\n\r\n");
}

TORNADO_GEN_TEST(test_chunked_request_body_unsupported_transfer_encoding, ServerTest) {
  for (std::string te : {"gzip, chunked", "chunked, chunked", "identity", "gzip"}) {
    ExpectLog expect(log::gen_log(), ".*Malformed HTTP message.*Unsupported Transfer-Encoding", true, log::Level::INFO);
    co_await expect_rejected(*this, "POST /echo HTTP/1.1\r\nTransfer-Encoding: " + te + "\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  }
}

TORNADO_GEN_TEST(test_chunked_request_body_transfer_encoding_and_content_length, ServerTest) {
  ExpectLog expect(log::gen_log(), ".*Malformed HTTP message", true, log::Level::INFO);
  co_await expect_rejected(*this,
                           "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"
                           "2\r\nok\r\n0\r\n\r\n");
}

TORNADO_GEN_TEST(test_invalid_content_length, ServerTest) {
  // Decimal digits only: no Python int() leniency (sign, underscore), no lists, no spaces inside.
  for (std::string cl : {"foo", "+10", "1_0", "-1", "1 0", "10, 11", "0x10", "99999999999999999999999", ""}) {
    BOOST_TEST_CONTEXT("Content-Length: " << cl) {
      ExpectLog expect(log::gen_log(), ".*Malformed HTTP message", true, log::Level::INFO);
      co_await expect_rejected(*this, "POST /echo HTTP/1.1\r\nContent-Length: " + cl +
                                          "\r\nConnection: close\r\n\r\n1234567890\r\n");
    }
  }
}

TORNADO_GEN_TEST(test_content_length_equal_list, ServerTest) {
  // RFC 9112 6.3 (and Tornado 6.3+): a list of identical values is one value.
  auto r = co_await fetch(
      "POST /echo HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7, 7\r\n\r\nfoo=bar");
  BOOST_TEST(r.body == R"({"foo": ["bar"]})");
}

TORNADO_GEN_TEST(test_invalid_methods, ServerTest) {
  // A method must be an RFC 9110 token; anything else is a malformed request line: 400 and close.
  for (std::string line : std::initializer_list<std::string>{"GE(T / HTTP/1.1", "GE T / HTTP/1.1", std::string("G\0T / HTTP/1.1", 14),
                           "G\x7fT / HTTP/1.1", "GET\t/ HTTP/1.1", "\"GET\" / HTTP/1.1", " / HTTP/1.1",
                           "G\xc3\xa9T / HTTP/1.1", "GET / HTTP/2.0", "GET / HTTP/1.1 extra", "GET  / HTTP/1.1"}) {
    ExpectLog expect(log::gen_log(), ".*Malformed HTTP message", true, log::Level::INFO);
    co_await expect_rejected(*this, line + "\r\n\r\n");
  }
  // Unknown but well-formed methods reach the application (Tornado answers 405 in RequestHandler).
  auto r = co_await fetch("PROPFIND / HTTP/1.1\r\n\r\n");
  BOOST_TEST(r.body == "Hello world");
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(KeepAliveTest)

namespace {
Future<Response> read_hello(iostream::IOStream& s, bool head_request = false) {
  auto r = co_await read_response(s, head_request);
  BOOST_TEST(r.code == 200);
  if (!head_request) BOOST_TEST(r.body == "Hello world");
  co_return r;
}
}  // namespace

TORNADO_GEN_TEST(test_two_requests, ServerTest) {
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.1\r\n\r\n");
  co_await read_hello(*s);
  co_await s->write("GET / HTTP/1.1\r\n\r\n");
  co_await read_hello(*s);
  BOOST_TEST(app.requests == 2u);
  BOOST_TEST(server->connection_count() == 1u);
}

TORNADO_GEN_TEST(test_request_close, ServerTest) {
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  auto r = co_await read_hello(*s);
  BOOST_TEST((co_await read_to_close(*s)).empty());
  BOOST_TEST(r.header("Connection") == "close");
}

TORNADO_GEN_TEST(test_http10, ServerTest) {
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.0\r\n\r\n");
  auto r = co_await read_hello(*s);
  BOOST_TEST((co_await read_to_close(*s)).empty());
  BOOST_TEST(!r.has("Connection"));
}

TORNADO_GEN_TEST(test_http10_keepalive, ServerTest) {
  auto s = co_await connect();
  for (int i = 0; i < 2; ++i) {
    co_await s->write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = co_await read_hello(*s);
    BOOST_TEST(r.header("Connection") == "Keep-Alive");
  }
}

TORNADO_GEN_TEST(test_http10_keepalive_extra_crlf, ServerTest) {
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\r\n");
  auto r = co_await read_hello(*s);
  BOOST_TEST(r.header("Connection") == "Keep-Alive");
  co_await s->write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  r = co_await read_hello(*s);
  BOOST_TEST(r.header("Connection") == "Keep-Alive");
}

TORNADO_GEN_TEST(test_pipelined_requests, ServerTest) {
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
  co_await read_hello(*s);
  co_await read_hello(*s);
  BOOST_TEST(app.requests == 2u);
}

TORNADO_GEN_TEST(test_pipelined_cancel, ServerTest) {
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
  co_await read_hello(*s);
  s->close();
  co_await gen::sleep(0.05);
  // The server dropped the connection without trouble and still serves.
  BOOST_TEST(server->connection_count() == 0u);
  co_await fetch("GET / HTTP/1.1\r\n\r\n");
}

TORNADO_GEN_TEST(test_cancel_during_download, ServerTest) {
  auto s = co_await connect();
  co_await s->write("GET /large HTTP/1.1\r\n\r\n");
  auto head = co_await s->read_until("\r\n\r\n");
  BOOST_TEST(head.starts_with("HTTP/1.1 200"));
  co_await s->read_bytes(1024);
  s->close();
  for (int i = 0; i < 100 && server->connection_count() != 0; ++i) co_await gen::sleep(0.01);
  BOOST_TEST(server->connection_count() == 0u);
  co_await fetch("GET / HTTP/1.1\r\n\r\n");
}

TORNADO_GEN_TEST(test_finish_while_closed, ServerTest) {
  auto s = co_await connect();
  co_await s->write("GET /finish_on_close HTTP/1.1\r\n\r\n");
  auto head = co_await s->read_until("\r\n\r\n");
  BOOST_TEST(head.starts_with("HTTP/1.1 200"));
  s->close();
  for (int i = 0; i < 100 && server->connection_count() != 0; ++i) co_await gen::sleep(0.01);
  BOOST_TEST(server->connection_count() == 0u);
  co_await fetch("GET / HTTP/1.1\r\n\r\n");
}

TORNADO_GEN_TEST(test_keepalive_chunked, ServerTest) {
  auto s = co_await connect();
  co_await s->write(
      "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n");
  auto r = co_await read_hello(*s);
  BOOST_TEST(r.header("Connection") == "Keep-Alive");
  co_await s->write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  r = co_await read_hello(*s);
  BOOST_TEST(r.header("Connection") == "Keep-Alive");
}

TORNADO_GEN_TEST(test_keepalive_chunked_head_no_body, ServerTest) {
  auto s = co_await connect();
  for (int i = 0; i < 2; ++i) {
    co_await s->write("HEAD /chunked HTTP/1.1\r\n\r\n");
    auto r = co_await read_hello(*s, true);
    // No chunked framing on a HEAD response, or the next response would start with "0\r\n".
    BOOST_TEST(!r.has("Transfer-Encoding"));
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(BodyLimitsTest)

namespace {
struct BodyLimitsServer : ServerTest {
  BodyLimitsServer() : ServerTest(HTTPServerOptions{.body_timeout = 3600.0, .max_body_size = 4096}) {}
};
const std::string k4KiB(4096, 'a');
const std::string k10KiB(10240, 'a');
}  // namespace

TORNADO_GEN_TEST(test_small_body, BodyLimitsServer) {
  auto r = co_await fetch(request_with_body("PUT /buffered HTTP/1.1\r\n", k4KiB));
  BOOST_TEST(r.body == "4096");
  r = co_await fetch(request_with_body("PUT /streaming HTTP/1.1\r\n", k4KiB));
  BOOST_TEST(r.body == "4096");
}

TORNADO_GEN_TEST(test_large_body_buffered, BodyLimitsServer) {
  // Python answers 400 here; we answer 413 Content Too Large (RFC 9110 15.5.14), and close.
  ExpectLog expect(log::gen_log(), ".*Content-Length too long", true, log::Level::INFO);
  co_await expect_rejected(*this, request_with_body("PUT /buffered HTTP/1.1\r\n", k10KiB), 413);
}

TORNADO_GEN_TEST(test_large_body_buffered_chunked, BodyLimitsServer) {
  // The limit is found mid-body: the connection is closed without an answer.
  ExpectLog expect(log::gen_log(), ".*chunked body too large", true, log::Level::INFO);
  auto s = co_await connect();
  co_await s->write(chunked_request("PUT /buffered HTTP/1.1\r\n", {k10KiB}));
  BOOST_TEST((co_await read_to_close(*s)).empty());
  BOOST_TEST(app.requests == 0u);
}

TORNADO_GEN_TEST(test_large_body_streaming, BodyLimitsServer) {
  ExpectLog expect(log::gen_log(), ".*Content-Length too long", true, log::Level::INFO);
  co_await expect_rejected(*this, request_with_body("PUT /streaming HTTP/1.1\r\n", k10KiB), 413);
}

TORNADO_GEN_TEST(test_large_body_streaming_chunked, BodyLimitsServer) {
  ExpectLog expect(log::gen_log(), ".*chunked body too large", true, log::Level::INFO);
  auto s = co_await connect();
  co_await s->write(chunked_request("PUT /streaming HTTP/1.1\r\n", {k10KiB}));
  BOOST_TEST((co_await read_to_close(*s)).empty());
  BOOST_TEST(app.requests == 0u);
}

TORNADO_GEN_TEST(test_large_body_streaming_override, BodyLimitsServer) {
  auto r = co_await fetch(request_with_body("PUT /streaming?expected_size=10240 HTTP/1.1\r\n", k10KiB));
  BOOST_TEST(r.body == "10240");
}

TORNADO_GEN_TEST(test_large_body_streaming_chunked_override, BodyLimitsServer) {
  auto r = co_await fetch(chunked_request("PUT /streaming?expected_size=10240 HTTP/1.1\r\n", {k10KiB}));
  BOOST_TEST(r.body == "10240");
}

TORNADO_GEN_TEST(test_timeout, BodyLimitsServer) {
  ExpectLog expect(log::gen_log(), "Timeout reading body", true, log::Level::INFO);
  auto s = co_await connect();
  co_await s->write("PUT /streaming?body_timeout=0.1 HTTP/1.0\r\nContent-Length: 42\r\n\r\n");
  BOOST_TEST((co_await read_to_close(*s)).empty());
}

TORNADO_GEN_TEST(test_body_size_override_reset, BodyLimitsServer) {
  auto s = co_await connect();
  co_await s->write(request_with_body("PUT /streaming?expected_size=10240 HTTP/1.1\r\n", k10KiB));
  auto r = co_await read_response(*s);
  BOOST_TEST(r.body == "10240");
  // Without ?expected_size the server's limit is back.
  ExpectLog expect(log::gen_log(), ".*Content-Length too long", true, log::Level::INFO);
  co_await s->write("PUT /streaming HTTP/1.1\r\nContent-Length: 10240\r\n\r\n");
  auto data = co_await read_to_close(*s);
  BOOST_TEST(data.starts_with("HTTP/1.1 413 "));
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(HTTPConnectionTest)

TORNADO_GEN_TEST(test_multipart_form, ServerTest) {
  // Headers are bytes (latin-1 on the wire), bodies UTF-8.
  std::string body =
      "Content-Disposition: form-data; name=argument\r\n\r\n"
      "\xc3\xa1\r\n"
      "--1234567890\r\n"
      "Content-Disposition: form-data; name=\"files\"; filename=\"\xc3\xb3\"\r\n\r\n"
      "\xc3\xba\r\n"
      "--1234567890--\r\n";
  auto r = co_await fetch(request_with_body(
      "POST /multipart HTTP/1.0\r\nContent-Type: multipart/form-data; boundary=1234567890\r\n"
      "X-Header-encoding-test: \xe9\r\n",
      body));
  BOOST_TEST(r.body == "\xe9|\xc3\xa1|\xc3\xb3|\xc3\xba");
}

TORNADO_GEN_TEST(test_newlines, ServerTest) {
  auto r = co_await fetch(request_with_body("GET /hello HTTP/1.0\r\n", ""));
  BOOST_TEST(r.body == "Hello world");
}

TORNADO_GEN_TEST(test_100_continue, ServerTest) {
  auto s = co_await connect();
  co_await s->write("POST /hello HTTP/1.1\r\nContent-Length: 1024\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
  auto data = co_await s->read_until("\r\n\r\n");
  BOOST_TEST(data.starts_with("HTTP/1.1 100 "));
  co_await s->write(std::string(1024, 'a'));
  auto r = co_await read_response(*s);
  BOOST_TEST(r.code == 200);
  BOOST_TEST(r.body == "Got 1024 bytes in POST");
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(XHeaderTest)

namespace {
struct XHeaderServer : ServerTest {
  XHeaderServer() : ServerTest(HTTPServerOptions{.xheaders = true, .trusted_downstream = {"5.5.5.5"}}) {}
  Future<std::string> fetch_x(std::string header) {
    auto r = co_await fetch("GET /xheaders HTTP/1.1\r\n" + header + (header.empty() ? "" : "\r\n") + "\r\n");
    co_return r.body;
  }
};
}  // namespace

TORNADO_GEN_TEST(test_ip_headers, XHeaderServer) {
  BOOST_TEST((co_await fetch_x("")) == "127.0.0.1 http");
  BOOST_TEST((co_await fetch_x("X-Real-IP: 4.4.4.4")) == "4.4.4.4 http");
  BOOST_TEST((co_await fetch_x("X-Forwarded-For: 127.0.0.1, 4.4.4.4")) == "4.4.4.4 http");
  BOOST_TEST((co_await fetch_x("X-Real-IP: 2620:0:1cfe:face:b00c::3")) == "2620:0:1cfe:face:b00c::3 http");
  BOOST_TEST((co_await fetch_x("X-Forwarded-For: ::1, 2620:0:1cfe:face:b00c::3")) == "2620:0:1cfe:face:b00c::3 http");
  BOOST_TEST((co_await fetch_x("X-Real-IP: 4.4.4.4<script>")) == "127.0.0.1 http");
  BOOST_TEST((co_await fetch_x("X-Forwarded-For: 4.4.4.4, 5.5.5.5<script>")) == "127.0.0.1 http");
  BOOST_TEST((co_await fetch_x("X-Real-IP: www.google.com")) == "127.0.0.1 http");
}

TORNADO_GEN_TEST(test_trusted_downstream, XHeaderServer) {
  BOOST_TEST((co_await fetch_x("X-Forwarded-For: 127.0.0.1, 4.4.4.4, 5.5.5.5")) == "4.4.4.4 http");
}

TORNADO_GEN_TEST(test_scheme_headers, XHeaderServer) {
  BOOST_TEST((co_await fetch_x("")) == "127.0.0.1 http");
  BOOST_TEST((co_await fetch_x("X-Scheme: https")) == "127.0.0.1 https");
  BOOST_TEST((co_await fetch_x("X-Forwarded-Proto: https")) == "127.0.0.1 https");
  BOOST_TEST((co_await fetch_x("X-Forwarded-Proto: https , http")) == "127.0.0.1 http");
  BOOST_TEST((co_await fetch_x("X-Forwarded-Proto: http,https")) == "127.0.0.1 https");
  BOOST_TEST((co_await fetch_x("X-Forwarded-Proto: unknown")) == "127.0.0.1 http");
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(MaxHeaderSizeTest)

namespace {
struct MaxHeaderServer : ServerTest {
  MaxHeaderServer() : ServerTest(HTTPServerOptions{.max_header_size = 1024}) {}
};
}  // namespace

TORNADO_GEN_TEST(test_small_headers, MaxHeaderServer) {
  auto r = co_await fetch("GET / HTTP/1.1\r\nX-Filler: " + std::string(100, 'a') + "\r\n\r\n");
  BOOST_TEST(r.body == "Hello world");
}

TORNADO_GEN_TEST(test_large_headers, MaxHeaderServer) {
  // 431 Request Header Fields Too Large (RFC 6585), then the connection closes.
  ExpectLog expect(log::gen_log(), ".*Malformed HTTP message", true, log::Level::INFO);
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.1\r\nX-Filler: " + std::string(1000, 'a') + "\r\n\r\n");
  auto data = co_await read_to_close(*s);
  BOOST_TEST(data.starts_with("HTTP/1.1 431 "));
  BOOST_TEST(app.requests == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(IdleTimeoutTest)

namespace {
struct IdleServer : ServerTest {
  IdleServer() : ServerTest(HTTPServerOptions{.idle_connection_timeout = 0.1}) {}
};
}  // namespace

TORNADO_GEN_TEST(test_unused_connection, IdleServer) {
  auto s = co_await connect();
  locks::Event event;
  s->set_close_callback([&event] { event.set(); });
  co_await event.wait();
  // The server's side ends on its next loop iterations.
  for (int i = 0; i < 100 && server->connection_count() != 0; ++i) co_await gen::sleep(0.01);
  BOOST_TEST(server->connection_count() == 0u);
}

TORNADO_GEN_TEST(test_idle_after_use, IdleServer) {
  auto s = co_await connect();
  locks::Event event;
  s->set_close_callback([&event] { event.set(); });
  for (int i = 0; i < 2; ++i) {
    co_await s->write("GET / HTTP/1.1\r\n\r\n");
    co_await s->read_until("\r\n\r\n");
    BOOST_TEST((co_await s->read_bytes(11)) == "Hello world");
  }
  BOOST_TEST(!event.is_set());
  co_await event.wait();
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(UnixSocketTest)

namespace {
struct UnixSocketServer : AsyncTestCase {
  App app;
  std::string dir;
  std::string sockfile;
  std::unique_ptr<HTTPServer> server;
  std::unique_ptr<iostream::IOStream> stream;
  UnixSocketServer() {
    char tmpl[] = "/tmp/tornado-httpconf-XXXXXX";
    dir = ::mkdtemp(tmpl);
    sockfile = dir + "/test.sock";
    int sock = netutil::bind_unix_socket(sockfile);
    server = std::make_unique<HTTPServer>(app);
    server->add_socket(sock);
    stream = std::make_unique<iostream::IOStream>(::socket(AF_UNIX, SOCK_STREAM, 0));
    io_loop().run_sync([this] { return stream->connect(netutil::SocketAddress::unix_path(sockfile)); }, 5.0);
  }
  ~UnixSocketServer() override {
    stream->close();
    io_loop().run_sync([this] { return server->close_all_connections(); }, 5.0);
    server->stop();
    ::unlink(sockfile.c_str());
    ::rmdir(dir.c_str());
  }
};
}  // namespace

TORNADO_GEN_TEST(test_unix_socket, UnixSocketServer) {
  co_await stream->write("GET /hello HTTP/1.0\r\n\r\n");
  BOOST_TEST((co_await stream->read_until("\r\n")) == "HTTP/1.1 200 OK\r\n");
  auto r = parse_head("HTTP/1.1 200 OK\r\n" + co_await stream->read_until("\r\n\r\n"));
  BOOST_TEST((co_await stream->read_bytes(std::stoul(r.header("Content-Length")))) == "Hello world");
}

TORNADO_GEN_TEST(test_unix_socket_bad_request, UnixSocketServer) {
  ExpectLog expect(log::gen_log(), "Malformed HTTP message from", true, log::Level::INFO);
  co_await stream->write("garbage\r\n\r\n");
  auto response = co_await read_to_close(*stream);
  BOOST_TEST(response.starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(GzipTest)

namespace {
struct GzipServer : ServerTest {
  GzipServer() : ServerTest(HTTPServerOptions{.decompress_request = true}) {}
};
struct GzipLimitServer : ServerTest {
  GzipLimitServer() : ServerTest(HTTPServerOptions{.decompress_request = true, .max_body_size = 4096}) {}
};
const std::string kForm = "Content-Type: application/x-www-form-urlencoded\r\n";
}  // namespace

TORNADO_GEN_TEST(test_uncompressed, GzipServer) {
  auto r = co_await fetch(request_with_body("POST /echo HTTP/1.1\r\n" + kForm, "foo=bar"));
  BOOST_TEST(r.body == R"({"foo": ["bar"]})");
}

TORNADO_GEN_TEST(test_gzip, GzipServer) {
  auto r = co_await fetch(
      request_with_body("POST /echo HTTP/1.1\r\n" + kForm + "Content-Encoding: gzip\r\n", kGzipFooBar));
  BOOST_TEST(r.body == R"({"foo": ["bar"]})");
}

TORNADO_GEN_TEST(test_gzip_case_insensitive, GzipServer) {
  auto r = co_await fetch(
      request_with_body("POST /echo HTTP/1.1\r\n" + kForm + "Content-Encoding: GZIP\r\n", kGzipFooBar));
  BOOST_TEST(r.body == R"({"foo": ["bar"]})");
}

TORNADO_GEN_TEST(test_gzip_body_size_counted_decompressed, GzipLimitServer) {
  // 46 compressed bytes that expand to 10240, past max_body_size: the connection is closed.
  ExpectLog expect(log::gen_log(), ".*Malformed HTTP message.*decompressed body too large", true, log::Level::INFO);
  auto s = co_await connect();
  co_await s->write(request_with_body("PUT /streaming HTTP/1.1\r\nContent-Encoding: gzip\r\n", kGzip10KiB));
  auto data = co_await read_to_close(*s);
  BOOST_TEST(!data.starts_with("HTTP/1.1 200"));
  BOOST_TEST(app.requests == 0u);
  // Under the limit, the same server serves a compressed body.
  auto r = co_await fetch(
      request_with_body("POST /echo HTTP/1.1\r\n" + kForm + "Content-Encoding: gzip\r\n", kGzipFooBar));
  BOOST_TEST(r.body == R"({"foo": ["bar"]})");
}

TORNADO_GEN_TEST(test_gzip_body_size_override, GzipLimitServer) {
  // set_max_body_size in headers_received applies to the decompressed size too.
  auto r = co_await fetch(
      request_with_body("PUT /streaming?expected_size=10240 HTTP/1.1\r\nContent-Encoding: gzip\r\n", kGzip10KiB));
  BOOST_TEST(r.body == "10240");
}

TORNADO_GEN_TEST(test_gzip_invalid_data, GzipServer) {
  ExpectLog expect(log::gen_log(), ".*Malformed HTTP message", true, log::Level::INFO);
  auto s = co_await connect();
  co_await s->write(request_with_body("POST /echo HTTP/1.1\r\nContent-Encoding: gzip\r\n", "not gzip at all"));
  auto data = co_await read_to_close(*s);
  BOOST_TEST(!data.starts_with("HTTP/1.1 200"));
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(StreamingChunkSizeTest)

namespace {
struct ChunkSizeServer : ServerTest {
  ChunkSizeServer() : ServerTest(HTTPServerOptions{.decompress_request = true, .chunk_size = 16}) {}
  // Posts and returns the data_received sizes, checking each is in (0, 16] and they add up.
  Future<std::vector<std::size_t>> fetch_chunk_sizes(std::string raw) {
    auto r = co_await fetch(std::move(raw));
    BOOST_TEST(r.code == 200);
    std::vector<std::size_t> chunks;
    std::size_t total = 0;
    std::string_view b = r.body;
    while (!b.empty()) {
      auto comma = b.find(',');
      std::size_t n = std::stoul(std::string(b.substr(0, comma)));
      BOOST_TEST(n <= 16u);
      BOOST_TEST(n > 0u);
      total += n;
      chunks.push_back(n);
      b = comma == std::string_view::npos ? std::string_view() : b.substr(comma + 1);
    }
    BOOST_TEST(total == kStreamingBody.size());
    co_return chunks;
  }
};
}  // namespace

TORNADO_GEN_TEST(test_regular_body, ChunkSizeServer) {
  auto chunks = co_await fetch_chunk_sizes(request_with_body("POST /chunk_sizes HTTP/1.1\r\n", kStreamingBody));
  // Python gets [16, 16, 16, 2]: its IOStream reads the headers until the socket has nothing
  // more (read_until_regex with max_bytes), so the body is whole in the buffer when read_bytes
  // (chunk_size, partial=True) cuts it. Our HTTP1Connection reads chunk_size bytes per read_more,
  // so what the last header read left over starts a short piece and the cuts depend on the
  // length of the headers; 50 bytes at most 16 at a time arriving together are 4 pieces either
  // way ([16, 16, 16, 2] or [14, 16, 16, 4]).
  BOOST_TEST(chunks.size() == 4u);
}

TORNADO_GEN_TEST(test_compressed_body, ChunkSizeServer) {
  co_await fetch_chunk_sizes(
      request_with_body("POST /chunk_sizes HTTP/1.1\r\nContent-Encoding: gzip\r\n", kGzipStreamingBody));
}

TORNADO_GEN_TEST(test_chunked_body, ChunkSizeServer) {
  auto chunks = co_await fetch_chunk_sizes(
      chunked_request("POST /chunk_sizes HTTP/1.1\r\n", {kStreamingBody.substr(0, 20), kStreamingBody.substr(20)}));
  // HTTP chunk boundaries are application-visible breaks: no piece spans byte 20. (Python's
  // [16, 4, 16, 14] comes from its stream reading each chunk-size line until the socket has
  // nothing more (read_until with max_bytes=64), so a chunk's data is whole in the buffer; ours
  // reads chunk_size bytes per read_more, so a chunk that straddles two reads comes in two
  // pieces and the pieces may be cut finer.)
  std::size_t at = 0;
  bool boundary_kept = false;
  for (auto n : chunks) {
    at += n;
    if (at == 20) boundary_kept = true;
  }
  BOOST_TEST(boundary_kept);
}

TORNADO_GEN_TEST(test_chunked_compressed, ChunkSizeServer) {
  BOOST_TEST(kGzipStreamingBody.size() > 20u);
  co_await fetch_chunk_sizes(chunked_request("POST /chunk_sizes HTTP/1.1\r\nContent-Encoding: gzip\r\n",
                                             {kGzipStreamingBody.substr(0, 20), kGzipStreamingBody.substr(20)}));
}

namespace {
// An HTTP1ServerConnection whose stream reads 64 KiB at a time while data_received gets at most
// 16 bytes, so one read holds many pieces (HTTPServer's chunk_size sets both to the same value).
struct BigReadConnection : AsyncTestCase {
  App app;
  std::unique_ptr<http1connection::HTTP1ServerConnection> conn;
  std::unique_ptr<iostream::IOStream> client;
  BigReadConnection() {
    auto [server_stream, client_stream] = test_support::stream_pair();
    http1connection::HTTP1ConnectionParameters params;
    params.chunk_size = 16;
    conn = std::make_unique<http1connection::HTTP1ServerConnection>(std::move(server_stream), params);
    client = std::move(client_stream);
  }
  ~BigReadConnection() override {
    client->close();
    io_loop().run_sync([this] { return conn->close(); }, 5.0);
  }
};
}  // namespace

TORNADO_GEN_TEST(test_chunk_size_smaller_than_read, BigReadConnection) {
  (void)conn->start_serving(app);
  std::string body(100, 'x');
  // One write: the server's first read holds the whole request.
  co_await client->write(chunked_request("POST /chunk_sizes HTTP/1.1\r\n", {std::string_view(body).substr(0, 40),
                                                                             std::string_view(body).substr(40)}) +
                         request_with_body("POST /chunk_sizes HTTP/1.1\r\n", body));
  auto r = co_await read_response(*client);
  BOOST_TEST(r.body == "16,16,8,16,16,16,12");
  r = co_await read_response(*client);
  BOOST_TEST(r.body == "16,16,16,16,16,16,4");
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
// Not in Tornado: hostile input on some connections must not disturb a well-behaved keep-alive
// client on another; after every bad input that client's next request gets the right answer.
BOOST_AUTO_TEST_SUITE(RobustnessTest)

namespace {
struct RobustServer : ServerTest {
  RobustServer()
      : ServerTest(HTTPServerOptions{.max_header_size = 2048, .body_timeout = 0.2, .max_body_size = 4096}) {}
};
}  // namespace

TORNADO_GEN_TEST_TIMEOUT(test_malformed_inputs_do_not_disturb_keepalive_client, RobustServer, 30.0) {
  ExpectLog quiet(log::gen_log(), ".*", false, log::Level::INFO);
  const std::vector<std::string> bad = {
      "asdf\r\n\r\n",
      "GET / HTTP/1.0\r\nasdf\r\n\r\n",
      "GET / HTTP/1.0\r\nHost: foo bar\r\n\r\n",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1_a\r\n1234567890abcdef1234567890\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nContent-Length: foo\r\n\r\nbar\r\n",
      "POST /echo HTTP/1.1\r\nContent-Length: +10\r\n\r\n1234567890",
      "GE(T / HTTP/1.1\r\n\r\n",
      std::string("G\0T / HTTP/1.1\r\n\r\n", 18),
      "GET / HTTP/9.9\r\n\r\n",
      "GET / HTTP/1.1\r\nX-Filler: " + std::string(4000, 'a') + "\r\n\r\n",
      "PUT /buffered HTTP/1.1\r\nContent-Length: 10240\r\n\r\n" + std::string(10240, 'a'),
      chunked_request("PUT /buffered HTTP/1.1\r\n", {std::string(10240, 'a')}),
      "PUT /buffered HTTP/1.1\r\nContent-Length: 42\r\n\r\nshort",  // stalls: body_timeout
      "GET / HTTP/1.1\r\nBad\x01Header: x\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n",
      "GET / HTTP/1.1\r\n\r",  // then hang up
      std::string(5000, '\r') + "\n",  // blank lines are skipped; then hang up
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello on a plain port
  };
  auto good = co_await connect();
  std::size_t served = 0;
  auto check_good = [&]() -> Future<void> {
    co_await good->write("POST /echo?n=" + std::to_string(served) +
                         " HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nfoo=bar");
    auto r = co_await read_response(*good);
    BOOST_TEST(r.code == 200);
    BOOST_TEST(r.body == R"({"foo": ["bar"], "n": [")" + std::to_string(served) + R"("]})");
    ++served;
  };
  co_await check_good();
  for (std::size_t i = 0; i < bad.size(); ++i) {
    BOOST_TEST_CONTEXT("bad input #" << i) {
      auto s = co_await connect();
      co_await s->write(bad[i]);
      if (i >= 18) {  // incomplete: the client hangs up
        co_await gen::sleep(0.02);
        s->close();
      } else {
        auto reply = co_await read_to_close(*s);
        // Whatever the answer, it is never a success, and the server closed the connection.
        BOOST_TEST(!reply.starts_with("HTTP/1.1 200"));
        BOOST_TEST(s->closed());
      }
      co_await check_good();
    }
  }
  // The same bad inputs pipelined behind a good request on one connection: the good one is
  // answered, then the connection is closed.
  for (std::size_t i = 0; i < bad.size(); ++i) {
    if (i == 15 || i >= 18) continue;
    BOOST_TEST_CONTEXT("pipelined bad input #" << i) {
      auto s = co_await connect();
      co_await s->write("GET / HTTP/1.1\r\n\r\n" + bad[i]);
      auto r = co_await read_response(*s);
      BOOST_TEST(r.body == "Hello world");
      auto rest = co_await read_to_close(*s);
      BOOST_TEST(!rest.starts_with("HTTP/1.1 200"));
      co_await check_good();
    }
  }
  BOOST_TEST(served == 1 + bad.size() + bad.size() - 4);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
// The cases below are fetched with tornado.httpclient's AsyncHTTPClient, as Python's are.

namespace {
using test_support::data_file;

// A server-side context as AsyncHTTPSTestCase.get_ssl_options gives (certfile and keyfile),
// through ssl_options_to_context as SSLContextTest builds it (test_support::server_tls is the
// same loaded directly).
netutil::SSLContext server_tls_options() {
  return netutil::ssl_options_to_context(
      netutil::SSLOptions{.certfile = data_file("server.crt"), .keyfile = data_file("server.key")}, true);
}

// Fetches `path` from the fixture's server with a client of its own (raise_error=false), over
// HTTPS (host "localhost", trusting tests/data/ca.crt) when `https`.
Future<httpclient::HTTPResponse> client_fetch(int port, std::string path, bool https = false,
                                              std::string method = "GET", std::optional<std::string> body = {},
                                              httputil::HTTPHeaders headers = {}) {
  httpclient::HTTPRequest request((https ? "https://localhost:" : "http://127.0.0.1:") + std::to_string(port) + path,
                                  std::move(method));
  request.body = std::move(body);
  request.headers = std::move(headers);
  request.ca_certs = data_file("ca.crt");
  auto client = httpclient::AsyncHTTPClient::instance(true);
  auto response = co_await client->fetch(std::move(request), false);
  client->close();
  co_return response;
}

// The fetches of SSLTestMixin, shared by its two variants below.
struct SSLServer : ServerTest {
  explicit SSLServer(netutil::SSLContext ctx) : ServerTest(HTTPServerOptions{.ssl_options = std::move(ctx)}) {}

  Future<void> check_ssl() {
    auto r = co_await client_fetch(port, "/", true);
    BOOST_TEST(r.code == 200);
    BOOST_TEST(r.body == "Hello world");
  }
  Future<void> check_large_post() {
    auto r = co_await client_fetch(port, "/hello", true, "POST", std::string(5000, 'A'));
    BOOST_TEST(r.body == "Got 5000 bytes in POST");
  }
  // A plain-HTTP request to the TLS port: the server logs an SSL error (without a stack) and
  // closes the connection, and the client's fetch fails.
  Future<void> check_non_ssl_request(bool check_stack) {
    ExpectLog expect(log::gen_log(), "(SSL Error|uncaught exception)", true);
    bool failed = false;
    try {
      httpclient::HTTPRequest request("http://127.0.0.1:" + std::to_string(port) + "/");
      request.request_timeout = 3600;
      request.connect_timeout = 3600;
      co_await httpclient::AsyncHTTPClient::instance(true)->fetch(std::move(request));
    } catch (const httpclient::HTTPClientError&) {
      failed = true;
    }
    BOOST_TEST(failed);
    // The server's side may log after the client saw the close.
    for (int i = 0; i < 100 && expect.matched() == 0; ++i) co_await gen::sleep(0.01);
    expect.close();
    if (check_stack) BOOST_TEST(!expect.logged_stack());
  }
};
struct SSLv23Server : SSLServer {
  SSLv23Server() : SSLServer(test_support::server_tls()) {}
};
struct SSLContextServer : SSLServer {
  SSLContextServer() : SSLServer(server_tls_options()) {}
};
}  // namespace

// httpserver_test.py's SSLTestMixin on a context made directly (SSLv23Test: Python's
// PROTOCOL_SSLv23 is "negotiate the best version", which is what SSLContext does).
BOOST_AUTO_TEST_SUITE(SSLv23Test)
TORNADO_GEN_TEST(test_ssl, SSLv23Server) { co_await check_ssl(); }
TORNADO_GEN_TEST(test_large_post, SSLv23Server) { co_await check_large_post(); }
TORNADO_GEN_TEST(test_non_ssl_request, SSLv23Server) { co_await check_non_ssl_request(false); }
TORNADO_GEN_TEST(test_error_logging, SSLv23Server) { co_await check_non_ssl_request(true); }
BOOST_AUTO_TEST_SUITE_END()

// SSLTestMixin on a context made by ssl_options_to_context.
BOOST_AUTO_TEST_SUITE(SSLContextTest)
TORNADO_GEN_TEST(test_ssl, SSLContextServer) { co_await check_ssl(); }
TORNADO_GEN_TEST(test_large_post, SSLContextServer) { co_await check_large_post(); }
TORNADO_GEN_TEST(test_non_ssl_request, SSLContextServer) { co_await check_non_ssl_request(false); }
TORNADO_GEN_TEST(test_error_logging, SSLContextServer) { co_await check_non_ssl_request(true); }
BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(BadSSLOptionsTest)

BOOST_AUTO_TEST_CASE(test_missing_arguments) {
  // A key without a certificate: Python raises KeyError building the server; here the server
  // refuses the context (no certificate), whichever step notices first.
  App app;
  BOOST_CHECK_THROW(HTTPServer(app, HTTPServerOptions{.ssl_options = netutil::ssl_options_to_context(
                                                          netutil::SSLOptions{.keyfile = "/__missing__.crt"}, true)}),
                    std::exception);
}

BOOST_AUTO_TEST_CASE(test_missing_key) {
  // A missing certificate or key fails at once, not at the first connection.
  App app;
  BOOST_CHECK_THROW(HTTPServer(app, HTTPServerOptions{.ssl_options = netutil::ssl_options_to_context(
                                                          netutil::SSLOptions{.certfile = "/__mising__.crt"}, true)}),
                    std::exception);
  BOOST_CHECK_THROW(
      HTTPServer(app, HTTPServerOptions{.ssl_options = netutil::ssl_options_to_context(
                                            netutil::SSLOptions{.certfile = data_file("server.crt"),
                                                                .keyfile = "/__missing__.key"},
                                            true)}),
      std::exception);
  // This works because both files exist.
  HTTPServer server(app, HTTPServerOptions{.ssl_options = server_tls_options()});
  BOOST_TEST(server.options().ssl_options.has_value());
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
// HTTPServerTest's request parsing, minus RequestHandler's charset decoding (see the top comment).
BOOST_AUTO_TEST_SUITE(HTTPServerTest)

TORNADO_GEN_TEST(test_query_string_encoding, ServerTest) {
  auto r = co_await client_fetch(port, "/echo?foo=%C3%A9");
  BOOST_TEST(r.body == "{\"foo\": [\"\xc3\xa9\"]}");
}

TORNADO_GEN_TEST(test_empty_query_string, ServerTest) {
  auto r = co_await client_fetch(port, "/echo?foo=&foo=");
  BOOST_TEST(r.body == R"({"foo": ["", ""]})");
}

TORNADO_GEN_TEST(test_empty_post_parameters, ServerTest) {
  auto r = co_await client_fetch(port, "/echo", false, "POST", std::string("foo=&bar="),
                                 httputil::HTTPHeaders{{"Content-Type", "application/x-www-form-urlencoded"}});
  BOOST_TEST(r.body == R"({"bar": [""], "foo": [""]})");
}

TORNADO_GEN_TEST(test_double_slash, ServerTest) {
  // A path starting with "//" is a path, not a protocol-relative URL.
  auto r = co_await client_fetch(port, "//doubleslash");
  BOOST_TEST(r.code == 200);
  BOOST_TEST(r.body == "{}");
}

TORNADO_GEN_TEST(test_post_encodings, ServerTest) {
  // The argument arrives as the bytes sent (percent-decoded or not); Python's handlers then decode
  // them as UTF-8 or GBK, which is RequestHandler.decode_argument's job.
  const std::pair<std::string, std::string> texts[] = {
      {"utf8", "chinese: \xe5\xbc\xa0\xe4\xb8\x89"}, {"gbk", "chinese: \xd5\xc5\xc8\xfd"}};
  const std::pair<std::string, std::string> quoted[] = {
      {"utf8", "chinese%3A%20%E5%BC%A0%E4%B8%89"}, {"gbk", "chinese%3A%20%D5%C5%C8%FD"}};
  for (int i = 0; i < 2; ++i) {
    for (bool quote : {true, false}) {
      BOOST_TEST_CONTEXT("enc=" << texts[i].first << " quote=" << quote) {
        std::string body = "data=" + (quote ? quoted[i].second : texts[i].second);
        auto r = co_await client_fetch(port, "/post_" + texts[i].first, false, "POST", body,
                                       httputil::HTTPHeaders{{"Content-Type", "application/x-www-form-urlencoded"}});
        BOOST_TEST(r.code == 200);
        BOOST_TEST(r.body == texts[i].second);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(SSLXHeaderTest)

namespace {
struct SSLXHeaderServer : ServerTest {
  SSLXHeaderServer() : ServerTest(HTTPServerOptions{.xheaders = true, .ssl_options = test_support::server_tls()}) {}
};
}  // namespace

TORNADO_GEN_TEST(test_request_without_xprotocol, SSLXHeaderServer) {
  BOOST_TEST((co_await client_fetch(port, "/xheaders", true)).body == "127.0.0.1 https");
  BOOST_TEST((co_await client_fetch(port, "/xheaders", true, "GET", {}, httputil::HTTPHeaders{{"X-Scheme", "http"}}))
                 .body == "127.0.0.1 http");
  BOOST_TEST(
      (co_await client_fetch(port, "/xheaders", true, "GET", {}, httputil::HTTPHeaders{{"X-Scheme", "unknown"}}))
          .body == "127.0.0.1 https");
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(ManualProtocolTest)

namespace {
struct ManualProtocolServer : ServerTest {
  ManualProtocolServer() : ServerTest(HTTPServerOptions{.protocol = "https"}) {}
};
}  // namespace

TORNADO_GEN_TEST(test_manual_protocol, ManualProtocolServer) {
  BOOST_TEST((co_await client_fetch(port, "/xheaders")).body == "127.0.0.1 https");
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(GzipUnsupportedTest)

// GzipBaseTest's case, inherited by GzipUnsupportedTest in Python: without decompress_request too.
TORNADO_GEN_TEST(test_uncompressed, ServerTest) {
  auto r = co_await client_fetch(port, "/echo", false, "POST", std::string("foo=bar"));
  BOOST_TEST(r.body == R"({"foo": ["bar"]})");
}

TORNADO_GEN_TEST(test_gzip_unsupported, ServerTest) {
  // Without decompress_request the form body cannot be parsed: the application answers 400 (as
  // RequestHandler does; see Handler::finish).
  ExpectLog expect(log::gen_log(), ".*Unsupported Content-Encoding", true);
  auto r = co_await client_fetch(port, "/echo", false, "POST", std::string(kGzipFooBar),
                                 httputil::HTTPHeaders{{"Content-Encoding", "gzip"},
                                                       {"Content-Type", "application/x-www-form-urlencoded"}});
  BOOST_TEST(r.code == 400);
  BOOST_TEST(app.requests == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
BOOST_AUTO_TEST_SUITE(LegacyInterfaceTest)

namespace {
// The old request-callback interface, writing its response through request.connection.write
// without write_headers: the bytes go out as they are.
struct LegacyServer : AsyncTestCase {
  std::unique_ptr<HTTPServer> server;
  int port = 0;
  bool http1 = false;
  LegacyServer() {
    server = std::make_unique<HTTPServer>([this](httputil::HTTPServerRequest& request) {
      http1 = request.version.starts_with("HTTP/1.");
      std::string message = "Hello world";
      (void)request.connection->write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(message.size()) +
                                      "\r\n\r\n");
      (void)request.connection->write(message);
      request.connection->finish();
    });
    auto sock = tornado::testing::bind_unused_port();
    port = sock.port;
    server->add_socket(sock.fd);
  }
  ~LegacyServer() override {
    server->stop();
    io_loop().run_sync([this] { return server->close_all_connections(); }, 5.0);
  }
};
}  // namespace

TORNADO_GEN_TEST(test_legacy_interface, LegacyServer) {
  auto r = co_await client_fetch(port, "/");
  BOOST_TEST(http1);
  BOOST_TEST(r.code == 200);
  BOOST_TEST(r.body == "Hello world");
}

BOOST_AUTO_TEST_SUITE_END()
