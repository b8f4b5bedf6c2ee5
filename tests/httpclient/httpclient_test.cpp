// Tests of tornado.httpclient, against our own HTTPServer (legacy request callback) and against a
// Python Tornado 6.2 server (tests/httpclient/tornado_server.py) started once for the program.
// Ports cases of tornado/test/httpclient_test.py (HTTPClientCommonTestCase, HTTPResponseTestCase,
// SyncHTTPClientTest, HTTPErrorTestCase) and tornado/test/simple_httpclient_test.py
// (SimpleHTTPClientTestMixin) by name.
//
// Not ported yet, and why:
//  - test_*_stack_context, test_types, test_header_types, test_body_encoding (str vs bytes):
//    Python typing matters with no C++ counterpart (headers and bodies are std::string).
//  - test_configure_defaults, AsyncHTTPClient.configure: there is one implementation and no
//    `defaults` dictionary; HTTPRequest's members carry Tornado's defaults.
//  - test_bind_source_ip, proxies, client certificates, expect_100_continue, prepare_curl_callback,
//    if_modified_since, network_interface: these HTTPRequest options are not implemented yet.
//  - test_error_after_cancel, test_future_interface's cancellation: not covered yet.
//  - the keep-alive / max_clients stress cases of simple_httpclient_test.py (test_connection_limit
//    beyond test_queue_timeout): not covered yet.
//  - test_ipv6: the house rule is that network tests bind 127.0.0.1 only.
//  - test_connect_timeout: needs a resolver or server that never answers a connect; not covered
//    yet (request_timeout and the queue timeout are).
//  - test_chunked_close, test_multi_line_headers, test_304_with_content_length,
//    test_non_ascii_header, test_basic_auth_unicode, test_redirect_put_without_body's raw-socket
//    variants, HTTPResponseTestCase.test_str, HTTPRequestTestCase (property setters), test_copy:
//    not ported yet (raw-socket servers and Python object protocols).
#define BOOST_TEST_MODULE httpclient
#include <tornado/testing.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

import tornado.httpclient;
import tornado.httpserver;
import tornado.httputil;
import tornado.iostream;
import tornado.netutil;
import tornado.tcpserver;
import tornado.gen;
import tornado.ioloop;

using namespace tornado;
using httpclient::AsyncHTTPClient;
using httpclient::HTTPClientError;
using httpclient::HTTPRequest;
using httpclient::HTTPResponse;
using tornado::testing::AsyncTestCase;

namespace {

std::string data_file(const char* name) { return std::string(TORNADO_TEST_DATA_DIR) + "/" + name; }

// The Python Tornado server, started once and killed when the program ends.
struct PythonServer {
  pid_t pid = -1;
  int port = 0;
  PythonServer() {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid = ::fork();
    if (pid == 0) {
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
    auto sock = tornado::testing::bind_unused_port();
    port = sock.port;
    server->add_socket(sock.fd);
    http_client = AsyncHTTPClient::instance(true);
    connections_seen.clear();
  }
  ~ServerFixture() override {
    http_client->close();
    server->stop();
    io_loop().run_sync([this] { return server->close_all_connections(); }, 5.0);
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

netutil::SSLContext server_tls() {
  netutil::SSLContext ctx(true);
  ctx.load_cert_chain(data_file("server.crt"), data_file("server.key"));
  return ctx;
}
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
  try {
    co_await fetch("/notfound", true);
  } catch (const HTTPClientError& e) {
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
