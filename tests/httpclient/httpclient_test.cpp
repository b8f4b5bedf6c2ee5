// Tests of tornado.httpclient, against our own HTTPServer (legacy request callback), scripted raw
// servers, a small HTTP proxy, and a Python Tornado 6.2 server (tests/httpclient/tornado_server.py)
// started once for the program. Ports tornado/test/httpclient_test.py (HTTPClientCommonTestCase,
// HTTPResponseTestCase, SyncHTTPClientTest, HTTPRequestTestCase, HTTPErrorTestCase) and
// tornado/test/simple_httpclient_test.py (SimpleHTTPClientTestMixin, SimpleHTTPSClientTestCase,
// CreateAsyncHTTPClientTestCase, HTTP100ContinueTestCase, HTTP204NoContentTestCase,
// HostnameMappingTestCase, ResolveTimeoutTestCase, MaxHeaderSizeTest, MaxBodySizeTest,
// MaxBufferSizeTest, ChunkedWithContentLengthTest) by name; suites named ...2 hold the cases
// ported after the first version. Beyond Tornado: KeepAliveTest (connection reuse),
// RedirectCredentialsTest, ClientCertificateTest, ProxyTest.
//
// Not ported, and why:
//  - test_types, test_header_types, test_body_encoding, HTTPRequestTestCase.test_headers /
//    test_headers_setter / test_null_headers_setter / test_body / test_body_setter: str vs bytes
//    and property setters; headers and bodies are std::string and plain members here.
//  - RequestProxyTest (_RequestProxy): defaults are a prototype HTTPRequest
//    (AsyncHTTPClientOptions::defaults), not a proxy object; test_configure_defaults covers them.
//  - HTTPResponseTestCase.test_str: Python repr.
//  - SyncHTTPClientSubprocessTest.test_destructor_log: Python garbage collection at exit.
//  - test_native_body_producer_*: Python's asyncio-native coroutines; C++ has one kind, covered
//    by test_async_body_producer_*.
//  - test_response_times' time_info: only curl_httpclient fills it.
//  - prepare_curl_callback, SimpleHTTPClientTestCase's curl skips: there is no curl client.
//  - test_large_headers raises UnsatisfiableReadError in Tornado; here the codec logs the
//    oversized head and the request fails as HTTPStreamClosedError (599), as test_large_body does.
#define BOOST_TEST_MODULE httpclient
#include <tornado/testing.hpp>

#include "../support/support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

import tornado.http1connection;
import tornado.httpclient;
import tornado.httpserver;
import tornado.httputil;
import tornado.iostream;
import tornado.netutil;
import tornado.tcpclient;
import tornado.tcpserver;
import tornado.gen;
import tornado.ioloop;
import tornado.log;

using namespace tornado;
using httpclient::AsyncHTTPClient;
using httpclient::HTTPClientError;
using httpclient::HTTPRequest;
using httpclient::HTTPResponse;
using tornado::testing::AsyncTestCase;
using tornado::test_support::data_file;
using tornado::test_support::server_tls;

namespace {

// The Python Tornado server, started once and killed when the program ends.
struct PythonServer {
  pid_t pid = -1;
  int port = 0;
  PythonServer() {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the test program, even if it crashes
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      std::string script = std::string(TORNADO_TEST_DATA_DIR) + "/../httpclient/tornado_server.py";
      ::execl("/usr/bin/python3", "python3", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    std::string line;
    char c;
    while (::read(fds[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(fds[0]);
    port = line.empty() ? 0 : std::stoi(line);
  }
  ~PythonServer() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};
PythonServer* python_server = nullptr;
struct PythonServerFixture {
  PythonServerFixture() { python_server = new PythonServer(); }
  ~PythonServerFixture() {
    delete python_server;
    python_server = nullptr;
  }
};
BOOST_TEST_GLOBAL_FIXTURE(PythonServerFixture);

std::string py_url(const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(python_server->port) + path;
}

void respond(httputil::HTTPServerRequest& request, int code, const std::string& body,
             httputil::HTTPHeaders headers = {}) {
  headers.set("Content-Length", std::to_string(body.size()));
  // A response to HEAD declares its length but carries no body (RFC 9110 9.3.2).
  (void)request.connection->write_headers(httputil::ResponseStartLine{"HTTP/1.1", code, std::string(httputil::responses(code))},
                                          headers, request.method == "HEAD" ? std::string() : body);
  request.connection->finish();
}

std::string arg(httputil::HTTPServerRequest& request, const std::string& name, std::string def = {}) {
  auto it = request.arguments.find(name);
  return it == request.arguments.end() ? def : it->second.front();
}

// What our server saw: the peers of the connections requests came on (one per connection), and
// the last request's headers.
std::set<std::string> connections_seen;
httputil::HTTPHeaders last_headers;

// Our own server's routes, as httpclient_test.py's handlers.
void handle(httputil::HTTPServerRequest& request) {
  connections_seen.insert(request.connection->context().address.to_string());
  last_headers = request.headers;
  const std::string& p = request.path;
  if (p == "/hello") {
    respond(request, 200, "Hello " + arg(request, "name", "world") + "!");
  } else if (p == "/post") {
    respond(request, 200, "Post arg1: " + arg(request, "arg1") + ", arg2: " + arg(request, "arg2"));
  } else if (p == "/echopost") {
    respond(request, 200, request.body);
  } else if (p == "/method") {
    respond(request, 200, request.method);
  } else if (p == "/chunk") {
    // No Content-Length: HTTP/1.1 chunked.
    (void)request.connection->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"}, {}, "asdf");
    (void)request.connection->write("qwer");
    request.connection->finish();
  } else if (p == "/redirect") {
    int status = std::stoi(arg(request, "status", "302"));
    respond(request, status, "", {{"Location", arg(request, "url")}});
  } else if (p == "/redirect_no_location") {
    respond(request, 302, "");
  } else if (p.starts_with("/countdown/")) {
    int n = std::stoi(p.substr(11));
    if (n > 0)
      respond(request, 302, "", {{"Location", "/countdown/" + std::to_string(n - 1)}});
    else
      respond(request, 200, "Zero");
  } else if (p == "/echo_headers") {
    respond(request, 200,
            "Authorization=" + request.headers.get("Authorization", "") + ";Cookie=" + request.headers.get("Cookie", ""));
  } else if (p == "/user_agent") {
    respond(request, 200, request.headers.get("User-Agent", ""));
  } else if (p == "/close") {
    respond(request, 200, "closing", {{"Connection", "close"}});
  } else if (p == "/header") {
    // The value of the request header named by ?name= ("(none)" if absent).
    respond(request, 200, request.headers.get(arg(request, "name"), "(none)"));
  } else if (p == "/no_content") {
    // 204 without Content-Length (RFC 9110 8.6: it has no body to measure).
    (void)request.connection->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 204, "No Content"}, {});
    request.connection->finish();
  } else if (p == "/304_with_content_length") {
    // Servers should not send Content-Length with a 304 but some do: the client must not wait
    // for 42 bytes that will never come.
    (void)request.connection->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 304, "Not Modified"},
                                            {{"Content-Length", "42"}});
    request.connection->finish();
  } else if (p == "/head") {
    respond(request, 200, "1234567");
  } else if (p == "/options") {
    respond(request, 200, "ok", {{"Access-Control-Allow-Origin", "*"}});
  } else if (p == "/see_other_post") {
    int code = std::stoi(request.body);
    respond(request, code, "", {{"Location", "/see_other_get"}});
  } else if (p == "/see_other_get") {
    respond(request, request.body.empty() ? 200 : 500, request.body.empty() ? "ok" : "unexpected body");
  } else if (p == "/large_headers") {
    respond(request, 200, "ok", {{"X-Filler", std::string(std::stoul(arg(request, "n")), 'a')}});
  } else if (p == "/large_body") {
    respond(request, 200, std::string(std::stoul(arg(request, "n")), 'a'));
  } else if (p == "/peer_cert_size") {
    // The size of the client certificate the TLS handshake brought (0: none).
    respond(request, 200, std::to_string(request.get_ssl_certificate().size()));
  } else if (p == "/hang") {
    // Never answers: the client's request_timeout must end it.
  } else {
    respond(request, 404, "not found");
  }
}

struct ServerFixture : AsyncTestCase {
  std::unique_ptr<httpserver::HTTPServer> server;
  std::shared_ptr<AsyncHTTPClient> http_client;
  int port = 0;
  std::string scheme = "http";
  explicit ServerFixture(httpserver::HTTPServerOptions options = {}) {
    if (options.ssl_options) scheme = "https";
    server = std::make_unique<httpserver::HTTPServer>(handle, std::move(options));
    port = test_support::listen_on_unused_port(*server);
    http_client = AsyncHTTPClient::instance(true);
    connections_seen.clear();
  }
  ~ServerFixture() override {
    http_client->close();
    test_support::shut_down(*server, io_loop());
    http_client.reset();
  }
  std::string get_url(const std::string& path) const {
    return scheme + "://127.0.0.1:" + std::to_string(port) + path;
  }
  Future<HTTPResponse> fetch(const std::string& path, bool raise_error = false) {
    return http_client->fetch(HTTPRequest(get_url(path)), raise_error);
  }
  Future<HTTPResponse> fetch(HTTPRequest request, bool raise_error = false) {
    if (!request.url.starts_with("http")) request.url = get_url(request.url);
    return http_client->fetch(std::move(request), raise_error);
  }
};

struct HTTPSFixture : ServerFixture {
  HTTPSFixture() : ServerFixture(httpserver::HTTPServerOptions{.ssl_options = server_tls()}) {}
};

// A TCP server on 127.0.0.1 whose connections are handed to `on_stream` with their index (0 for
// the first accepted), for tests that need a server saying exactly what they script.
struct RawServer : tcpserver::TCPServer {
  using OnStream = std::function<Future<void>(std::shared_ptr<iostream::IOStream> stream, int index)>;
  explicit RawServer(OnStream on_stream) : on_stream(std::move(on_stream)) {
    auto sock = tornado::testing::bind_unused_port();
    port = sock.port;
    add_socket(sock.fd);
  }
  ~RawServer() override { stop(); }
  Future<void> handle_stream(std::unique_ptr<iostream::IOStream> stream, netutil::SocketAddress) override {
    std::shared_ptr<iostream::IOStream> s(std::move(stream));
    int index = accepted++;
    try {
      co_await on_stream(s, index);
    } catch (const iostream::StreamClosedError&) {
    }
  }
  std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port) + path; }
  OnStream on_stream;
  int port = 0;
  int accepted = 0;
};

HTTPRequest post(const std::string& url, std::string body) {
  HTTPRequest r(url, "POST");
  r.body = std::move(body);
  return r;
}

}  // namespace

// --- httpclient_test.py: HTTPClientCommonTestCase ---------------------------------------------

BOOST_AUTO_TEST_SUITE(HTTPClientCommonTestCase)

TORNADO_GEN_TEST(test_hello_world, ServerFixture) {
  auto response = co_await fetch("/hello");
  BOOST_TEST(response.code == 200);
  BOOST_TEST(response.body == "Hello world!");
  BOOST_TEST(response.reason == "OK");
  BOOST_TEST(response.effective_url == get_url("/hello"));
  BOOST_TEST(response.request_time >= 0);
  BOOST_TEST(*response.headers.get("Content-Length") == "12");
  response = co_await fetch("/hello?name=Ben");
  BOOST_TEST(response.body == "Hello Ben!");
}

TORNADO_GEN_TEST(test_hello_world_python_server, ServerFixture) {
  auto response = co_await http_client->fetch(py_url("/hello"));
  BOOST_TEST(response.code == 200);
  BOOST_TEST(*response.headers.get("Content-Type") == "text/plain");
  BOOST_TEST(response.body == "Hello world!");
}

