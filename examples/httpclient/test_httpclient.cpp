// Runs the httpclient example for real against our HTTPServer (plain and HTTPS, on 127.0.0.1),
// and checks its output, flag by flag; Python Tornado's httpclient main() run with the same flags
// must print the same bytes (Date and Connection lines aside).
#define BOOST_TEST_MODULE examples_httpclient
#include <tornado/testing.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

import tornado.httpserver;
import tornado.httputil;
import tornado.netutil;
import tornado.ioloop;
import tornado.log;

using namespace tornado;

namespace {

std::string data_file(const char* name) { return std::string(TORNADO_TEST_DATA_DIR) + "/" + name; }

struct Output {
  std::string out;  // standard output (standard error too when asked)
  int status = -1;  // exit status
};

// Runs a shell command on the executor, so the loop keeps serving meanwhile.
Future<Output> run(std::string cmd) {
  return IOLoop::current().run_in_executor(nullptr, [cmd] {
    Output o;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) o.out.append(buf, n);
      int st = ::pclose(p);
      o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    return o;
  });
}

// Without the lines that may rightly differ between the two clients: Date (another second), and
// Connection (Python's simple_httpclient asks for "Connection: close", ours keeps connections
// alive, so the server answers each differently).
std::string without_date(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line))
    if (!line.starts_with("Date: ") && !line.starts_with("Connection: ")) out += line + "\n";
  return out;
}

void respond(httputil::HTTPConnection& conn, int code, const std::string& body, httputil::HTTPHeaders h = {}) {
  h.set("Content-Type", "text/plain");
  h.set("Content-Length", std::to_string(body.size()));
  (void)conn.write_headers(httputil::ResponseStartLine{"HTTP/1.1", code, std::string(httputil::responses(code))}, h,
                           body);
  conn.finish();
}

void serve(httputil::HTTPServerRequest& r) {
  // A request in absolute form is one sent to a proxy (RFC 9112 3.2.2): say what it asked for.
  if (r.uri.starts_with("http://")) respond(*r.connection, 200, "proxied " + r.method + " " + r.uri);
  else if (r.path == "/hello") respond(*r.connection, 200, "Hello world", {{"X-Example", "yes"}});
  else if (r.path == "/redirect") respond(*r.connection, 302, "moved", {{"Location", "/hello"}});
  else respond(*r.connection, 404, "not here");
}

netutil::SSLContext server_tls() {
  netutil::SSLContext ctx(true);
  ctx.load_cert_chain(data_file("server.crt"), data_file("server.key"));
  return ctx;
}

struct Servers : tornado::testing::AsyncTestCase {
  httpserver::HTTPServer http{serve};
  httpserver::HTTPServer https{serve, httpserver::HTTPServerOptions{.ssl_options = server_tls()}};
  int http_port = 0;
  int https_port = 0;
  Servers() {
    auto a = tornado::testing::bind_unused_port();
    http_port = a.port;
    http.add_socket(a.fd);
    auto b = tornado::testing::bind_unused_port();
    https_port = b.port;
    https.add_socket(b.fd);
  }
  ~Servers() override {
    http.stop();
    https.stop();
    io_loop().run_sync(
        [this]() -> Future<void> {
          co_await http.close_all_connections();
          co_await https.close_all_connections();
        },
        5.0);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(http_port) + path; }
  // Our example with `args`.
  Future<Output> ours(const std::string& args) { return run(std::string(HTTPCLIENT_BINARY) + " " + args); }
  // Python Tornado's main() with the same `args`. Not `python3 -m tornado.httpclient`: run as
  // __main__ the module is loaded twice, and main's `except HTTPError` names the __main__ copy of
  // the class while the client raises tornado.httpclient's, so an error status escapes as a
  // traceback instead of being printed as main() means to.
  Future<Output> python(const std::string& args) {
    return run("/usr/bin/python3 -c 'from tornado.httpclient import main; main()' " + args);
  }
};

}  // namespace

TORNADO_GEN_TEST_TIMEOUT(prints_the_body, Servers, 30.0) {
  auto o = co_await ours(url("/hello"));
  BOOST_TEST(o.status == 0);
  BOOST_TEST(o.out == "Hello world\n");
}

TORNADO_GEN_TEST_TIMEOUT(print_headers, Servers, 30.0) {
  auto o = co_await ours("--print_headers " + url("/hello"));
  BOOST_TEST(o.status == 0);
  BOOST_TEST(o.out.find("X-Example: yes\n") != std::string::npos);
  BOOST_TEST(o.out.find("Content-Length: 11\n") != std::string::npos);
  BOOST_TEST(o.out.ends_with("\n\nHello world\n"));
  auto py = co_await python("--print_headers " + url("/hello"));
  BOOST_TEST(py.status == 0);
  BOOST_TEST(without_date(o.out) == without_date(py.out));
}

