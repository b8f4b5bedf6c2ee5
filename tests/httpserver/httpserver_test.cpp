// tornado.httpserver on real loopback sockets: raw clients, curl and Python's http.client. The port of
// tornado/test/httpserver_test.py is httpserver_conformance_test.cpp (see its top comment).
#define BOOST_TEST_MODULE httpserver
#include <tornado/testing.hpp>

#include "../support/support.hpp"

#include <cstdio>
#include <sys/socket.h>
#include <memory>
#include <string>

import tornado.httpserver;
import tornado.httputil;
import tornado.iostream;
import tornado.netutil;
import tornado.gen;
import tornado.ioloop;
import tornado.tcpclient;
import tornado.log;

using namespace tornado;
using httpserver::HTTPServer;
using tornado::testing::AsyncTestCase;
using tornado::test_support::data_file;
using tornado::test_support::run_command;
using tornado::test_support::server_tls;

namespace {

void hello(httputil::HTTPServerRequest& request) {
  std::string body = "Hello " + request.remote_ip + " " + request.protocol + " " + request.path;
  if (auto it = request.arguments.find("name"); it != request.arguments.end()) body += " " + it->second.front();
  httputil::HTTPHeaders h{{"Content-Type", "text/plain"}, {"Content-Length", std::to_string(body.size())}};
  (void)request.connection->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"}, h, body);
  request.connection->finish();
}

struct ServerFixture : AsyncTestCase {
  std::unique_ptr<HTTPServer> server;
  int port = 0;
  explicit ServerFixture(httpserver::HTTPServerOptions options = {}) {
    server = std::make_unique<HTTPServer>(hello, std::move(options));
    port = test_support::listen_on_unused_port(*server);
  }
  ~ServerFixture() override { test_support::shut_down(*server, io_loop()); }
  Future<std::unique_ptr<iostream::IOStream>> connect() { return test_support::connect_local(port); }
};

struct XHeadersFixture : ServerFixture {
  XHeadersFixture() : ServerFixture(httpserver::HTTPServerOptions{.xheaders = true, .trusted_downstream = {"5.5.5.5"}}) {}
};

}  // namespace

TORNADO_GEN_TEST(query_arguments_and_remote_ip, ServerFixture) {
  auto s = co_await connect();
  co_await s->write("GET /path?name=world HTTP/1.1\r\nHost: localhost\r\n\r\n");
  auto head = co_await s->read_until("\r\n\r\n");
  BOOST_TEST(head.starts_with("HTTP/1.1 200 OK"));
  std::string expected = "Hello 127.0.0.1 http /path world";
  BOOST_TEST((co_await s->read_bytes(expected.size())) == expected);
}

TORNADO_GEN_TEST(xheaders_real_ip_and_scheme, XHeadersFixture) {
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.1\r\nX-Forwarded-For: 4.4.4.4, 5.5.5.5\r\nX-Forwarded-Proto: https\r\n\r\n");
  co_await s->read_until("\r\n\r\n");
  std::string expected = "Hello 4.4.4.4 https /";
  BOOST_TEST((co_await s->read_bytes(expected.size())) == expected);
  // The next request on the connection does not inherit the rewrite.
  co_await s->write("GET / HTTP/1.1\r\n\r\n");
  co_await s->read_until("\r\n\r\n");
  expected = "Hello 127.0.0.1 http /";
  BOOST_TEST((co_await s->read_bytes(expected.size())) == expected);
}

TORNADO_GEN_TEST(xheaders_invalid_ip_ignored, XHeadersFixture) {
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.1\r\nX-Real-Ip: not-an-ip\r\nX-Scheme: gopher\r\n\r\n");
  co_await s->read_until("\r\n\r\n");
  std::string expected = "Hello 127.0.0.1 http /";
  BOOST_TEST((co_await s->read_bytes(expected.size())) == expected);
}

TORNADO_GEN_TEST(curl_keep_alive_two_urls, ServerFixture) {
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  auto out = co_await run_command("curl -s --max-time 5 '" + url + "/a?name=x' '" + url + "/b' 2>&1");
  BOOST_TEST(out == "Hello 127.0.0.1 http /a xHello 127.0.0.1 http /b");
}

TORNADO_GEN_TEST(python_http_client, ServerFixture) {
  auto out = co_await run_command("/usr/bin/python3 -c 'import http.client as h; c=h.HTTPConnection(\"127.0.0.1\", " +
                                  std::to_string(port) +
                                  ", timeout=5); c.request(\"POST\", \"/form\", body=\"name=py\", headers={\"Content-Type\": "
                                  "\"application/x-www-form-urlencoded\"}); r=c.getresponse(); print(r.status, r.read().decode())'");
  BOOST_TEST(out == "200 Hello 127.0.0.1 http /form py\n");
}

// --- HTTPS --------------------------------------------------------------------------------------

namespace {
struct HTTPSFixture : ServerFixture {
  HTTPSFixture() : ServerFixture(httpserver::HTTPServerOptions{.ssl_options = server_tls()}) {}
};
}  // namespace

TORNADO_GEN_TEST(https_curl, HTTPSFixture) {
  auto out = co_await run_command("curl -s --max-time 5 --cacert " + data_file("ca.crt") + " 'https://localhost:" +
                                  std::to_string(port) + "/secure?name=tls' 2>&1");
  BOOST_TEST(out == "Hello 127.0.0.1 https /secure tls");
}

TORNADO_GEN_TEST(https_tcpclient_tls_connect, HTTPSFixture) {
  netutil::SSLContext client(false);
  client.load_verify_locations(data_file("ca.crt"));
  auto stream = co_await tcpclient::TCPClient().connect("localhost", static_cast<std::uint16_t>(port), client, 0, 0, {},
                                                        0, 5.0);
  co_await stream->write("GET /t HTTP/1.1\r\nHost: localhost\r\n\r\n");
  auto head = co_await stream->read_until("\r\n\r\n");
  BOOST_TEST(head.starts_with("HTTP/1.1 200 OK"));
  std::string expected = "Hello 127.0.0.1 https /t";
  BOOST_TEST((co_await stream->read_bytes(expected.size())) == expected);
}

TORNADO_GEN_TEST(https_plaintext_client_is_dropped, HTTPSFixture) {
  // Tornado's SSLTest.test_non_ssl_request: logged, closed, and the server goes on serving.
  tornado::testing::ExpectLog expect(log::gen_log(), "SSL Error", true);
  auto s = co_await connect();
  co_await s->write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  std::string got;
  try {
    got = co_await s->read_until_close();
  } catch (const iostream::StreamClosedError&) {
  }
  BOOST_TEST(got.find("HTTP/1.1 200") == std::string::npos);
  auto out = co_await run_command("curl -s --max-time 5 --cacert " + data_file("ca.crt") + " 'https://localhost:" +
                                  std::to_string(port) + "/again' 2>&1");
  BOOST_TEST(out == "Hello 127.0.0.1 https /again");
}
