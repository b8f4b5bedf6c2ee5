// Interoperability with real peers, both directions:
//  - PythonClientTest: Python Tornado 6.2's own client stack (AsyncHTTPClient: GET, POST, a
//    chunked request body, Expect: 100-continue, a chunked response, a 404; and its HTTP1Connection
//    in client mode for keep-alive, which simple_httpclient does not do) fetching from our
//    HTTPServer, over HTTP and HTTPS (tests/interop/tornado_client.py, run with
//    /usr/bin/python3 on the IOLoop's executor).
//  - NginxTest: our AsyncHTTPClient fetching from an nginx started by the test on loopback ports,
//    with its own configuration, pid, temp and log paths in a temporary directory: a fixed body, a
//    static file, a gzip-compressed chunked body, redirects, HEAD, 404, keep-alive reuse, and many
//    fetches at once, over HTTP and HTTPS (nginx serves tests/data/server.crt; the client trusts
//    tests/data/ca.crt);
//    and nginx as a reverse proxy in front of our HTTPServer (xheaders, upstream keep-alive).
//    Without nginx ($TORNADO_NGINX, else the usual paths and $PATH), the suite is skipped with a
//    message.
// Not a port of a Tornado test file: Tornado's own suite talks only to itself.
#define BOOST_TEST_MODULE interop
#include <tornado/testing.hpp>

#include "../support/support.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

import tornado.httpclient;
import tornado.httpserver;
import tornado.httputil;
import tornado.iostream;
import tornado.netutil;
import tornado.process;
import tornado.gen;
import tornado.ioloop;
import tornado.log;

using namespace tornado;
using tornado::testing::AsyncTestCase;
using tornado::test_support::data_file;
using tornado::test_support::server_tls;