TORNADO_GEN_TEST_TIMEOUT(print_body_false, Servers, 30.0) {
  // Dashes for underscores, and an explicit boolean value.
  auto o = co_await ours("--print-headers --print_body=false " + url("/hello"));
  BOOST_TEST(o.status == 0);
  BOOST_TEST(o.out.find("X-Example: yes\n") != std::string::npos);
  BOOST_TEST(o.out.find("Hello world") == std::string::npos);
  auto py = co_await python("--print_headers --print_body=false " + url("/hello"));
  BOOST_TEST(without_date(o.out) == without_date(py.out));
}

TORNADO_GEN_TEST_TIMEOUT(follow_redirects, Servers, 30.0) {
  auto o = co_await ours(url("/redirect"));
  BOOST_TEST(o.out == "Hello world\n");
  // Not followed: the 302's own headers and body.
  o = co_await ours("--follow_redirects=false --print_headers " + url("/redirect"));
  BOOST_TEST(o.status == 0);
  BOOST_TEST(o.out.find("Location: /hello\n") != std::string::npos);
  BOOST_TEST(o.out.ends_with("\n\nmoved\n"));
  auto py = co_await python("--follow_redirects=false --print_headers " + url("/redirect"));
  BOOST_TEST(without_date(o.out) == without_date(py.out));
}

TORNADO_GEN_TEST_TIMEOUT(error_status_is_printed, Servers, 30.0) {
  // Tornado prints an HTTPError's response like any other, and carries on with the next URL.
  auto o = co_await ours(url("/missing") + " " + url("/hello"));
  BOOST_TEST(o.status == 0);
  BOOST_TEST(o.out == "not here\nHello world\n");
  auto py = co_await python(url("/missing") + " " + url("/hello"));
  BOOST_TEST(py.out == o.out);
}

TORNADO_GEN_TEST_TIMEOUT(validate_cert, Servers, 30.0) {
  // The test CA is not among the system's: the certificate is refused unless not validated.
  std::string https_url = "https://localhost:" + std::to_string(https_port) + "/hello";
  tornado::testing::ExpectLog expect(log::gen_log(), "SSL Error", true);  // the server's side
  auto o = co_await ours(https_url + " 2>&1");
  BOOST_TEST(o.status == 1);
  BOOST_TEST(o.out.find("Hello world") == std::string::npos);
  o = co_await ours("--validate_cert=false " + https_url);
  BOOST_TEST(o.status == 0);
  BOOST_TEST(o.out == "Hello world\n");
}

TORNADO_GEN_TEST_TIMEOUT(no_response_fails, Servers, 30.0) {
  // Nothing listens there any more: no response to print, a message and status 1.
  auto sock = tornado::testing::bind_unused_port();
  std::string dead = "http://127.0.0.1:" + std::to_string(sock.port) + "/";
  ::close(sock.fd);
  auto o = co_await ours(dead + " 2>&1");
  BOOST_TEST(o.status == 1);
  BOOST_TEST(o.out.starts_with(dead + ": "));
}

TORNADO_GEN_TEST_TIMEOUT(bad_usage, Servers, 30.0) {
  auto o = co_await ours("--no_such_flag " + url("/hello") + " 2>&1");
  BOOST_TEST(o.status == 2);
  BOOST_TEST(o.out.find("Unrecognized command line option: 'no_such_flag'") != std::string::npos);
  o = co_await ours("2>&1");
  BOOST_TEST(o.status == 2);
}

TORNADO_GEN_TEST_TIMEOUT(proxy, Servers, 30.0) {
  // The request goes to the proxy (our server here), in absolute form, for a host that does not
  // exist: only the proxy could have answered.
  auto o = co_await ours("--proxy_host=127.0.0.1 --proxy_port=" + std::to_string(http_port) +
                         " http://no-such-host.invalid/some/path?q=1");
  BOOST_TEST(o.status == 0);
  BOOST_TEST(o.out == "proxied GET http://no-such-host.invalid/some/path?q=1\n");
  o = co_await ours("--proxy_host " + url("/hello") + " 2>&1");
  BOOST_TEST(o.status == 2);
  BOOST_TEST(o.out.find("Option 'proxy_host' requires a value") != std::string::npos);
  o = co_await ours("--proxy_port=http " + url("/hello") + " 2>&1");
  BOOST_TEST(o.status == 2);
}