TORNADO_GEN_TEST(test_streaming_callback, ServerFixture) {
  std::vector<std::string> chunks;
  HTTPRequest r("/hello");
  r.streaming_callback = [&](std::string chunk) { chunks.push_back(std::move(chunk)); };
  auto response = co_await fetch(std::move(r));
  BOOST_TEST(response.body.empty());
  std::string joined;
  for (auto& c : chunks) joined += c;
  BOOST_TEST(joined == "Hello world!");
}

TORNADO_GEN_TEST(test_post, ServerFixture) {
  auto response = co_await fetch(post("/post", "arg1=foo&arg2=bar"));
  BOOST_TEST(response.code == 200);
  BOOST_TEST(response.body == "Post arg1: foo, arg2: bar");
  response = co_await http_client->fetch(post(py_url("/post"), "arg1=foo&arg2=bar"));
  BOOST_TEST(response.body == "Post arg1: foo, arg2: bar");
}

TORNADO_GEN_TEST(test_chunked, ServerFixture) {
  auto response = co_await fetch("/chunk");
  BOOST_TEST(response.body == "asdfqwer");
  BOOST_TEST(!response.headers.contains("Content-Length"));
  std::vector<std::string> chunks;
  HTTPRequest r(py_url("/chunk"));
  r.streaming_callback = [&](std::string chunk) { chunks.push_back(std::move(chunk)); };
  response = co_await http_client->fetch(std::move(r));
  BOOST_TEST(*response.headers.get("Transfer-Encoding") == "chunked");
  // Tornado hands each HTTP chunk over on its own ([b"asdf", b"qwer"]); HTTP1Connection here
  // delivers what arrived together in one piece, so only the bytes and their order are checked.
  std::string joined;
  for (auto& c : chunks) joined += c;
  BOOST_TEST(joined == "asdfqwer");
  BOOST_TEST(!chunks.empty());
  BOOST_TEST(response.body.empty());
}