namespace {

// Runs a shell command on the executor (so the loop keeps serving); returns its output and
// appends "exit=<status>" on a line of its own.
Future<std::string> run_command(std::string cmd) {
  auto r = co_await test_support::run_shell(std::move(cmd));
  co_return r.output + "exit=" + std::to_string(r.status) + "\n";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// ================================================================================================
// Our server, for Python's client.

void respond(httputil::HTTPConnection& conn, int code, const std::string& body) {
  httputil::HTTPHeaders h{{"Content-Type", "text/plain"}, {"Content-Length", std::to_string(body.size())}};
  (void)conn.write_headers(httputil::ResponseStartLine{"HTTP/1.1", code, std::string(httputil::responses(code))}, h,
                           body);
  conn.finish();
}

struct OurServer : AsyncTestCase {
  std::unique_ptr<httpserver::HTTPServer> server;
  int port = 0;
  std::size_t requests = 0;
  std::set<int> client_ports;  // the peers' ports: one per connection used

  explicit OurServer(httpserver::HTTPServerOptions options = {}) {
    server = std::make_unique<httpserver::HTTPServer>(
        [this](httputil::HTTPServerRequest& r) { serve(r); }, std::move(options));
    port = test_support::listen_on_unused_port(*server);
  }
  ~OurServer() override { test_support::shut_down(*server, io_loop()); }

  void serve(httputil::HTTPServerRequest& r) {
    ++requests;
    auto& conn = *r.connection;
    int peer_port = conn.context().address.port();
    client_ports.insert(peer_port);
    if (r.path == "/hello") {
      respond(conn, 200, "Hello world");
    } else if (r.path == "/echo") {
      respond(conn, 200, r.method + " " + r.uri + " " + std::to_string(r.body.size()) + " " + r.body);
    } else if (r.path == "/chunked") {
      // No Content-Length on HTTP/1.1: the body goes out chunked, one HTTP chunk per write.
      (void)conn.write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"},
                               httputil::HTTPHeaders{{"Content-Type", "text/plain"}});
      (void)conn.write("chunk one, ");
      (void)conn.write("chunk two, ");
      (void)conn.write("chunk three");
      conn.finish();
    } else if (r.path == "/port") {
      respond(conn, 200, std::to_string(peer_port));
    } else {
      respond(conn, 404, "not here");
    }
  }

  // Runs tornado_client.py with `args`; returns its output (exit status last).
  Future<std::string> python(const std::string& args) {
    std::string script = std::string(TORNADO_TEST_DATA_DIR) + "/../interop/tornado_client.py";
    return run_command("/usr/bin/python3 " + shell_quote(script) + " " + args + " 2>&1");
  }
};

struct OurHTTPSServer : OurServer {
  OurHTTPSServer() : OurServer(httpserver::HTTPServerOptions{.ssl_options = server_tls()}) {}
};

std::string expected_fetch_output() {
  // tornado_client.py's POST body is 100000 letters; the server echoes "POST /echo?x=1 100000 ".
  std::size_t echo_size = std::string("POST /echo?x=1 100000 ").size() + 100000;
  return "GET 200 11 Hello world\n"
         "POST 200 " + std::to_string(echo_size) + " True\n"
         "PRODUCER 200 POST /echo?producer=1 70 part 0;part 1;part 2;part 3;part 4;part 5;part 6;part 7;part 8;part 9;\n"
         "CONTINUE 200 True\n"
         "CHUNKED 200 chunked None chunk one, chunk two, chunk three\n"
         "ERROR 404 not here\n"
         "exit=0\n";
}

std::string expected_keepalive_output(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += "KEEPALIVE " + std::to_string(i) + " 200 True True False\n";
  return out + "exit=0\n";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(PythonClientTest)

TORNADO_GEN_TEST_TIMEOUT(test_fetch, OurServer, 30.0) {
  auto out = co_await python("fetch http://127.0.0.1:" + std::to_string(port));
  BOOST_TEST(out == expected_fetch_output());
  BOOST_TEST(requests == 6u);
}

TORNADO_GEN_TEST_TIMEOUT(test_fetch_https, OurHTTPSServer, 30.0) {
  auto out = co_await python("fetch https://localhost:" + std::to_string(port) + " " + shell_quote(data_file("ca.crt")));
  BOOST_TEST(out == expected_fetch_output());
  BOOST_TEST(requests == 6u);
}

TORNADO_GEN_TEST_TIMEOUT(test_keepalive, OurServer, 30.0) {
  // Five requests on one connection: Python sees its own port echoed each time, the connection
  // stays open after each response, and the server saw a single peer.
  auto out = co_await python("keepalive 127.0.0.1 " + std::to_string(port) + " 5");
  BOOST_TEST(out == expected_keepalive_output(5));
  BOOST_TEST(requests == 5u);
  BOOST_TEST(client_ports.size() == 1u);
}

TORNADO_GEN_TEST_TIMEOUT(test_keepalive_https, OurHTTPSServer, 30.0) {
  auto out = co_await python("keepalive localhost " + std::to_string(port) + " 5 " + shell_quote(data_file("ca.crt")));
  BOOST_TEST(out == expected_keepalive_output(5));
  BOOST_TEST(requests == 5u);
  BOOST_TEST(client_ports.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// ================================================================================================
// nginx, for our client.

namespace {

// $TORNADO_NGINX if set (set it to a missing path to see the suite skipped), else the usual places.
std::optional<std::string> find_nginx() {
  if (const char* forced = std::getenv("TORNADO_NGINX"))
    return ::access(forced, X_OK) == 0 ? std::optional<std::string>(forced) : std::nullopt;
  for (const char* p : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx", "/usr/bin/nginx"})
    if (::access(p, X_OK) == 0) return std::string(p);
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      std::string p = dir + "/nginx";
      if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p;
    }
  }
  return std::nullopt;
}

// The suite's precondition: skipped, with this message, when nginx is not installed.
boost::test_tools::assertion_result nginx_available(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(find_nginx().has_value());
  if (!result) result.message() << "nginx is not installed (scripts/setup installs nginx-light): nginx tests skipped";
  return result;
}

const std::string kStatic = "static file from nginx\n";

// A text that compresses well and is big enough that nginx streams its gzip output in chunks.
std::string gzip_source() {
  std::string out;
  for (int i = 0; i < 2000; ++i) out += "line " + std::to_string(i) + " of the text nginx compresses\n";
  return out;
}

int unused_port() {
  auto sock = tornado::testing::bind_unused_port();
  ::close(sock.fd);
  return sock.port;
}

// nginx on two loopback ports (HTTP and HTTPS), configured and run from a temporary directory,
// stopped (SIGTERM, then reaped) when the test ends.
struct Nginx : AsyncTestCase {
  std::filesystem::path dir;
  int http_port = 0;
  int https_port = 0;
  std::unique_ptr<process::Subprocess> proc;
  // Our HTTPServer (xheaders on) behind nginx's /backend/ (proxy_pass, HTTP/1.1, upstream keep-alive).
  std::unique_ptr<httpserver::HTTPServer> backend;
  int backend_port = 0;
  std::size_t backend_requests = 0;
  std::set<int> backend_peers;  // nginx's ports towards the backend: one per upstream connection

  void serve_backend(httputil::HTTPServerRequest& r) {
    ++backend_requests;
    auto& conn = *r.connection;
    backend_peers.insert(conn.context().address.port());
    if (r.path == "/backend/chunked") {
      (void)conn.write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"},
                               httputil::HTTPHeaders{{"Content-Type", "text/plain"}});
      for (int i = 0; i < 50; ++i) (void)conn.write("piece " + std::to_string(i) + "\n");
      conn.finish();
      return;
    }
    respond(conn, 200,
            "backend " + r.remote_ip + " " + r.protocol + " " + r.method + " " + r.uri + " " +
                std::to_string(r.body.size()) + " " + r.headers.get("X-Test", "-"));
  }

  Nginx() {
    backend = std::make_unique<httpserver::HTTPServer>([this](httputil::HTTPServerRequest& r) { serve_backend(r); },
                                                       httpserver::HTTPServerOptions{.xheaders = true});
    backend_port = test_support::listen_on_unused_port(*backend);
    char tmpl[] = "/tmp/tornado-interop-nginx-XXXXXX";
    dir = ::mkdtemp(tmpl);
    // nginx's workers may run as another user (nobody, when the tests run as root): let them read.
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                          std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                          std::filesystem::perms::others_exec);
    std::filesystem::create_directories(dir / "www" / "static");
    std::filesystem::create_directories(dir / "www" / "gzip");
    std::ofstream(dir / "www" / "static" / "hello.txt") << kStatic;
    std::ofstream(dir / "www" / "gzip" / "big.txt") << gzip_source();
    http_port = unused_port();
    https_port = unused_port();
    std::string d = dir.string();
    std::ofstream(dir / "nginx.conf")
        << "worker_processes 1;\n"
           "pid " << d << "/nginx.pid;\n"
           "error_log " << d << "/error.log warn;\n"
           "events { worker_connections 128; }\n"
           "http {\n"
           "  access_log off;\n"
           "  client_body_temp_path " << d << "/client_body;\n"
           "  proxy_temp_path " << d << "/proxy;\n"
           "  fastcgi_temp_path " << d << "/fastcgi;\n"
           "  uwsgi_temp_path " << d << "/uwsgi;\n"
           "  scgi_temp_path " << d << "/scgi;\n"
           "  types { text/plain txt; }\n"
           "  default_type application/octet-stream;\n"
           "  upstream backend { server 127.0.0.1:" << backend_port << "; keepalive 4; }\n"
           "  server {\n"
           "    listen 127.0.0.1:" << http_port << ";\n"
           "    listen 127.0.0.1:" << https_port << " ssl;\n"
           "    server_name localhost;\n"
           "    ssl_certificate " << data_file("server.crt") << ";\n"
           "    ssl_certificate_key " << data_file("server.key") << ";\n"
           "    root " << d << "/www;\n"
           "    location = /fixed { default_type text/plain; return 200 \"fixed body from nginx\\n\"; }\n"
           "    location /static/ { }\n"
           "    location /gzip/ { gzip on; gzip_types text/plain; gzip_min_length 1; }\n"
           "    location = /redirect { return 302 /fixed; }\n"
           "    location = /redirect-static { return 301 /static/hello.txt; }\n"
           "    location = /conn { default_type text/plain; return 200 \"$connection $connection_requests\"; }\n"
           "    location /backend/ {\n"
           "      proxy_pass http://backend;\n"
           "      proxy_http_version 1.1;\n"
           "      proxy_set_header Connection \"\";\n"
           "      proxy_set_header X-Real-IP 10.1.2.3;\n"
           "      proxy_set_header X-Forwarded-Proto $scheme;\n"
           "    }\n"
           "  }\n"
           "}\n";
    proc = std::make_unique<process::Subprocess>(
        std::vector<std::string>{*find_nginx(), "-p", d + "/", "-c", d + "/nginx.conf", "-e", d + "/error.log", "-g",
                                 "daemon off;"},
        process::SubprocessOptions{.std_out = process::Subprocess::DEVNULL});
    bool up = io_loop().run_sync([this] { return wait_until_listening(); }, 10.0);
    if (!up) {
      // The destructor will not run for a constructor that throws: stop nginx here.
      if (!proc->returncode()) proc->terminate();
      proc->wait();
      backend->stop();
      std::ifstream log(dir / "error.log");
      std::stringstream text;
      text << log.rdbuf();
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      BOOST_FAIL("nginx did not start listening; its error.log says:\n" << text.str());
    }
  }
  ~Nginx() override {
    if (proc) {
      if (!proc->returncode()) proc->terminate();
      proc->wait();
    }
    test_support::shut_down(*backend, io_loop());
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  Future<bool> wait_until_listening() {
    for (int i = 0; i < 250; ++i) {
      int connected = 0;
      for (int port : {http_port, https_port}) {
        auto s = std::make_unique<iostream::IOStream>(::socket(AF_INET, SOCK_STREAM, 0));
        try {
          co_await s->connect(netutil::SocketAddress("127.0.0.1", static_cast<std::uint16_t>(port)));
          ++connected;
        } catch (const std::exception&) {
        }
        s->close();
      }
      if (connected == 2) co_return true;
      co_await gen::sleep(0.02);
    }
    co_return false;
  }

  std::string url(bool https, const std::string& path) const {
    return https ? "https://localhost:" + std::to_string(https_port) + path
                 : "http://127.0.0.1:" + std::to_string(http_port) + path;
  }
  httpclient::HTTPRequest request(bool https, const std::string& path, std::string method = "GET") const {
    httpclient::HTTPRequest r(url(https, path), std::move(method));
    r.ca_certs = data_file("ca.crt");
    r.request_timeout = 10;
    return r;
  }
  Future<httpclient::HTTPResponse> fetch(httpclient::HTTPRequest r, bool raise_error = true) {
    auto client = httpclient::AsyncHTTPClient::instance(true);
    auto response = co_await client->fetch(std::move(r), raise_error);
    client->close();
    co_return response;
  }

  // --- the checks, each run over HTTP and HTTPS ---

  Future<void> check_fixed(bool https) {
    auto r = co_await fetch(request(https, "/fixed"));
    BOOST_TEST(r.code == 200);
    BOOST_TEST(r.body == "fixed body from nginx\n");
    BOOST_TEST(r.headers.get("Server", "").starts_with("nginx"));
    BOOST_TEST(r.headers.get("Content-Type", "") == "text/plain");
    BOOST_TEST(r.effective_url == url(https, "/fixed"));
  }

  Future<void> check_static(bool https) {
    auto r = co_await fetch(request(https, "/static/hello.txt"));
    BOOST_TEST(r.code == 200);
    BOOST_TEST(r.body == kStatic);
    BOOST_TEST(r.headers.get("Content-Length", "") == std::to_string(kStatic.size()));
    BOOST_TEST(r.headers.get("Content-Type", "") == "text/plain");
    BOOST_TEST(r.headers.contains("Last-Modified"));
    BOOST_TEST(r.headers.contains("ETag"));
  }

  Future<void> check_gzip(bool https) {
    // decompress_response (the default) asks for gzip and gunzips: nginx compresses on the fly,
    // so the body comes chunked, without a Content-Length.
    auto r = co_await fetch(request(https, "/gzip/big.txt"));
    BOOST_TEST(r.code == 200);
    BOOST_TEST(r.body == gzip_source());
    BOOST_TEST(r.headers.get("X-Consumed-Content-Encoding", "") == "gzip");
    BOOST_TEST(!r.headers.contains("Content-Encoding"));
    BOOST_TEST(r.headers.get("Transfer-Encoding", "") == "chunked");
    // Asked for gzip but not decompressing: the compressed bytes as nginx sent them.
    auto raw = request(https, "/gzip/big.txt");
    raw.decompress_response = false;
    raw.headers.set("Accept-Encoding", "gzip");
    auto z = co_await fetch(std::move(raw));
    BOOST_TEST(z.headers.get("Content-Encoding", "") == "gzip");
    BOOST_TEST(z.body.starts_with("\x1f\x8b"));
    BOOST_TEST(z.body.size() < gzip_source().size() / 4);
    // Not asking for gzip at all: nginx sends the file as it is.
    auto plain = request(https, "/gzip/big.txt");
    plain.decompress_response = false;
    auto p = co_await fetch(std::move(plain));
    BOOST_TEST(!p.headers.contains("Content-Encoding"));
    BOOST_TEST(p.body == gzip_source());
  }

  Future<void> check_redirect(bool https) {
    auto r = co_await fetch(request(https, "/redirect"));
    BOOST_TEST(r.code == 200);
    BOOST_TEST(r.body == "fixed body from nginx\n");
    BOOST_TEST(r.effective_url == url(https, "/fixed"));
    auto s = co_await fetch(request(https, "/redirect-static"));
    BOOST_TEST(s.body == kStatic);
    BOOST_TEST(s.effective_url == url(https, "/static/hello.txt"));
    // Not followed: the 302 itself, with nginx's Location.
    auto req = request(https, "/redirect");
    req.follow_redirects = false;
    auto n = co_await fetch(std::move(req), false);
    BOOST_TEST(n.code == 302);
    BOOST_TEST(n.headers.get("Location", "").ends_with("/fixed"));
    BOOST_TEST(n.effective_url == url(https, "/redirect"));
  }

  Future<void> check_head_and_404(bool https) {
    auto h = co_await fetch(request(https, "/static/hello.txt", "HEAD"));
    BOOST_TEST(h.code == 200);
    BOOST_TEST(h.body.empty());
    BOOST_TEST(h.headers.get("Content-Length", "") == std::to_string(kStatic.size()));
    int code = 0;
    try {
      co_await fetch(request(https, "/static/missing.txt"));
    } catch (const httpclient::HTTPClientError& e) {
      code = e.code;
    }
    BOOST_TEST(code == 404);
    auto r = co_await fetch(request(https, "/static/missing.txt"), false);
    BOOST_TEST(r.code == 404);
    BOOST_TEST(r.body.find("404 Not Found") != std::string::npos);
  }

  Future<void> check_post(bool https) {
    // nginx's `return` reads and discards a request body, then answers.
    auto empty = request(https, "/fixed", "POST");
    empty.body = "";
    auto r = co_await fetch(std::move(empty));
    BOOST_TEST(r.code == 200);
    auto req = request(https, "/fixed", "POST");
    req.body = std::string(300000, 'p');
    auto big = co_await fetch(std::move(req));
    BOOST_TEST(big.code == 200);
    BOOST_TEST(big.body == "fixed body from nginx\n");
  }

  Future<void> check_backend(bool https) {
    // nginx in front of our server: nginx's proxy headers reach the application through xheaders,
    // request bodies arrive whole, and upstream keep-alive reuses one connection to our server.
    for (int i = 0; i < 5; ++i) {
      auto req = request(https, "/backend/item?i=" + std::to_string(i));
      req.headers.set("X-Test", "t" + std::to_string(i));
      auto r = co_await fetch(std::move(req));
      BOOST_TEST(r.body == "backend 10.1.2.3 " + std::string(https ? "https" : "http") + " GET /backend/item?i=" +
                               std::to_string(i) + " 0 t" + std::to_string(i));
    }
    auto post = request(https, "/backend/upload", "POST");
    post.body = std::string(200000, 'u');
    auto p = co_await fetch(std::move(post));
    BOOST_TEST(p.body == "backend 10.1.2.3 " + std::string(https ? "https" : "http") + " POST /backend/upload 200000 -");
    // Our chunked response, passed on by nginx.
    auto c = co_await fetch(request(https, "/backend/chunked"));
    std::string expected;
    for (int i = 0; i < 50; ++i) expected += "piece " + std::to_string(i) + "\n";
    BOOST_TEST(c.body == expected);
    BOOST_TEST(backend_requests == 7u);
    BOOST_TEST(backend_peers.size() == 1u);
  }

  Future<void> check_keep_alive(bool https) {
    // One client, one request after the other: nginx sees them on one connection ($connection
    // stays, $connection_requests counts), a gzip chunked body on the way included.
    auto client = httpclient::AsyncHTTPClient::instance(true);
    std::string first;
    for (int i = 1; i <= 4; ++i) {
      auto r = co_await client->fetch(request(https, "/conn"));
      auto space = r.body.find(' ');
      if (i == 1) first = r.body.substr(0, space);
      BOOST_TEST(r.body.substr(0, space) == first);
      BOOST_TEST(r.body.substr(space + 1) == std::to_string(2 * i - 1));
      auto z = co_await client->fetch(request(https, "/gzip/big.txt"));
      BOOST_TEST(z.body == gzip_source());
    }
    BOOST_TEST(client->idle_connection_count() == 1u);
    client->close();
    // Without pooling (Tornado's own behaviour), every request has a connection of its own.
    auto closing = httpclient::AsyncHTTPClient::instance(
        true, httpclient::AsyncHTTPClientOptions{.max_idle_connections_per_host = 0});
    std::set<std::string> connections;
    for (int i = 0; i < 3; ++i) {
      auto r = co_await closing->fetch(request(https, "/conn"));
      auto space = r.body.find(' ');
      connections.insert(r.body.substr(0, space));
      BOOST_TEST(r.body.substr(space + 1) == "1");
    }
    BOOST_TEST(connections.size() == 3u);
    closing->close();
  }

  Future<void> check_many_at_once(bool https) {
    // More fetches than max_clients (10): the rest wait in the client's queue.
    auto client = httpclient::AsyncHTTPClient::instance(true);
    std::vector<Future<httpclient::HTTPResponse>> futures;
    for (int i = 0; i < 25; ++i)
      futures.push_back(client->fetch(request(https, i % 2 ? "/static/hello.txt" : "/fixed")));
    auto responses = co_await gen::multi(futures);
    client->close();
    for (std::size_t i = 0; i < responses.size(); ++i)
      BOOST_TEST(responses[i].body == (i % 2 ? kStatic : std::string("fixed body from nginx\n")));
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(NginxTest, *boost::unit_test::precondition(nginx_available))

TORNADO_GEN_TEST(test_fixed_body, Nginx) { co_await check_fixed(false); }
TORNADO_GEN_TEST(test_fixed_body_https, Nginx) { co_await check_fixed(true); }
TORNADO_GEN_TEST(test_static_file, Nginx) { co_await check_static(false); }
TORNADO_GEN_TEST(test_static_file_https, Nginx) { co_await check_static(true); }
TORNADO_GEN_TEST(test_gzip_chunked, Nginx) { co_await check_gzip(false); }
TORNADO_GEN_TEST(test_gzip_chunked_https, Nginx) { co_await check_gzip(true); }
TORNADO_GEN_TEST(test_redirect, Nginx) { co_await check_redirect(false); }
TORNADO_GEN_TEST(test_redirect_https, Nginx) { co_await check_redirect(true); }
TORNADO_GEN_TEST(test_head_and_404, Nginx) { co_await check_head_and_404(false); }
TORNADO_GEN_TEST(test_head_and_404_https, Nginx) { co_await check_head_and_404(true); }
TORNADO_GEN_TEST(test_post, Nginx) { co_await check_post(false); }
TORNADO_GEN_TEST(test_post_https, Nginx) { co_await check_post(true); }
TORNADO_GEN_TEST(test_our_server_behind_nginx, Nginx) { co_await check_backend(false); }
TORNADO_GEN_TEST(test_our_server_behind_nginx_https, Nginx) { co_await check_backend(true); }
TORNADO_GEN_TEST(test_keep_alive, Nginx) { co_await check_keep_alive(false); }
TORNADO_GEN_TEST(test_keep_alive_https, Nginx) { co_await check_keep_alive(true); }
TORNADO_GEN_TEST_TIMEOUT(test_many_at_once, Nginx, 20.0) { co_await check_many_at_once(false); }
TORNADO_GEN_TEST_TIMEOUT(test_many_at_once_https, Nginx, 20.0) { co_await check_many_at_once(true); }

TORNADO_GEN_TEST(test_https_certificate_checks, Nginx) {
  // Without our CA the server is not trusted (the system's CAs do not know it)...
  tornado::testing::ExpectLog expect(log::gen_log(), "SSL Error.*certificate verify failed", true);
  auto untrusted = request(true, "/fixed");
  untrusted.ca_certs.clear();
  bool failed = false;
  try {
    co_await fetch(std::move(untrusted));
  } catch (const std::exception&) {
    failed = true;
  }
  BOOST_TEST(failed);
  // ...nor with a CA file that did not sign its certificate...
  auto wrong_ca = request(true, "/fixed");
  wrong_ca.ca_certs = data_file("other.crt");
  failed = false;
  try {
    co_await fetch(std::move(wrong_ca));
  } catch (const std::exception&) {
    failed = true;
  }
  BOOST_TEST(failed);
  BOOST_TEST(expect.matched() == 2u);
  // ...and validate_cert=false accepts it anyway.
  auto unchecked = request(true, "/fixed");
  unchecked.ca_certs.clear();
  unchecked.validate_cert = false;
  auto r = co_await fetch(std::move(unchecked));
  BOOST_TEST(r.body == "fixed body from nginx\n");
}

BOOST_AUTO_TEST_SUITE_END()