TORNADO_GEN_TEST(test_basic_auth, ServerFixture) {
  HTTPRequest r(py_url("/auth"));
  r.auth_username = "Aladdin";
  r.auth_password = "open sesame";
  auto response = co_await http_client->fetch(std::move(r));
  BOOST_TEST(response.body == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TORNADO_GEN_TEST(test_basic_auth_explicit_mode, ServerFixture) {
  HTTPRequest r(py_url("/auth"));
  r.auth_username = "Aladdin";
  r.auth_password = "open sesame";
  r.auth_mode = "basic";
  BOOST_TEST((co_await http_client->fetch(std::move(r))).body == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TORNADO_GEN_TEST(test_unsupported_auth_mode, ServerFixture) {
  HTTPRequest r(py_url("/auth"));
  r.auth_username = "Aladdin";
  r.auth_password = "open sesame";
  r.auth_mode = "asdf";
  bool raised = false;
  try {
    co_await http_client->fetch(std::move(r));
  } catch (const std::invalid_argument&) {
    raised = true;
  }
  BOOST_TEST(raised);
}

TORNADO_GEN_TEST(test_credentials_in_url, ServerFixture) {
  auto url = "http://me:secret@127.0.0.1:" + std::to_string(python_server->port) + "/auth";
  auto response = co_await http_client->fetch(url);
  BOOST_TEST(response.body == "Basic bWU6c2VjcmV0");
}

TORNADO_GEN_TEST(test_follow_redirect, ServerFixture) {
  HTTPRequest r("/countdown/2");
  r.follow_redirects = false;
  auto response = co_await fetch(std::move(r));
  BOOST_TEST(response.code == 302);
  BOOST_TEST(response.headers.get("Location", "").ends_with("/countdown/1"));

  response = co_await fetch("/countdown/2");
  BOOST_TEST(response.code == 200);
  BOOST_TEST(response.effective_url.ends_with("/countdown/0"));
  BOOST_TEST(response.body == "Zero");
  // The response's request is the one given to fetch.
  BOOST_TEST(response.request.url == get_url("/countdown/2"));

  response = co_await http_client->fetch(py_url("/countdown/2"));
  BOOST_TEST(response.code == 200);
  BOOST_TEST(response.body == "Zero");
  BOOST_TEST(response.effective_url == py_url("/countdown/0"));
}

TORNADO_GEN_TEST(test_redirect_without_location, ServerFixture) {
  // A redirect with no Location is returned as it is.
  auto response = co_await fetch("/redirect_no_location");
  BOOST_TEST(response.code == 302);
}

TORNADO_GEN_TEST(test_redirect_put_with_body, ServerFixture) {
  HTTPRequest r("/redirect?url=/echopost&status=307", "PUT");
  r.body = "hello";
  auto response = co_await fetch(std::move(r));
  BOOST_TEST(response.body == "hello");
}

TORNADO_GEN_TEST(test_redirect_put_without_body, ServerFixture) {
  HTTPRequest r("/redirect?url=/echopost&status=307", "PUT");
  r.body = "";
  auto response = co_await fetch(std::move(r));
  BOOST_TEST(response.code == 200);
  BOOST_TEST(response.body == "");
}

TORNADO_GEN_TEST(test_method_after_redirect, ServerFixture) {
  // Tornado's table: 303 turns everything but HEAD into GET; 301/302 turn POST into GET only;
  // 307 and 308 keep the method.
  for (int status : {301, 302, 303}) {
    std::string url = "/redirect?url=/method&status=" + std::to_string(status);
    auto response = co_await fetch(post(url, ""));
    BOOST_TEST(response.body == "GET", "POST after " << status);
    for (const char* method : {"GET", "OPTIONS", "PUT", "DELETE"}) {
      HTTPRequest r(url, method);
      if (std::string(method) == "PUT") r.body = "";
      auto resp = co_await fetch(std::move(r));
      std::string expected = status == 303 ? "GET" : method;
      BOOST_TEST(resp.body == expected, method << " after " << status);
    }
    HTTPRequest head(url, "HEAD");
    auto resp = co_await fetch(std::move(head));
    BOOST_TEST(resp.code == 200);
    BOOST_TEST(resp.body.empty());
  }
  for (int status : {307, 308}) {
    auto response = co_await fetch(post("/redirect?url=/echopost&status=" + std::to_string(status), "hi"));
    BOOST_TEST(response.body == "hi");
  }
}

TORNADO_GEN_TEST(test_gzip, ServerFixture) {
  HTTPRequest r(py_url("/gzip"));
  r.decompress_response = false;
  r.headers.set("Accept-Encoding", "gzip");
  auto response = co_await http_client->fetch(std::move(r));
  BOOST_TEST(*response.headers.get("Content-Encoding") == "gzip");
  BOOST_TEST(response.body != "asdfqwer");
  BOOST_TEST(response.body.starts_with("\x1f\x8b"));

  // decompress_response (the default): Accept-Encoding sent, the body decoded.
  response = co_await http_client->fetch(py_url("/gzip"));
  BOOST_TEST(response.body == "asdfqwer");
  BOOST_TEST(!response.headers.contains("Content-Encoding"));
  BOOST_TEST(*response.headers.get("X-Consumed-Content-Encoding") == "gzip");
}

TORNADO_GEN_TEST(test_header_callback, ServerFixture) {
  std::vector<std::string> lines;
  HTTPRequest r("/chunk");
  r.header_callback = [&](std::string line) { lines.push_back(std::move(line)); };
  auto response = co_await fetch(std::move(r));
  BOOST_TEST(response.body == "asdfqwer");
  BOOST_REQUIRE(lines.size() >= 3u);
  BOOST_TEST(lines.front() == "HTTP/1.1 200 OK\r\n");
  BOOST_TEST(lines.back() == "\r\n");
  bool chunked = false;
  for (auto& l : lines) chunked = chunked || l == "Transfer-Encoding: chunked\r\n";
  BOOST_TEST(chunked);
}

TORNADO_GEN_TEST(test_future_http_error, ServerFixture) {
  bool raised = false;
  // [docs: fetch]
  try {
    co_await http_client->fetch(get_url("/notfound"));
  } catch (const HTTPClientError& e) {
    // [docs: end]
    raised = true;
    BOOST_TEST(e.code == 404);
    BOOST_TEST(std::string(e.what()) == "HTTP 404: Not Found");
    BOOST_REQUIRE(e.response);
    BOOST_TEST(e.response->code == 404);
    BOOST_TEST(e.response->body == "not found");
  }
  BOOST_TEST(raised);
}

TORNADO_GEN_TEST(test_future_http_error_no_raise, ServerFixture) {
  auto response = co_await fetch("/notfound", false);
  BOOST_TEST(response.code == 404);
  BOOST_TEST(response.body == "not found");
  BOOST_TEST(static_cast<bool>(response.error));
  BOOST_CHECK_THROW(response.rethrow(), HTTPClientError);
}

TORNADO_GEN_TEST(test_reuse_request_from_response, ServerFixture) {
  auto response = co_await fetch("/hello");
  BOOST_TEST(response.request.url == get_url("/hello"));
  auto response2 = co_await http_client->fetch(response.request);
  BOOST_TEST(response2.body == "Hello world!");
}

TORNADO_GEN_TEST(test_all_methods, ServerFixture) {
  for (const char* method : {"GET", "DELETE", "OPTIONS"}) {
    auto response = co_await fetch(HTTPRequest("/method", method));
    BOOST_TEST(response.body == method);
  }
  for (const char* method : {"POST", "PUT", "PATCH"}) {
    HTTPRequest r("/method", method);
    r.body = "";
    auto response = co_await fetch(std::move(r));
    BOOST_TEST(response.body == method);
  }
  auto response = co_await fetch(HTTPRequest("/method", "HEAD"));
  BOOST_TEST(response.body.empty());
  BOOST_TEST(response.code == 200);
}

TORNADO_GEN_TEST(test_body_sanity_checks, ServerFixture) {
  // A body on GET, no body on POST: refused before anything is sent.
  for (auto [method, body] : {std::pair<const char*, bool>{"GET", true}, {"POST", false}, {"PUT", false}}) {
    HTTPRequest r("/method", method);
    if (body) r.body = "data";
    bool raised = false;
    try {
      co_await fetch(std::move(r));
    } catch (const std::invalid_argument& e) {
      raised = std::string(e.what()).find("Body must") != std::string::npos;
    }
    BOOST_TEST(raised, method);
  }
}

TORNADO_GEN_TEST(test_put_307, ServerFixture) {
  HTTPRequest r("/redirect?url=/echopost&status=307", "PUT");
  r.body = "hello";
  auto response = co_await fetch(std::move(r), true);
  BOOST_TEST(response.body == "hello");
}

TORNADO_GEN_TEST(test_response_times, ServerFixture) {
  auto response = co_await fetch("/hello");
  BOOST_TEST(response.request_time >= 0);
  BOOST_TEST(response.request_time < 5);
  BOOST_TEST(response.start_time > 1.0e9);  // wall clock, seconds since the epoch
}

BOOST_AUTO_TEST_SUITE_END()

// --- Redirect credentials (not in Tornado 6.2's suite) ------------------------------------------

BOOST_AUTO_TEST_SUITE(RedirectCredentialsTest)

TORNADO_GEN_TEST(test_cross_origin_redirect_strips_credentials, ServerFixture) {
  // Our server redirects to the Python server: another port, so another origin.
  HTTPRequest r("/redirect?url=" + py_url("/echo_headers") + "&status=302");
  r.headers.set("Authorization", "Basic c2VjcmV0");
  r.headers.set("Cookie", "session=1");
  auto response = co_await fetch(std::move(r));
  BOOST_TEST(response.body == "Authorization=;Cookie=");
  BOOST_TEST(response.effective_url == py_url("/echo_headers"));

  HTTPRequest r2("/redirect?url=" + py_url("/echo_headers") + "&status=302");
  r2.auth_username = "me";
  r2.auth_password = "secret";
  response = co_await fetch(std::move(r2));
  BOOST_TEST(response.body == "Authorization=;Cookie=");
}

TORNADO_GEN_TEST(test_same_origin_redirect_keeps_credentials, ServerFixture) {
  HTTPRequest r("/redirect?url=/echo_headers&status=302");
  r.headers.set("Authorization", "Basic c2VjcmV0");
  r.headers.set("Cookie", "session=1");
  auto response = co_await fetch(std::move(r));
  BOOST_TEST(response.body == "Authorization=Basic c2VjcmV0;Cookie=session=1");
}

BOOST_AUTO_TEST_SUITE_END()

// --- simple_httpclient_test.py: SimpleHTTPClientTestMixin --------------------------------------

BOOST_AUTO_TEST_SUITE(SimpleHTTPClientTestMixin)

TORNADO_GEN_TEST(test_max_redirects, ServerFixture) {
  HTTPRequest r("/countdown/5");
  r.max_redirects = 3;
  auto response = co_await fetch(std::move(r));
  // Three redirects followed: the fourth is returned as it is.
  BOOST_TEST(response.code == 302);
  BOOST_TEST(response.request.url.ends_with("/countdown/5"));
  BOOST_TEST(response.effective_url.ends_with("/countdown/2"));
  BOOST_TEST(response.headers.get("Location", "").ends_with("/countdown/1"));
}

TORNADO_GEN_TEST(test_see_other_redirect, ServerFixture) {
  auto response = co_await fetch(post("/redirect?url=/method&status=303", "x"));
  BOOST_TEST(response.body == "GET");
  BOOST_TEST(response.effective_url.ends_with("/method"));
}

TORNADO_GEN_TEST(test_connection_refused, ServerFixture) {
  auto sock = tornado::testing::bind_unused_port();
  int closed_port = sock.port;
  ::close(sock.fd);
  bool raised = false;
  try {
    co_await http_client->fetch("http://127.0.0.1:" + std::to_string(closed_port) + "/", false);
  } catch (const httpclient::HTTPStreamClosedError& e) {
    raised = true;
    BOOST_TEST(e.code == 599);
    BOOST_TEST(std::string(e.what()).find("refused") != std::string::npos, e.what());
  }
  BOOST_TEST(raised);
}

TORNADO_GEN_TEST(test_request_timeout, ServerFixture) {
  HTTPRequest r("/hang");
  r.request_timeout = 0.1;
  bool raised = false;
  try {
    co_await fetch(std::move(r));
  } catch (const httpclient::HTTPTimeoutError& e) {
    raised = true;
    BOOST_TEST(e.code == 599);
    BOOST_TEST(std::string(e.what()) == "HTTP 599: Timeout during request");
  }
  BOOST_TEST(raised);
}

TORNADO_GEN_TEST(test_queue_timeout, ServerFixture) {
  http_client = AsyncHTTPClient::instance(true, {.max_clients = 1});
  HTTPRequest hang("/hang");
  hang.request_timeout = 0.5;
  auto first = fetch(std::move(hang));
  HTTPRequest queued("/hello");
  queued.connect_timeout = 0.1;
  bool raised = false;
  try {
    co_await fetch(std::move(queued));
  } catch (const httpclient::HTTPTimeoutError& e) {
    raised = std::string(e.what()) == "HTTP 599: Timeout in request queue";
  }
  BOOST_TEST(raised);
  BOOST_CHECK_THROW(co_await first, httpclient::HTTPTimeoutError);
}

TORNADO_GEN_TEST(test_user_agent, ServerFixture) {
  BOOST_TEST((co_await fetch("/user_agent")).body == "Tornado/6.2");
  HTTPRequest r("/user_agent");
  r.user_agent = "TestDefaultUserAgent";
  BOOST_TEST((co_await fetch(std::move(r))).body == "TestDefaultUserAgent");
}

TORNADO_GEN_TEST(test_instance_per_loop, ServerFixture) {
  auto a = AsyncHTTPClient::instance();
  auto b = AsyncHTTPClient::instance();
  BOOST_TEST(a.get() == b.get());
  BOOST_TEST(AsyncHTTPClient::instance(true).get() != a.get());
  a->close();
  BOOST_TEST(AsyncHTTPClient::instance().get() != a.get());
  BOOST_CHECK_THROW(a->fetch(get_url("/hello")), std::runtime_error);
  co_return;
}

BOOST_AUTO_TEST_SUITE_END()

// --- HTTPS: simple_httpclient_test.py SimpleHTTPSClientTestCase -------------------------------

BOOST_AUTO_TEST_SUITE(SimpleHTTPSClientTestCase)

TORNADO_GEN_TEST(test_ssl_options, HTTPSFixture) {
  HTTPRequest r("https://localhost:" + std::to_string(port) + "/hello");
  r.ca_certs = data_file("ca.crt");
  auto response = co_await http_client->fetch(std::move(r));
  BOOST_TEST(response.body == "Hello world!");
}

TORNADO_GEN_TEST(test_ssl_options_handshake_fail, HTTPSFixture) {
  // Without our CA the server's certificate does not verify.
  tornado::testing::ExpectLog expect("tornado.general", ".*", false);
  HTTPRequest r("https://localhost:" + std::to_string(port) + "/hello");
  r.ca_certs = data_file("other.crt");
  BOOST_CHECK_THROW(co_await http_client->fetch(std::move(r)), std::exception);
}

TORNADO_GEN_TEST(test_validate_cert_false, HTTPSFixture) {
  HTTPRequest r("https://127.0.0.1:" + std::to_string(port) + "/hello");
  r.validate_cert = false;
  auto response = co_await http_client->fetch(std::move(r));
  BOOST_TEST(response.body == "Hello world!");
}

BOOST_AUTO_TEST_SUITE_END()

// --- httpclient_test.py: HTTPResponseTestCase, HTTPErrorTestCase, SyncHTTPClientTest ------------

BOOST_AUTO_TEST_SUITE(HTTPErrorTestCase)

BOOST_AUTO_TEST_CASE(test_plain_error) {
  HTTPClientError e(403);
  BOOST_TEST(std::string(e.what()) == "HTTP 403: Forbidden");
}

BOOST_AUTO_TEST_CASE(test_error_with_response) {
  HTTPResponse resp(HTTPRequest("http://example.com/"), 403);
  BOOST_CHECK_THROW(resp.rethrow(), HTTPClientError);
  try {
    resp.rethrow();
  } catch (const HTTPClientError& e) {
    BOOST_TEST(std::string(e.what()) == "HTTP 403: Forbidden");
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(SyncHTTPClientTest)

BOOST_AUTO_TEST_CASE(test_sync_client) {
  httpclient::HTTPClient client;
  auto response = client.fetch(py_url("/hello"));
  BOOST_TEST(response.body == "Hello world!");
}

BOOST_AUTO_TEST_CASE(test_sync_client_keep_alive) {
  // The pooled connection waits between fetches while the client's loop is stopped, and is
  // reused (or, if the server dropped it meanwhile, replaced) by the next fetch.
  httpclient::HTTPClient client;
  for (int i = 0; i < 3; ++i) BOOST_TEST(client.fetch(py_url("/hello")).body == "Hello world!");
  BOOST_TEST(client.fetch(post(py_url("/echo_post"), "abc")).body == "abc");
}

BOOST_AUTO_TEST_CASE(test_sync_client_error) {
  httpclient::HTTPClient client;
  try {
    client.fetch(py_url("/notfound"));
    BOOST_ERROR("no exception");
  } catch (const HTTPClientError& e) {
    BOOST_TEST(e.code == 404);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// --- Keep-alive connection reuse (beyond Tornado: tornado issues #324 and #2619) ---------------

namespace {

// Serves `requests` requests on a connection with `ok` (keep-alive), then, if `close_on_next`,
// reads one more request and closes without answering: a server that closed an idle connection
// just as the client reused it. `seen` counts the requests read.
Future<void> serve_then_drop(std::shared_ptr<iostream::IOStream> stream, int requests, bool close_on_next,
                             std::shared_ptr<int> seen) {
  for (int i = 0; i < requests; ++i) {
    co_await stream->read_until("\r\n\r\n");
    ++*seen;
    co_await stream->write(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  }
  if (close_on_next) {
    co_await stream->read_until("\r\n\r\n");
    ++*seen;
    stream->close();
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(KeepAliveTest)

TORNADO_GEN_TEST(test_sequential_fetches_share_one_connection, ServerFixture) {
  for (int i = 0; i < 5; ++i) {
    auto response = co_await fetch("/hello");
    BOOST_TEST(response.body == "Hello world!");
    // The connection is back in the pool before the response is handed over.
    BOOST_TEST(http_client->idle_connection_count() == 1u);
  }
  BOOST_TEST(connections_seen.size() == 1u);
  // No Connection header: HTTP/1.1 persists by default.
  BOOST_TEST(!last_headers.contains("Connection"));
  // A POST, a redirect chain and a HEAD go on the same connection too.
  BOOST_TEST((co_await fetch(post("/echopost", "abc"))).body == "abc");
  BOOST_TEST((co_await fetch("/countdown/3")).body == "Zero");
  BOOST_TEST((co_await fetch(HTTPRequest("/hello", "HEAD"))).code == 200);
  BOOST_TEST((co_await fetch("/hello")).body == "Hello world!");
  BOOST_TEST(connections_seen.size() == 1u);
}

TORNADO_GEN_TEST(test_connection_close_response_not_reused, ServerFixture) {
  auto response = co_await fetch("/close");
  BOOST_TEST(response.body == "closing");
  BOOST_TEST(http_client->idle_connection_count() == 0u);
  response = co_await fetch("/close");
  BOOST_TEST(http_client->idle_connection_count() == 0u);
  BOOST_TEST(connections_seen.size() == 2u);
  // A request that asks for Connection: close is not reused either.
  HTTPRequest r("/hello");
  r.headers.set("Connection", "close");
  BOOST_TEST((co_await fetch(std::move(r))).body == "Hello world!");
  BOOST_TEST(http_client->idle_connection_count() == 0u);
  BOOST_TEST(connections_seen.size() == 3u);
}

TORNADO_GEN_TEST(test_error_status_keeps_connection, ServerFixture) {
  // A complete 404 is a complete response: the connection is reused.
  BOOST_TEST((co_await fetch("/notfound")).code == 404);
  BOOST_TEST((co_await fetch("/hello")).code == 200);
  BOOST_TEST(connections_seen.size() == 1u);
}

TORNADO_GEN_TEST(test_pooling_disabled_sends_connection_close, ServerFixture) {
  http_client = AsyncHTTPClient::instance(true, {.max_idle_connections_per_host = 0});
  co_await fetch("/hello");
  BOOST_TEST(last_headers.get("Connection", "") == "close");
  co_await fetch("/hello");
  BOOST_TEST(connections_seen.size() == 2u);
  BOOST_TEST(http_client->idle_connection_count() == 0u);
}

TORNADO_GEN_TEST(test_per_host_cap, ServerFixture) {
  http_client = AsyncHTTPClient::instance(true, {.max_idle_connections_per_host = 2});
  std::vector<Future<HTTPResponse>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(fetch("/hello"));
  for (auto& f : futures) BOOST_TEST((co_await f).body == "Hello world!");
  BOOST_TEST(connections_seen.size() == 4u);
  BOOST_TEST(http_client->idle_connection_count() == 2u);
  // Another host (the Python server) has a pool of its own.
  co_await http_client->fetch(py_url("/hello"));
  BOOST_TEST(http_client->idle_connection_count() == 3u);
}

TORNADO_GEN_TEST(test_default_cap_is_max_clients, ServerFixture) {
  // Unset, the cap is max_clients: every connection of a burst goes back to the pool, and the
  // next burst reuses them all (a smaller cap would close some, and open them again).
  http_client = AsyncHTTPClient::instance(true, {.max_clients = 6});
  for (int round = 0; round < 3; ++round) {
    std::vector<Future<HTTPResponse>> futures;
    for (int i = 0; i < 6; ++i) futures.push_back(fetch("/hello"));
    for (auto& f : futures) BOOST_TEST((co_await f).body == "Hello world!");
    BOOST_TEST(http_client->idle_connection_count() == 6u);
  }
  BOOST_TEST(connections_seen.size() == 6u);
}

TORNADO_GEN_TEST(test_idle_timeout_each_connection, ServerFixture) {
  // One timer serves the pool: each connection still goes when its own idle time is up.
  http_client = AsyncHTTPClient::instance(true, {.idle_connection_timeout = 0.5});
  std::vector<Future<HTTPResponse>> futures;
  for (int i = 0; i < 2; ++i) futures.push_back(fetch("/hello"));
  for (auto& f : futures) co_await f;
  BOOST_TEST(http_client->idle_connection_count() == 2u);
  co_await gen::sleep(0.25);
  // Busy again, then idle from now: it outlives the other by 0.25 s.
  co_await fetch("/hello");
  BOOST_TEST(http_client->idle_connection_count() == 2u);
  co_await gen::sleep(0.35);
  BOOST_TEST(http_client->idle_connection_count() == 1u);
  co_await gen::sleep(0.3);
  BOOST_TEST(http_client->idle_connection_count() == 0u);
}

TORNADO_GEN_TEST(test_idle_timeout, ServerFixture) {
  http_client = AsyncHTTPClient::instance(true, {.idle_connection_timeout = 0.05});
  co_await fetch("/hello");
  BOOST_TEST(http_client->idle_connection_count() == 1u);
  co_await gen::sleep(0.2);
  BOOST_TEST(http_client->idle_connection_count() == 0u);
  co_await fetch("/hello");
  BOOST_TEST(connections_seen.size() == 2u);
}

TORNADO_GEN_TEST(test_close_closes_idle_connections, ServerFixture) {
  co_await fetch("/hello");
  BOOST_TEST(http_client->idle_connection_count() == 1u);
  http_client->close();
  BOOST_TEST(http_client->idle_connection_count() == 0u);
  // The server notices the connection closed.
  for (int i = 0; i < 100 && server->connection_count() > 0; ++i) co_await gen::sleep(0.01);
  BOOST_TEST(server->connection_count() == 0u);
}

TORNADO_GEN_TEST(test_server_closing_idle_connection_is_noticed, ServerFixture) {
  auto seen = std::make_shared<int>(0);
  RawServer raw([seen](std::shared_ptr<iostream::IOStream> s, int) { return serve_then_drop(s, 1, false, seen); });
  BOOST_TEST((co_await http_client->fetch(raw.url())).body == "ok");
  // The server closed the connection after its answer: the pool forgets it without a request.
  for (int i = 0; i < 100 && http_client->idle_connection_count() > 0; ++i) co_await gen::sleep(0.01);
  BOOST_TEST(http_client->idle_connection_count() == 0u);
  BOOST_TEST((co_await http_client->fetch(raw.url())).body == "ok");
  BOOST_TEST(raw.accepted == 2);
  BOOST_TEST(*seen == 2);
}

TORNADO_GEN_TEST(test_stale_connection_retried, ServerFixture) {
  auto seen = std::make_shared<int>(0);
  RawServer raw([seen](std::shared_ptr<iostream::IOStream> s, int index) {
    // The first connection answers once, then drops the second request it reads.
    return serve_then_drop(s, 1, index == 0, seen);
  });
  BOOST_TEST((co_await http_client->fetch(raw.url())).body == "ok");
  BOOST_TEST(http_client->idle_connection_count() == 1u);
  auto response = co_await http_client->fetch(raw.url());
  BOOST_TEST(response.body == "ok");
  BOOST_TEST(raw.accepted == 2);
  BOOST_TEST(*seen == 3);  // once, twice on the first connection, once on the second
}

TORNADO_GEN_TEST(test_stale_connection_not_retried_for_post, ServerFixture) {
  auto seen = std::make_shared<int>(0);
  RawServer raw([seen](std::shared_ptr<iostream::IOStream> s, int index) {
    return serve_then_drop(s, 1, index == 0, seen);
  });
  BOOST_TEST((co_await http_client->fetch(raw.url())).body == "ok");
  // A POST may have had its effect: it is not sent again.
  bool raised = false;
  try {
    co_await http_client->fetch(post(raw.url(), "x"));
  } catch (const httpclient::HTTPStreamClosedError& e) {
    raised = true;
    BOOST_TEST(e.code == 599);
  }
  BOOST_TEST(raised);
  BOOST_TEST(raw.accepted == 1);
  BOOST_TEST(*seen == 2);
}

TORNADO_GEN_TEST(test_response_before_body_sent, ServerFixture) {
  // The server answers as soon as it has the head, while the client still has most of a large
  // body queued: the response is delivered, and the connection (still writing) is not reused.
  RawServer raw([](std::shared_ptr<iostream::IOStream> s, int) -> Future<void> {
    return [](std::shared_ptr<iostream::IOStream> s) -> Future<void> {
      co_await s->read_until("\r\n\r\n");
      co_await s->write(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
      co_await gen::sleep(0.2);
      s->close();
    }(s);
  });
  HTTPRequest r(raw.url(), "POST");
  r.body_producer = [](HTTPRequest::WriteFunction write) -> Future<void> {
    (void)write(std::string(16 << 20, 'x'));  // queued, not awaited: finish() comes before the flush
    co_return;
  };
  auto response = co_await http_client->fetch(std::move(r));
  BOOST_TEST(response.body == "ok");
  BOOST_TEST(http_client->idle_connection_count() == 0u);
  co_await gen::sleep(0.3);
}

TORNADO_GEN_TEST(test_connection_destroyed_before_last_write, ServerFixture) {
  // The client side of HTTP1Connection may be destroyed (response already in, or a stale pooled
  // connection given up) while its last write is still queued: when that write later completes or
  // fails, nothing may touch the destroyed connection (asan checks this).
  auto held = std::make_shared<std::vector<std::shared_ptr<iostream::IOStream>>>();
  RawServer raw([held](std::shared_ptr<iostream::IOStream> s, int) -> Future<void> {
    held->push_back(s);  // kept open, never read: the client's socket buffer fills up
    return [](std::shared_ptr<iostream::IOStream>) -> Future<void> { co_return; }(s);
  });
  std::shared_ptr<iostream::IOStream> stream(
      co_await tcpclient::TCPClient().connect("127.0.0.1", static_cast<std::uint16_t>(raw.port)));
  {
    http1connection::HTTP1Connection conn(stream, true);
    co_await conn.write_headers(httputil::RequestStartLine{"POST", "/", ""}, {});  // chunked
    (void)conn.write(std::string(16 << 20, 'x'));
    conn.finish();  // the terminating chunk waits behind 16 MiB the server does not read
    BOOST_TEST(stream->writing());
  }
  stream->close();  // fails the queued writes: their callbacks run on a later iteration
  co_await gen::sleep(0.05);
  for (auto& s : *held) s->close();
}

TORNADO_GEN_TEST(test_https_connection_reused, HTTPSFixture) {
  for (int i = 0; i < 3; ++i) {
    HTTPRequest r("https://localhost:" + std::to_string(port) + "/hello");
    r.ca_certs = data_file("ca.crt");
    BOOST_TEST((co_await http_client->fetch(std::move(r))).body == "Hello world!");
  }
  BOOST_TEST(connections_seen.size() == 1u);
  // Other TLS settings make another connection.
  HTTPRequest r("https://localhost:" + std::to_string(port) + "/hello");
  r.validate_cert = false;
  BOOST_TEST((co_await http_client->fetch(std::move(r))).body == "Hello world!");
  BOOST_TEST(connections_seen.size() == 2u);
}

TORNADO_GEN_TEST(test_python_server_connection_reused, ServerFixture) {
  // Python Tornado's server keeps HTTP/1.1 connections alive too.
  auto a = co_await http_client->fetch(py_url("/hello"));
  auto b = co_await http_client->fetch(py_url("/chunk"));
  BOOST_TEST(b.body == "asdfqwer");
  BOOST_TEST(http_client->idle_connection_count() == 1u);
  co_return;
}

BOOST_AUTO_TEST_SUITE_END()

// Beyond Tornado: the parts of a URL that go into the request line and Host, for the URLs the
// client parses itself (plain ones) and for those it leaves to Boost.URL.
BOOST_AUTO_TEST_SUITE(URLTest)

TORNADO_GEN_TEST(test_request_line_from_url, ServerFixture) {
  auto heads = std::make_shared<std::vector<std::string>>();
  RawServer raw([heads](std::shared_ptr<iostream::IOStream> s, int) -> Future<void> {
    return [](std::shared_ptr<iostream::IOStream> s, std::shared_ptr<std::vector<std::string>> heads) -> Future<void> {
      // Until the client closes the connection (which may be after the test's end).
      try {
        for (;;) {
          heads->push_back(co_await s->read_until("\r\n\r\n"));
          co_await s->write(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        }
      } catch (const iostream::StreamClosedError&) {
      }
    }(s, heads);
  });
  std::string authority = "127.0.0.1:" + std::to_string(raw.port);
  auto request_line = [&](const std::string& url) -> Future<std::string> {
    return [](std::shared_ptr<AsyncHTTPClient> client, std::string url,
              std::shared_ptr<std::vector<std::string>> heads) -> Future<std::string> {
      BOOST_TEST((co_await client->fetch(url)).body == "ok");
      const std::string& head = heads->back();
      co_return head.substr(0, head.find("\r\n"));
    }(http_client, url, heads);
  };
  BOOST_TEST(co_await request_line("http://" + authority + "/a%20b/c;d=1,e@f:g") == "GET /a%20b/c;d=1,e@f:g HTTP/1.1");
  BOOST_TEST(co_await request_line("HTTP://" + authority + "/q?x=1&y=%2F/?z") == "GET /q?x=1&y=%2F/?z HTTP/1.1");
  BOOST_TEST(co_await request_line("http://" + authority) == "GET / HTTP/1.1");
  BOOST_TEST(co_await request_line("http://" + authority + "?") == "GET /? HTTP/1.1");
  BOOST_TEST(co_await request_line("http://" + authority + "?k=v") == "GET /?k=v HTTP/1.1");
  // A fragment is not sent (RFC 9110 7.1).
  BOOST_TEST(co_await request_line("http://" + authority + "/f?g#frag") == "GET /f?g HTTP/1.1");
  BOOST_TEST(heads->back().find("\r\nHost: " + authority + "\r\n") != std::string::npos);
  // A port with leading zeros is the same port, and Host keeps it as written.
  std::string zeros = "127.0.0.1:00" + std::to_string(raw.port);
  BOOST_TEST(co_await request_line("http://" + zeros + "/z") == "GET /z HTTP/1.1");
  BOOST_TEST(heads->back().find("\r\nHost: " + zeros + "\r\n") != std::string::npos);
  // One connection for all of them: the pool key does not depend on how the URL was written.
  BOOST_TEST(raw.accepted == 1);
  // Not URLs: refused before any connection is made.
  for (std::string bad : {"http://" + authority + "/a b", "http://" + authority + "/%zz", "http://" + authority + "/%2",
                          std::string("127.0.0.1/x"), "http://" + authority + ":1/"}) {
    bool raised = false;
    try {
      co_await http_client->fetch(bad);
    } catch (const std::invalid_argument&) {
      raised = true;
    }
    BOOST_TEST(raised, bad);
  }
  BOOST_TEST(raw.accepted == 1);
}

BOOST_AUTO_TEST_SUITE_END()

// --- Ports of the rest of httpclient_test.py and simple_httpclient_test.py ---------------------

namespace {

// Reads a request head and answers with `response` as it is, then closes: the raw-socket servers
// of simple_httpclient_test.py (test_chunked_close, test_multi_line_headers...).
Future<void> answer_raw(std::shared_ptr<iostream::IOStream> stream, std::string response) {
  co_await stream->read_until("\r\n\r\n");
  co_await stream->write(std::move(response));
  stream->close();
}

RawServer raw_answer(std::string response) {
  return RawServer([response](std::shared_ptr<iostream::IOStream> s, int) { return answer_raw(s, response); });
}

// A resolver that never answers (until destroyed): simple_httpclient_test.py's TimeoutResolver
// and BadResolver.
struct HangingResolver : netutil::Resolver {
  std::vector<Future<std::vector<netutil::ResolvedAddress>>> pending;
  Future<std::vector<netutil::ResolvedAddress>> resolve(std::string, std::uint16_t, int) override {
    pending.emplace_back();
    return pending.back();
  }
};

template <class E, class F>
Future<bool> raises(F&& make_future) {
  try {
    co_await make_future();
  } catch (const E&) {
    co_return true;
  }
  co_return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(HTTPClientCommonTestCase2)

TORNADO_GEN_TEST(test_patch_receives_payload, ServerFixture) {
  HTTPRequest r(py_url("/patch"), "PATCH");
  r.body = "some patch data";
  BOOST_TEST((co_await http_client->fetch(std::move(r))).body == "some patch data");
}

TORNADO_GEN_TEST(test_chunked_close, ServerFixture) {
  // The last chunks and the close arrive together.
  auto raw = raw_answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n1\r\n1\r\n2\r\n0\r\n\r\n");
  auto response = co_await http_client->fetch(raw.url());
  BOOST_TEST(response.body == "12");
}

TORNADO_GEN_TEST(test_basic_auth_unicode, ServerFixture) {
  // UTF-8 credentials, as Tornado 6 (and curl) encode them.
  HTTPRequest r(py_url("/auth"));
  r.auth_username = "test";
  r.auth_password = "123\xc2\xa3";
  BOOST_TEST((co_await http_client->fetch(std::move(r))).body == "Basic dGVzdDoxMjPCow==");
  HTTPRequest r2(py_url("/auth"));
  r2.auth_username = "\xd1\x82\xd0\xb5\xd1\x81\xd1\x82";
  r2.auth_password = "\xd0\xbf\xd0\xb0\xd1\x80\xd0\xbe\xd0\xbb\xd1\x8c";
  BOOST_TEST((co_await http_client->fetch(std::move(r2))).body == "Basic 0YLQtdGB0YI60L/QsNGA0L7Qu9GM");
}

TORNADO_GEN_TEST(test_invalid_gzip, ServerFixture) {
  // Tornado accepts either outcome; what matters is that the client does not hang.
  tornado::testing::ExpectLog expect("tornado.application", "(Uncaught exception|Exception in callback)", false);
  try {
    auto response = co_await http_client->fetch(py_url("/invalid_gzip"));
    BOOST_TEST(response.code == 200);
    BOOST_TEST(response.body.substr(0, 14) == "Hello World 0\n");
  } catch (const HTTPClientError&) {
  } catch (const httputil::HTTPInputError&) {
  }
}

TORNADO_GEN_TEST(test_configure_defaults, ServerFixture) {
  HTTPRequest defaults;
  defaults.user_agent = "TestDefaultUserAgent";
  defaults.allow_ipv6 = false;
  auto client = AsyncHTTPClient::instance(true, {.defaults = defaults});
  BOOST_TEST((co_await client->fetch(get_url("/user_agent"))).body == "TestDefaultUserAgent");
  client->close();
}

TORNADO_GEN_TEST(test_multi_line_headers, ServerFixture) {
  // Obsolete line folding (RFC 9112 5.2) is rare but allowed in responses.
  auto raw = raw_answer("HTTP/1.1 200 OK\r\nX-XSS-Protection: 1;\r\n\tmode=block\r\n\r\n");
  auto response = co_await http_client->fetch(raw.url());
  BOOST_TEST(response.headers.get("X-XSS-Protection", "") == "1; mode=block");
}

TORNADO_GEN_TEST(test_header_encoding, ServerFixture) {
  // Bytes beyond ASCII (obs-text, Latin-1 in Tornado's test) pass through unchanged.
  HTTPRequest r("/header?name=Foo");
  r.headers.set("Foo", "b\xe4r");
  BOOST_TEST((co_await fetch(std::move(r))).body == "b\xe4r");
}

TORNADO_GEN_TEST(test_304_with_content_length, ServerFixture) {
  auto response = co_await fetch("/304_with_content_length");
  BOOST_TEST(response.code == 304);
  BOOST_TEST(response.headers.get("Content-Length", "") == "42");
  BOOST_TEST(response.body.empty());
  // The connection stays usable: nothing was left to read.
  BOOST_TEST((co_await fetch("/hello")).body == "Hello world!");
  BOOST_TEST(connections_seen.size() == 1u);
}

TORNADO_GEN_TEST(test_future_interface, ServerFixture) {
  auto response = co_await http_client->fetch(get_url("/hello"));
  BOOST_TEST(response.body == "Hello world!");
}

TORNADO_GEN_TEST(test_bind_source_ip, ServerFixture) {
  HTTPRequest r(get_url("/hello"));
  r.network_interface = "127.0.0.1";
  BOOST_TEST((co_await http_client->fetch(std::move(r))).code == 200);
  HTTPRequest bad(get_url("/hello"));
  bad.network_interface = "not-interface-or-ip";
  bool raised = false;
  try {
    co_await http_client->fetch(std::move(bad));
  } catch (const std::invalid_argument& e) {
    raised = std::string(e.what()).find("not-interface-or-ip") != std::string::npos;
  }
  BOOST_TEST(raised);
}

TORNADO_GEN_TEST(test_all_methods_python, ServerFixture) {
  for (const char* method : {"GET", "DELETE", "OPTIONS"})
    BOOST_TEST((co_await http_client->fetch(HTTPRequest(py_url("/all_methods"), method))).body == method);
  for (const char* method : {"POST", "PUT", "PATCH"}) {
    HTTPRequest r(py_url("/all_methods"), method);
    r.body = "";
    BOOST_TEST((co_await http_client->fetch(std::move(r))).body == method);
  }
  BOOST_TEST((co_await http_client->fetch(HTTPRequest(py_url("/all_methods"), "HEAD"))).body.empty());
  HTTPRequest other(py_url("/all_methods"), "OTHER");
  other.allow_nonstandard_methods = true;
  BOOST_TEST((co_await http_client->fetch(std::move(other))).body == "OTHER");
  // Without allow_nonstandard_methods an unknown method is refused before sending.
  BOOST_TEST(co_await raises<std::invalid_argument>([&] {
    return http_client->fetch(HTTPRequest(py_url("/all_methods"), "OTHER"));
  }));
}

TORNADO_GEN_TEST(test_body_sanity_checks_producer, ServerFixture) {
  // A body_producer counts as a body: refused on GET, enough for POST.
  HTTPRequest r("/method", "GET");
  r.body_producer = [](HTTPRequest::WriteFunction) -> Future<void> { co_return; };
  BOOST_TEST(co_await raises<std::invalid_argument>([&] { return fetch(std::move(r)); }));
  HTTPRequest both("/method", "GET");
  both.body = "x";
  both.allow_nonstandard_methods = true;
  BOOST_TEST((co_await fetch(std::move(both))).body == "GET");
}

TORNADO_GEN_TEST(test_non_ascii_header, ServerFixture) {
  // A response header with a byte beyond ASCII reaches the caller as it was sent.
  auto raw = raw_answer("HTTP/1.1 200 OK\r\nFoo: \xe9\r\nContent-Length: 0\r\n\r\n");
  auto response = co_await http_client->fetch(raw.url());
  BOOST_TEST(response.headers.get("Foo", "") == "\xe9");
}

TORNADO_GEN_TEST(test_zero_timeout, ServerFixture) {
  HTTPRequest a("/hello");
  a.connect_timeout = 0;
  BOOST_TEST((co_await fetch(std::move(a))).code == 200);
  HTTPRequest b("/hello");
  b.request_timeout = 0;
  BOOST_TEST((co_await fetch(std::move(b))).code == 200);
  HTTPRequest c("/hello");
  c.connect_timeout = 0;
  c.request_timeout = 0;
  BOOST_TEST((co_await fetch(std::move(c))).code == 200);
}

TORNADO_GEN_TEST(test_error_after_cancel, ServerFixture) {
  auto fut = http_client->fetch(get_url("/404"));
  fut.cancel();
  tornado::testing::ExpectLog expect("tornado.application", "Exception after Future was cancelled");
  for (int i = 0; i < 100 && expect.matched() == 0; ++i) co_await gen::sleep(0.01);
}

TORNADO_GEN_TEST(test_if_modified_since, ServerFixture) {
  // httpclient_test.py's HTTPRequestTestCase.test_if_modified_since, seen from the server.
  double when = 1700000000.0;
  HTTPRequest r("/header?name=If-Modified-Since");
  r.if_modified_since = when;
  BOOST_TEST((co_await fetch(std::move(r))).body == httputil::format_timestamp(when));
  BOOST_TEST(httputil::format_timestamp(when) == "Tue, 14 Nov 2023 22:13:20 GMT");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(SimpleHTTPClientTestMixin2)

BOOST_AUTO_TEST_CASE(test_singleton) {
  // One client per loop, unless force_instance; another loop has a client of its own.
  auto make = [] { return AsyncHTTPClient::instance(); };
  ioloop::IOLoop loop1(false), loop2(false);
  auto c1 = loop1.run_sync(make);
  BOOST_TEST(c1.get() == loop1.run_sync(make).get());
  BOOST_TEST(c1.get() != loop1.run_sync([] { return AsyncHTTPClient::instance(true); }).get());
  auto c2 = loop2.run_sync(make);
  BOOST_TEST(c1.get() != c2.get());
  c1.reset();
  c2.reset();
  loop1.close();
  loop2.close();
}

TORNADO_GEN_TEST(test_connection_limit, ServerFixture) {
  // Requests past max_clients wait in the queue until a slot frees.
  auto triggers = std::make_shared<std::vector<Future<void>>>();
  RawServer raw([triggers](std::shared_ptr<iostream::IOStream> s, int) -> Future<void> {
    Future<void> trigger;
    triggers->push_back(trigger);
    return [](std::shared_ptr<iostream::IOStream> s, Future<void> trigger) -> Future<void> {
      co_await s->read_until("\r\n\r\n");
      co_await trigger;
      co_await s->write(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"));
      s->close();
    }(s, trigger);
  });
  auto client = AsyncHTTPClient::instance(true, {.max_clients = 2});
  BOOST_TEST(client->options().max_clients == 2u);
  std::vector<Future<HTTPResponse>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(client->fetch(raw.url()));
  for (int i = 0; i < 100 && triggers->size() < 2; ++i) co_await gen::sleep(0.01);
  BOOST_TEST(triggers->size() == 2u);
  BOOST_TEST(client->queued_count() == 2u);
  BOOST_TEST(client->active_count() == 2u);
  (*triggers)[0].set_result();
  (*triggers)[1].set_result();
  co_await futures[0];
  co_await futures[1];
  for (int i = 0; i < 100 && triggers->size() < 4; ++i) co_await gen::sleep(0.01);
  BOOST_TEST(triggers->size() == 4u);
  BOOST_TEST(client->queued_count() == 0u);
  (*triggers)[2].set_result();
  (*triggers)[3].set_result();
  BOOST_TEST((co_await futures[2]).body == "ok");
  BOOST_TEST((co_await futures[3]).body == "ok");
  client->close();
}

TORNADO_GEN_TEST(test_redirect_connection_limit, ServerFixture) {
  // Following redirects takes no extra slot.
  auto client = AsyncHTTPClient::instance(true, {.max_clients = 1});
  HTTPRequest r(get_url("/countdown/3"));
  r.max_redirects = 3;
  auto response = co_await client->fetch(std::move(r));
  BOOST_TEST(response.body == "Zero");
  client->close();
}

TORNADO_GEN_TEST(test_header_reuse, ServerFixture) {
  HTTPRequest r(get_url("/hello"));
  r.headers.set("User-Agent", "Foo");
  co_await http_client->fetch(r);
  auto all = r.headers.get_all();
  BOOST_REQUIRE(all.size() == 1u);
  BOOST_TEST(all[0].first == "User-Agent");
  BOOST_TEST(all[0].second == "Foo");
}

TORNADO_GEN_TEST(test_default_user_agent, ServerFixture) {
  auto response = co_await fetch("/user_agent");
  BOOST_TEST(response.code == 200);
  BOOST_TEST(response.body == "Tornado/6.2");
}

TORNADO_GEN_TEST(test_see_other_redirect_original_request, ServerFixture) {
  for (int code : {302, 303}) {
    auto response = co_await fetch(post("/see_other_post", std::to_string(code)));
    BOOST_TEST(response.code == 200);
    BOOST_TEST(response.body == "ok");
    BOOST_TEST(response.request.url.ends_with("/see_other_post"));
    BOOST_TEST(response.effective_url.ends_with("/see_other_get"));
    // The request is the original one, still a POST.
    BOOST_TEST(response.request.method == "POST");
  }
}

TORNADO_GEN_TEST(test_connect_timeout, ServerFixture) {
  auto resolver = std::make_shared<HangingResolver>();
  auto client = AsyncHTTPClient::instance(true, {.resolver = resolver});
  HTTPRequest r(get_url("/hello"));
  r.connect_timeout = 0.1;
  r.request_timeout = 3600;
  bool raised = false;
  try {
    co_await client->fetch(std::move(r));
  } catch (const httpclient::HTTPTimeoutError& e) {
    raised = std::string(e.what()) == "HTTP 599: Timeout while connecting";
  }
  BOOST_TEST(raised);
  client->close();
}

TORNADO_GEN_TEST(test_ipv6, ServerFixture) {
  // On ::1, the IPv6 loopback (the house rule keeps servers on loopback addresses).
  int fd = -1, v6port = 0;
  try {
    auto sock = tornado::testing::bind_unused_port(false, "::1");
    fd = sock.fd;
    v6port = sock.port;
  } catch (const std::exception&) {
    BOOST_TEST_MESSAGE("no IPv6 loopback: test_ipv6 skipped");
    co_return;
  }
  server->add_socket(fd);
  std::string url = "http://[::1]:" + std::to_string(v6port) + "/hello";
  HTTPRequest v4only(url);
  v4only.allow_ipv6 = false;
  BOOST_TEST(co_await raises<std::exception>([&] { return http_client->fetch(std::move(v4only)); }));
  BOOST_TEST((co_await http_client->fetch(url)).body == "Hello world!");
}

TORNADO_GEN_TEST(test_multiple_content_length_accepted, ServerFixture) {
  {
    auto raw = raw_answer("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
    BOOST_TEST((co_await http_client->fetch(raw.url())).body == "ok");
  }
  {
    tornado::testing::ExpectLog expect("tornado.general", ".*", false);
    auto raw = raw_answer("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nok");
    BOOST_TEST(co_await raises<httpclient::HTTPStreamClosedError>([&] { return http_client->fetch(raw.url()); }));
  }
}

TORNADO_GEN_TEST(test_head_request, ServerFixture) {
  auto response = co_await fetch(HTTPRequest("/head", "HEAD"));
  BOOST_TEST(response.code == 200);
  BOOST_TEST(response.headers.get("content-length", "") == "7");
  BOOST_TEST(response.body.empty());
}

TORNADO_GEN_TEST(test_options_request, ServerFixture) {
  auto response = co_await fetch(HTTPRequest("/options", "OPTIONS"));
  BOOST_TEST(response.code == 200);
  BOOST_TEST(response.headers.get("content-length", "") == "2");
  BOOST_TEST(response.headers.get("access-control-allow-origin", "") == "*");
  BOOST_TEST(response.body == "ok");
}

TORNADO_GEN_TEST(test_no_content, ServerFixture) {
  auto response = co_await fetch("/no_content");
  BOOST_TEST(response.code == 204);
  BOOST_TEST(!response.headers.contains("Content-Length"));
  BOOST_TEST(response.body.empty());
}

TORNADO_GEN_TEST(test_host_header, ServerFixture) {
  auto is_host = [](const std::string& s) {
    return s.starts_with("127.0.0.1:") && s.size() > 10 &&
           s.find_first_not_of("0123456789", 10) == std::string::npos;
  };
  auto response = co_await fetch("/header?name=Host");
  BOOST_TEST(is_host(response.body), response.body);
  // Credentials in the URL stay out of Host.
  std::string url = get_url("/header?name=Host");
  url.replace(0, 7, "http://me:secret@");
  response = co_await http_client->fetch(url);
  BOOST_TEST(is_host(response.body), response.body);
}

TORNADO_GEN_TEST(test_no_content_length, ServerFixture) {
  // An HTTP/1.0 body delimited by the end of the connection.
  auto raw = raw_answer("HTTP/1.0 200 OK\r\n\r\nhello");
  BOOST_TEST((co_await http_client->fetch(raw.url())).body == "hello");
  BOOST_TEST(http_client->idle_connection_count() == 0u);
}

namespace {
Future<void> sync_body_producer(HTTPRequest::WriteFunction write) {
  (void)write("1234");
  (void)write("5678");
  co_return;
}
// [docs: body_producer]
Future<void> async_body_producer(HTTPRequest::WriteFunction write) {
  co_await write("1234");
  co_await gen::moment;
  co_await write("5678");
}
// [docs: end]
}  // namespace

TORNADO_GEN_TEST(test_sync_body_producer_chunked, ServerFixture) {
  HTTPRequest r("/echopost", "POST");
  r.body_producer = sync_body_producer;
  BOOST_TEST((co_await fetch(std::move(r))).body == "12345678");
  BOOST_TEST(last_headers.get("Transfer-Encoding", "") == "chunked");
}

TORNADO_GEN_TEST(test_sync_body_producer_content_length, ServerFixture) {
  HTTPRequest r("/echopost", "POST");
  r.body_producer = sync_body_producer;
  r.headers.set("Content-Length", "8");
  BOOST_TEST((co_await fetch(std::move(r))).body == "12345678");
  BOOST_TEST(!last_headers.contains("Transfer-Encoding"));
}

TORNADO_GEN_TEST(test_async_body_producer_chunked, ServerFixture) {
  // [docs: body_producer_use]
  HTTPRequest r("/echopost", "POST");
  r.body_producer = async_body_producer;
  BOOST_TEST((co_await fetch(std::move(r))).body == "12345678");
  // [docs: end]
  // And against Python Tornado's server.
  HTTPRequest p(py_url("/echo_post"), "POST");
  p.body_producer = async_body_producer;
  BOOST_TEST((co_await http_client->fetch(std::move(p))).body == "12345678");
}

TORNADO_GEN_TEST(test_async_body_producer_content_length, ServerFixture) {
  HTTPRequest r("/echopost", "POST");
  r.body_producer = async_body_producer;
  r.headers.set("Content-Length", "8");
  BOOST_TEST((co_await fetch(std::move(r))).body == "12345678");
}

TORNADO_GEN_TEST(test_body_producer_wrong_length, ServerFixture) {
  // Fewer bytes than the Content-Length promised: the request fails instead of hanging.
  HTTPRequest r("/echopost", "POST");
  r.body_producer = sync_body_producer;
  r.headers.set("Content-Length", "9");
  BOOST_TEST(co_await raises<httputil::HTTPOutputError>([&] { return fetch(std::move(r)); }));
}

TORNADO_GEN_TEST(test_100_continue, ServerFixture) {
  HTTPRequest r("/echopost", "POST");
  r.body = "1234";
  r.expect_100_continue = true;
  BOOST_TEST((co_await fetch(std::move(r))).body == "1234");
  BOOST_TEST(last_headers.get("Expect", "") == "100-continue");
  HTTPRequest p(py_url("/echo_post"), "POST");
  p.body_producer = async_body_producer;
  p.expect_100_continue = true;
  BOOST_TEST((co_await http_client->fetch(std::move(p))).body == "12345678");
}

TORNADO_GEN_TEST(test_100_continue_early_response, ServerFixture) {
  HTTPRequest r(py_url("/respond_in_prepare"), "POST");
  bool called = false;
  r.body_producer = [&called](HTTPRequest::WriteFunction) -> Future<void> {
    called = true;
    co_return;
  };
  r.expect_100_continue = true;
  auto response = co_await http_client->fetch(std::move(r), false);
  BOOST_TEST(response.code == 403);
  BOOST_TEST(response.body == "forbidden");
  BOOST_TEST(!called);
  // The server may still expect the body that never came: the connection is not reused.
  BOOST_TEST(http_client->idle_connection_count() == 0u);
}

TORNADO_GEN_TEST(test_streaming_follow_redirects, ServerFixture) {
  std::vector<std::string> headers, chunks;
  HTTPRequest r("/redirect?url=/hello");
  r.header_callback = [&](std::string line) { headers.push_back(std::move(line)); };
  r.streaming_callback = [&](std::string chunk) { chunks.push_back(std::move(chunk)); };
  co_await fetch(std::move(r));
  BOOST_TEST(chunks == std::vector<std::string>{"Hello world!"});
  int start_lines = 0;
  for (auto& h : headers) start_lines += h.starts_with("HTTP/");
  BOOST_TEST(start_lines == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(SimpleHTTPSClientTestCase2)

TORNADO_GEN_TEST(test_ssl_context, HTTPSFixture) {
  netutil::SSLContext ctx(false);
  ctx.set_verify_mode(netutil::CertReqs::none);
  HTTPRequest r(get_url("/hello"));
  r.ssl_options = ctx;
  BOOST_TEST((co_await http_client->fetch(std::move(r))).body == "Hello world!");
}

TORNADO_GEN_TEST(test_ssl_context_handshake_fail, HTTPSFixture) {
  tornado::testing::ExpectLog expect("tornado.general", ".*", false);
  netutil::SSLContext ctx(false);  // verifies, but trusts no CA that signed the server's certificate
  ctx.load_verify_locations(data_file("other.crt"));
  HTTPRequest r("https://localhost:" + std::to_string(port) + "/hello");
  r.ssl_options = ctx;
  BOOST_TEST(co_await raises<netutil::SSLError>([&] { return http_client->fetch(std::move(r)); }));
}

TORNADO_GEN_TEST(test_error_logging, HTTPSFixture) {
  // The server's certificate does not verify against the system's CAs: the SSLError is raised,
  // and no stack trace is logged for it.
  tornado::testing::ExpectLog expect("tornado.general", ".*", false);
  BOOST_TEST(co_await raises<netutil::SSLError>([&] { return http_client->fetch(get_url("/")); }));
  BOOST_TEST(!expect.logged_stack());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(CreateAsyncHTTPClientTestCase)

TORNADO_GEN_TEST(test_max_clients, AsyncTestCase) {
  BOOST_TEST(AsyncHTTPClient::instance(true)->options().max_clients == 10u);
  BOOST_TEST(AsyncHTTPClient::instance(true, {.max_clients = 11})->options().max_clients == 11u);
  co_return;
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(HTTP100ContinueTestCase)

TORNADO_GEN_TEST(test_100_continue, ServerFixture) {
  // An interim 100 the client did not ask for is skipped.
  auto raw = raw_answer("HTTP/1.1 100 CONTINUE\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA");
  BOOST_TEST((co_await http_client->fetch(raw.url())).body == "A");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(HTTP204NoContentTestCase)

TORNADO_GEN_TEST(test_204_no_content, ServerFixture) {
  auto raw = raw_answer("HTTP/1.1 204 No content\r\nContent-Length: 0\r\n\r\n");
  auto response = co_await http_client->fetch(raw.url());
  BOOST_TEST(response.code == 204);
  BOOST_TEST(response.body.empty());
}

TORNADO_GEN_TEST(test_204_invalid_content_length, ServerFixture) {
  tornado::testing::ExpectLog expect("tornado.general", ".*Response with code 204 should not have body", true, log::Level::INFO);
  auto raw = raw_answer("HTTP/1.1 204 No content\r\nContent-Length: 5\r\n\r\n");
  BOOST_TEST(co_await raises<httpclient::HTTPStreamClosedError>([&] { return http_client->fetch(raw.url()); }));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(HostnameMappingTestCase)

TORNADO_GEN_TEST(test_hostname_mapping, ServerFixture) {
  auto client = AsyncHTTPClient::instance(true, {.hostname_mapping = {{"www.example.com", "127.0.0.1"}}});
  auto response = co_await client->fetch("http://www.example.com:" + std::to_string(port) + "/header?name=Host");
  // The Host header still names the URL's host.
  BOOST_TEST(response.body == "www.example.com:" + std::to_string(port));
  client->close();
}

TORNADO_GEN_TEST(test_port_mapping, ServerFixture) {
  auto client = AsyncHTTPClient::instance(
      true, {.hostname_mapping = {{{"foo.example.com", 8000}, {"127.0.0.1", port}}}});
  BOOST_TEST((co_await client->fetch("http://foo.example.com:8000/hello")).body == "Hello world!");
  client->close();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ResolveTimeoutTestCase)

TORNADO_GEN_TEST(test_resolve_timeout, ServerFixture) {
  auto client = AsyncHTTPClient::instance(true, {.resolver = std::make_shared<HangingResolver>()});
  HTTPRequest r(get_url("/hello"));
  r.connect_timeout = 0.1;
  BOOST_TEST(co_await raises<httpclient::HTTPTimeoutError>([&] { return client->fetch(std::move(r)); }));
  client->close();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(MaxHeaderSizeTest)

TORNADO_GEN_TEST(test_small_headers, ServerFixture) {
  auto client = AsyncHTTPClient::instance(true, {.max_header_size = 1024});
  BOOST_TEST((co_await client->fetch(get_url("/large_headers?n=100"))).body == "ok");
  client->close();
}

TORNADO_GEN_TEST(test_large_headers, ServerFixture) {
  // Tornado fails with UnsatisfiableReadError; here the codec logs the oversized head and the
  // request fails as a closed connection (599).
  tornado::testing::ExpectLog expect("tornado.general", "Malformed HTTP message.*header too large", true, log::Level::INFO);
  auto client = AsyncHTTPClient::instance(true, {.max_header_size = 1024});
  BOOST_TEST(co_await raises<httpclient::HTTPStreamClosedError>(
      [&] { return client->fetch(get_url("/large_headers?n=1000")); }));
  client->close();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(MaxBodySizeTest)

TORNADO_GEN_TEST(test_small_body, ServerFixture) {
  auto client = AsyncHTTPClient::instance(true, {.max_body_size = 1024 * 64});
  BOOST_TEST((co_await client->fetch(get_url("/large_body?n=65536"))).body == std::string(1024 * 64, 'a'));
  client->close();
}

TORNADO_GEN_TEST(test_large_body, ServerFixture) {
  tornado::testing::ExpectLog expect("tornado.general", "Malformed HTTP message from .*: Content-Length too long", true, log::Level::INFO);
  auto client = AsyncHTTPClient::instance(true, {.max_body_size = 1024 * 64});
  BOOST_TEST(co_await raises<httpclient::HTTPStreamClosedError>(
      [&] { return client->fetch(get_url("/large_body?n=102400")); }));
  client->close();
}

TORNADO_GEN_TEST(test_large_decompressed_body, ServerFixture) {
  // Not in Tornado's suite: the limit applies to the body after gunzipping, so a small
  // compressed body cannot expand past it.
  tornado::testing::ExpectLog expect("tornado.general", "Malformed HTTP message.*decompressed body too large", true, log::Level::INFO);
  auto client = AsyncHTTPClient::instance(true, {.max_body_size = 1024 * 64});
  BOOST_TEST(co_await raises<httpclient::HTTPStreamClosedError>([&] { return client->fetch(py_url("/gzip_large")); }));
  // Within the limit it is decoded.
  auto big = AsyncHTTPClient::instance(true, {.max_body_size = 1024 * 200});
  BOOST_TEST((co_await big->fetch(py_url("/gzip_large"))).body == std::string(1024 * 100, 'a'));
  client->close();
  big->close();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(MaxBufferSizeTest)

TORNADO_GEN_TEST(test_large_body, ServerFixture) {
  // A 100 KiB body through a 64 KiB buffer: the body limit, not the buffer, bounds it.
  auto client = AsyncHTTPClient::instance(true, {.max_buffer_size = 1024 * 64, .max_body_size = 1024 * 100});
  BOOST_TEST((co_await client->fetch(get_url("/large_body?n=102400"))).body == std::string(1024 * 100, 'a'));
  client->close();
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ChunkedWithContentLengthTest)

TORNADO_GEN_TEST(test_chunked_with_content_length, ServerFixture) {
  tornado::testing::ExpectLog expect("tornado.general", "Malformed HTTP message.*", true, log::Level::INFO);
  auto raw = raw_answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 11\r\n\r\nb\r\nHello world\r\n0\r\n\r\n");
  BOOST_TEST(co_await raises<httpclient::HTTPStreamClosedError>([&] { return http_client->fetch(raw.url()); }));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(HTTPErrorTestCase2)

BOOST_AUTO_TEST_CASE(test_copy) {
  HTTPClientError e(403);
  HTTPClientError e2 = e;
  BOOST_TEST(&e != &e2);
  BOOST_TEST(e.code == e2.code);
}

BOOST_AUTO_TEST_SUITE_END()

// --- TLS client certificates ------------------------------------------------------------------

namespace {

// An HTTPS server that requires a client certificate signed by the test CA.
netutil::SSLContext client_cert_server_tls() {
  auto ctx = server_tls();
  ctx.set_verify_mode(netutil::CertReqs::required);
  ctx.load_verify_locations(data_file("ca.crt"));
  return ctx;
}
struct ClientCertFixture : ServerFixture {
  ClientCertFixture() : ServerFixture(httpserver::HTTPServerOptions{.ssl_options = client_cert_server_tls()}) {}
  HTTPRequest request(const std::string& path) const {
    HTTPRequest r("https://localhost:" + std::to_string(port) + path);
    r.ca_certs = data_file("ca.crt");
    return r;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(ClientCertificateTest)

TORNADO_GEN_TEST(test_client_cert, ClientCertFixture) {
  // tests/data/server.crt is signed by the test CA and allows clientAuth: it serves as the
  // client's certificate here.
  // (The server requires a certificate: without one the handshake fails, as checked next.)
  auto r = request("/hello");
  r.client_cert = data_file("server.crt");
  r.client_key = data_file("server.key");
  BOOST_TEST((co_await http_client->fetch(r)).body == "Hello world!");
  // The server's request saw the certificate the client sent (DER, so shorter than the PEM file).
  auto cert = request("/peer_cert_size");
  cert.client_cert = r.client_cert;
  cert.client_key = r.client_key;
  BOOST_TEST(std::stoul((co_await http_client->fetch(cert)).body) > 500u);
  // A request without the certificate does not get the pooled connection that has one.
  tornado::testing::ExpectLog expect("tornado.general", ".*", false);
  BOOST_TEST(co_await raises<std::exception>([&] { return http_client->fetch(request("/hello")); }));
  BOOST_TEST((co_await http_client->fetch(r)).body == "Hello world!");
  BOOST_TEST(connections_seen.size() == 1u);
}

TORNADO_GEN_TEST(test_client_cert_untrusted, ClientCertFixture) {
  // other.crt is self-signed: the server refuses it.
  tornado::testing::ExpectLog expect("tornado.general", ".*", false);
  auto r = request("/hello");
  r.client_cert = data_file("other.crt");
  r.client_key = data_file("other.key");
  BOOST_TEST(co_await raises<std::exception>([&] { return http_client->fetch(r); }));
}

TORNADO_GEN_TEST(test_client_cert_bad_file, ClientCertFixture) {
  auto r = request("/hello");
  r.client_cert = data_file("no-such-file.crt");
  BOOST_TEST(co_await raises<netutil::SSLError>([&] { return http_client->fetch(r); }));
}

BOOST_AUTO_TEST_SUITE_END()

// --- HTTP proxies (beyond simple_httpclient, which raises NotImplementedError for them) ---------

namespace {

// What the test proxy saw, and what it asks for.
struct ProxyState {
  std::vector<std::string> request_lines;  // the first line of each request it read
  std::vector<std::string> proxy_auth;     // the Proxy-Authorization of each ("" if none)
  std::vector<std::string> forwarded_auth; // Proxy-Authorization in what reached the server (must be none)
  std::string required_auth;               // if set: requests without it get 407
  int connections = 0;
};

Future<void> pipe_streams(std::shared_ptr<iostream::IOStream> from, std::shared_ptr<iostream::IOStream> to) {
  try {
    for (;;) {
      std::string data = co_await from->read_bytes(65536, true);
      co_await to->write(std::move(data));
    }
  } catch (const iostream::StreamClosedError&) {
  }
  to->close();
}

// A small HTTP proxy: CONNECT opens a tunnel (RFC 9110 9.3.6); a request in absolute form
// (RFC 9112 3.2.2) is sent on to its server in origin form, with `Connection: close` so that the
// connection carries that exchange only.
Future<void> proxy_serve(std::shared_ptr<iostream::IOStream> client, std::shared_ptr<ProxyState> st) {
  ++st->connections;
  std::string head = co_await client->read_until("\r\n\r\n");
  auto eol = head.find("\r\n");
  std::string line = head.substr(0, eol);
  auto headers = httputil::HTTPHeaders::parse(head.substr(eol + 2));
  st->request_lines.push_back(line);
  std::string auth = headers.get("Proxy-Authorization", "");
  st->proxy_auth.push_back(auth);
  if (!st->required_auth.empty() && auth != st->required_auth) {
    co_await client->write(std::string_view(
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"));
    client->close();
    co_return;
  }
  auto sp1 = line.find(' '), sp2 = line.rfind(' ');
  std::string method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string hostport, path;
  if (method == "CONNECT") {
    hostport = target;
  } else {
    std::string after = target.substr(std::string("http://").size());
    auto slash = after.find('/');
    hostport = after.substr(0, slash);
    path = slash == std::string::npos ? "/" : after.substr(slash);
  }
  auto colon = hostport.rfind(':');
  std::string host = hostport.substr(0, colon);
  int port = std::stoi(hostport.substr(colon + 1));
  if (host.starts_with("[")) host = host.substr(1, host.size() - 2);
  std::shared_ptr<iostream::IOStream> upstream(co_await tcpclient::TCPClient().connect(host, static_cast<std::uint16_t>(port)));
  if (method == "CONNECT") {
    co_await client->write(std::string_view("HTTP/1.1 200 Connection established\r\n\r\n"));
  } else {
    std::string out = method + " " + path + " HTTP/1.1\r\n";
    headers.set("Connection", "close");
    st->forwarded_auth.push_back("");
    for (auto [k, v] : headers.get_all()) {
      if (k == "Proxy-Authorization") continue;  // for the proxy, not for the server
      out += std::string(k) + ": " + std::string(v) + "\r\n";
    }
    out += "\r\n";
    co_await upstream->write(std::move(out));
  }
  auto up = pipe_streams(client, upstream);
  auto down = pipe_streams(upstream, client);
  co_await up;
  co_await down;
}

struct TestProxy {
  std::shared_ptr<ProxyState> state = std::make_shared<ProxyState>();
  RawServer server{[st = state](std::shared_ptr<iostream::IOStream> s, int) { return proxy_serve(s, st); }};
  void apply(HTTPRequest& r) const {
    r.proxy_host = "127.0.0.1";
    r.proxy_port = static_cast<std::uint16_t>(server.port);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(ProxyTest)

TORNADO_GEN_TEST(test_http_proxy, ServerFixture) {
  TestProxy proxy;
  HTTPRequest r(get_url("/hello?name=proxy"));
  proxy.apply(r);
  auto response = co_await http_client->fetch(r);
  BOOST_TEST(response.body == "Hello proxy!");
  BOOST_REQUIRE(proxy.state->request_lines.size() == 1u);
  // The absolute form, with the query.
  BOOST_TEST(proxy.state->request_lines[0] == "GET " + get_url("/hello?name=proxy") + " HTTP/1.1");
  BOOST_TEST(proxy.state->proxy_auth[0] == "");
  // The server sees the origin's Host.
  BOOST_TEST((co_await http_client->fetch(r)).body == "Hello proxy!");
  HTTPRequest h(get_url("/header?name=Host"));
  proxy.apply(h);
  BOOST_TEST((co_await http_client->fetch(h)).body == "127.0.0.1:" + std::to_string(port));
  // A POST body goes through too.
  HTTPRequest p = post(get_url("/echopost"), "via proxy");
  proxy.apply(p);
  BOOST_TEST((co_await http_client->fetch(p)).body == "via proxy");
}

TORNADO_GEN_TEST(test_http_proxy_auth, ServerFixture) {
  TestProxy proxy;
  proxy.state->required_auth = "Basic dXNlcjpwYXNz";  // user:pass
  HTTPRequest r(get_url("/hello"));
  proxy.apply(r);
  // Refused: the proxy's 407 is the response.
  auto refused = co_await http_client->fetch(r, false);
  BOOST_TEST(refused.code == 407);
  r.proxy_username = "user";
  r.proxy_password = "pass";
  BOOST_TEST((co_await http_client->fetch(r)).body == "Hello world!");
  BOOST_TEST(proxy.state->proxy_auth.back() == "Basic dXNlcjpwYXNz");
  // The proxy's credentials are not the server's.
  BOOST_TEST(!last_headers.contains("Proxy-Authorization"));
  BOOST_TEST(!last_headers.contains("Authorization"));
  HTTPRequest bad(get_url("/hello"));
  proxy.apply(bad);
  bad.proxy_username = "user";
  bad.proxy_auth_mode = "digest";
  BOOST_TEST(co_await raises<std::invalid_argument>([&] { return http_client->fetch(bad); }));
}

TORNADO_GEN_TEST(test_https_proxy_connect, HTTPSFixture) {
  TestProxy proxy;
  HTTPRequest r("https://localhost:" + std::to_string(port) + "/hello");
  r.ca_certs = data_file("ca.crt");  // TLS runs end to end: the server's certificate is verified
  proxy.apply(r);
  BOOST_TEST((co_await http_client->fetch(r)).body == "Hello world!");
  BOOST_REQUIRE(!proxy.state->request_lines.empty());
  BOOST_TEST(proxy.state->request_lines[0] == "CONNECT localhost:" + std::to_string(port) + " HTTP/1.1");
  // The tunnel is kept alive and reused.
  BOOST_TEST((co_await http_client->fetch(r)).body == "Hello world!");
  BOOST_TEST(proxy.state->connections == 1);
  BOOST_TEST(connections_seen.size() == 1u);
  // The proxy only sees the CONNECT.
  BOOST_TEST(proxy.state->request_lines.size() == 1u);
}

TORNADO_GEN_TEST(test_https_proxy_auth, HTTPSFixture) {
  TestProxy proxy;
  proxy.state->required_auth = "Basic dXNlcjpwYXNz";
  HTTPRequest r("https://localhost:" + std::to_string(port) + "/hello");
  r.ca_certs = data_file("ca.crt");
  proxy.apply(r);
  bool refused = false;
  try {
    co_await http_client->fetch(r);
  } catch (const HTTPClientError& e) {
    refused = e.code == 407;
  }
  BOOST_TEST(refused);
  r.proxy_username = "user";
  r.proxy_password = "pass";
  BOOST_TEST((co_await http_client->fetch(r)).body == "Hello world!");
  BOOST_TEST(proxy.state->proxy_auth.back() == "Basic dXNlcjpwYXNz");
}

TORNADO_GEN_TEST(test_https_proxy_bad_certificate, HTTPSFixture) {
  // Through the tunnel the server's certificate is still checked.
  tornado::testing::ExpectLog expect("tornado.general", ".*", false);
  TestProxy proxy;
  HTTPRequest r("https://localhost:" + std::to_string(port) + "/hello");
  r.ca_certs = data_file("other.crt");
  proxy.apply(r);
  BOOST_TEST(co_await raises<netutil::SSLError>([&] { return http_client->fetch(r); }));
}

namespace {

// nginx as a plain forward proxy (proxy_pass to the Host of each request; it has no CONNECT),
// on a loopback port, with its config, pid and temp paths in a directory of its own.
struct NginxProxy {
  pid_t pid = -1;
  int port = 0;
  std::string dir;
  NginxProxy() {
    if (::access("/usr/sbin/nginx", X_OK) != 0) return;
    char tmpl[] = "/tmp/tornado-httpclient-nginx-XXXXXX";
    if (!::mkdtemp(tmpl)) return;
    dir = tmpl;
    auto sock = tornado::testing::bind_unused_port();
    port = sock.port;
    ::close(sock.fd);
    std::string conf = dir + "/nginx.conf";
    if (FILE* f = std::fopen(conf.c_str(), "w")) {
      std::fprintf(f,
                   "worker_processes 1; daemon off; master_process off;\n"
                   "pid %1$s/nginx.pid; error_log %1$s/error.log;\n"
                   "events { worker_connections 64; }\n"
                   "http { access_log off; client_body_temp_path %1$s/body; proxy_temp_path %1$s/proxy;\n"
                   "  fastcgi_temp_path %1$s/fastcgi; uwsgi_temp_path %1$s/uwsgi; scgi_temp_path %1$s/scgi;\n"
                   "  server { listen 127.0.0.1:%2$d;\n"
                   "    location / { proxy_pass http://$http_host$request_uri; proxy_set_header Host $http_host; } } }\n",
                   dir.c_str(), port);
      std::fclose(f);
    }
    pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 2);
      ::execl("/usr/sbin/nginx", "nginx", "-p", dir.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~NginxProxy() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    if (!dir.empty()) std::system(("rm -rf '" + dir + "'").c_str());
  }
  // Waits until nginx accepts connections. @returns false if it does not within 5 s.
  Future<bool> ready() {
    for (int i = 0; i < 500 && pid > 0; ++i) {
      try {
        auto s = co_await tcpclient::TCPClient().connect("127.0.0.1", static_cast<std::uint16_t>(port));
        s->close();
        co_return true;
      } catch (const iostream::StreamClosedError&) {
      }
      co_await gen::sleep(0.01);
    }
    co_return false;
  }
};

}  // namespace

TORNADO_GEN_TEST(test_nginx_http_proxy, ServerFixture) {
  NginxProxy nginx;
  if (nginx.pid <= 0) {
    BOOST_TEST_MESSAGE("nginx not available: test_nginx_http_proxy skipped");
    co_return;
  }
  BOOST_REQUIRE(co_await nginx.ready());
  // [docs: proxy]
  HTTPRequest r(get_url("/hello?name=nginx"));
  r.proxy_host = "127.0.0.1";
  r.proxy_port = static_cast<std::uint16_t>(nginx.port);
  BOOST_TEST((co_await http_client->fetch(r)).body == "Hello nginx!");
  // [docs: end]
  // nginx keeps the client's connection alive: the second request reuses it.
  BOOST_TEST(http_client->idle_connection_count() == 1u);
  HTTPRequest h(get_url("/header?name=Host"));
  h.proxy_host = "127.0.0.1";
  h.proxy_port = static_cast<std::uint16_t>(nginx.port);
  BOOST_TEST((co_await http_client->fetch(h)).body == "127.0.0.1:" + std::to_string(port));
  BOOST_TEST(http_client->idle_connection_count() == 1u);
  HTTPRequest p = post(get_url("/echopost"), "through nginx");
  p.proxy_host = "127.0.0.1";
  p.proxy_port = static_cast<std::uint16_t>(nginx.port);
  BOOST_TEST((co_await http_client->fetch(p)).body == "through nginx");
  http_client->close();
}

TORNADO_GEN_TEST(test_https_proxy_handshake_timeout, ServerFixture) {
  // The tunnel opens, but what is behind it never answers the TLS handshake: connect_timeout
  // covers the tunnel and the handshake too.
  auto held = std::make_shared<std::vector<std::shared_ptr<iostream::IOStream>>>();
  RawServer silent([held](std::shared_ptr<iostream::IOStream> s, int) -> Future<void> {
    held->push_back(s);
    return [](std::shared_ptr<iostream::IOStream>) -> Future<void> { co_return; }(s);
  });
  TestProxy proxy;
  HTTPRequest r("https://127.0.0.1:" + std::to_string(silent.port) + "/");
  r.connect_timeout = 1.0;  // generous: reaching the proxy must fit in it on a loaded machine
  proxy.apply(r);
  bool raised = false;
  try {
    co_await http_client->fetch(r);
  } catch (const httpclient::HTTPTimeoutError& e) {
    raised = std::string(e.what()) == "HTTP 599: Timeout while connecting";
  }
  BOOST_TEST(raised);
  BOOST_TEST(proxy.state->request_lines.size() == 1u);
  // Let the abandoned handshake end.
  for (auto& s : *held) s->close();
  co_await gen::sleep(0.1);
}

TORNADO_GEN_TEST(test_proxy_refused, ServerFixture) {
  auto sock = tornado::testing::bind_unused_port();
  int closed_port = sock.port;
  ::close(sock.fd);
  HTTPRequest r(get_url("/hello"));
  r.proxy_host = "127.0.0.1";
  r.proxy_port = static_cast<std::uint16_t>(closed_port);
  BOOST_TEST(co_await raises<httpclient::HTTPStreamClosedError>([&] { return http_client->fetch(r); }));
}

BOOST_AUTO_TEST_SUITE_END()
