module;
#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <system_error>
module tornado.testing;

import tornado.ioloop;
import tornado.concurrent;
import tornado.log;
import tornado.util;
import tornado.httpclient;
import tornado.httpserver;
import tornado.netutil;
import tornado.web;

namespace tornado::testing {

double get_async_test_timeout() {
  if (const char* env = std::getenv("ASYNC_TEST_TIMEOUT")) {
    char* end = nullptr;
    double v = std::strtod(env, &end);
    if (end != env && v > 0) return v;
  }
  return 5.0;
}

namespace {
// The test case running on this thread, if any: records logged on the thread are its business.
thread_local AsyncTestCase* tls_active = nullptr;

// One root handler serves every live AsyncTestCase (installed by the first, removed by the last),
// so that nested or concurrent test cases neither print records twice nor see each other's.
std::mutex registry_mutex;
std::size_t registry_users = 0;
std::size_t registry_handler = 0;

// Seconds as Python prints them in the timeout message ("0.01", not "0.010000").
std::string seconds_text(double t) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, t);
  return std::string(buf, end);
}

// What the IOLoop logs when an exception escapes a callback, a timer, an I/O handler, or a
// coroutine whose future nobody holds: asyncio's call_exception_handler cases.
bool is_callback_exception(const log::LogRecord& r) {
  if (r.level < log::Level::ERROR || !r.exc || r.name != log::app_log().name()) return false;
  std::string_view m = r.message;
  return m.starts_with("Exception in callback") || m.starts_with("Future exception was never retrieved");
}
}  // namespace

AsyncTestCase::AsyncTestCase() : io_loop_(std::make_unique<ioloop::IOLoop>(false)) {
  io_loop_->make_current();  // as Tornado's setUp does: replaces whatever loop was current
  previous_active_ = std::exchange(tls_active, this);
  std::lock_guard lock(registry_mutex);
  if (registry_users++ == 0) {
    registry_handler = log::get_logger().add_handler([](const log::LogRecord& r) {
      if (r.level < log::Level::WARNING) return;
      if (AsyncTestCase* t = tls_active) t->on_log(r);
      // This handler hides the last-resort one: show the record as it would have, unless the
      // program set up its own output (enable_pretty_logging, say).
      if (log::get_logger().handler_count() == 1) {
        auto line = log::LogFormatter(false).format(r);
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stderr);
      }
    });
  }
}

AsyncTestCase::~AsyncTestCase() {
  // Closing drops pending callbacks; a failed future dropped with them is still this test's.
  io_loop_->close(true);
  io_loop_.reset();
  ioloop::IOLoop::clear_current();
  tls_active = previous_active_;
  {
    std::lock_guard lock(registry_mutex);
    if (--registry_users == 0) log::get_logger().remove_handler(std::exchange(registry_handler, 0));
  }
  if (failure_) {
    std::string more = more_failures_ ? " (and " + std::to_string(more_failures_) + " more)" : "";
    BOOST_ERROR("uncaught exception in a callback during the test: " + failure_text_ + more +
                " (wrap it in an ExpectLog on app_log if it is expected)");
  }
  if (fail_on_unexpected_logs && unexpected_logs_ > 0) {
    BOOST_ERROR(std::to_string(unexpected_logs_) + " unexpected warning(s) or error(s) were logged");
  }
}

void AsyncTestCase::on_log(const log::LogRecord& r) {
  ++unexpected_logs_;
  if (!fail_on_callback_exceptions || !is_callback_exception(r)) return;
  if (failure_) {
    ++more_failures_;
  } else {
    failure_ = r.exc;
    failure_text_ = r.message + ": " + r.exc_text;
  }
  // As Tornado's _handle_exception: end a wait() in progress, which then rethrows.
  stop();
}

void AsyncTestCase::rethrow() {
  if (!failure_) return;
  auto e = std::exchange(failure_, nullptr);
  failure_text_.clear();
  more_failures_ = 0;
  std::rethrow_exception(e);
}

void AsyncTestCase::stop() {
  stopped_ = true;
  if (waiting_) io_loop_->stop();
}

void AsyncTestCase::wait(std::optional<double> timeout) { wait(std::function<bool()>(), timeout); }

void AsyncTestCase::wait(const std::function<bool()>& condition, std::optional<double> timeout) {
  double t = timeout.value_or(get_async_test_timeout());
  if (!stopped_) {
    bool timed_out = false;
    ioloop::TimeoutHandle handle;
    if (t > 0) {
      handle = io_loop_->call_later(t, [this, &timed_out] {
        timed_out = true;
        io_loop_->stop();
      });
    }
    // Whatever happens (start() may throw if the loop is already running), leave no timer
    // pointing at this frame and no stale waiting flag.
    struct Reset {
      AsyncTestCase& self;
      ioloop::TimeoutHandle handle;
      ~Reset() {
        self.waiting_ = false;
        self.io_loop_->remove_timeout(handle);
      }
    } reset{*this, handle};
    for (;;) {
      waiting_ = true;
      io_loop_->start();
      waiting_ = false;
      if (timed_out || failure_) break;
      // A direct io_loop().stop() is not a stop(): keep waiting.
      if (stopped_ && (!condition || condition())) break;
    }
    if (timed_out && !failure_) {
      stopped_ = false;
      throw TimeoutError("Async operation timed out after " + seconds_text(t) + " seconds");
    }
  }
  stopped_ = false;
  rethrow();
}

void AsyncTestCase::run_gen_test(const std::function<Future<void>()>& body, std::optional<double> timeout) {
  double t = timeout.value_or(get_async_test_timeout());
  try {
    io_loop_->run_sync(body, t);
  } catch (const TimeoutError&) {
    throw TimeoutError("Async operation timed out after " + seconds_text(t) + " seconds");
  }
}

struct ExpectLog::Impl {
  log::Logger* logger;
  std::regex regex;
  std::string pattern;
  bool required;
  std::optional<log::Level> level;
  std::optional<log::Level> saved_level;  // set when the level was lowered
  std::size_t filter_id = 0;
  int uncaught_at_start = 0;
  bool closed = false;
  bool in_filter = false;  // guards the warning below against matching itself forever
  std::atomic<std::size_t> matched{0};
  std::atomic<bool> logged_stack{false};
};

ExpectLog::ExpectLog(std::string_view logger_name, std::string regex, bool required, std::optional<log::Level> level)
    : ExpectLog(log::get_logger(logger_name), std::move(regex), required, level) {}

ExpectLog::ExpectLog(log::Logger& logger, std::string regex, bool required, std::optional<log::Level> level)
    : impl_(std::make_shared<Impl>()) {
  auto& m = *impl_;
  m.logger = &logger;
  m.regex = std::regex(regex, std::regex::ECMAScript);
  m.pattern = std::move(regex);
  m.required = required;
  m.level = level;
  m.uncaught_at_start = std::uncaught_exceptions();
  if (level && *level < logger.effective_level()) {
    m.saved_level = logger.level();
    logger.set_level(*level);
  }
  // The filter runs under the logging lock, from whichever thread logs; it holds the state
  // weakly so a record racing with destruction finds it gone rather than dangling.
  std::weak_ptr<Impl> weak = impl_;
  m.filter_id = logger.add_filter([weak](const log::LogRecord& r) {
    auto self = weak.lock();
    if (!self || self->in_filter) return true;
    if (r.exc) self->logged_stack = true;
    if (!std::regex_search(r.message, self->regex, std::regex_constants::match_continuous)) return true;
    if (self->level && r.level != *self->level) {
      self->in_filter = true;
      log::app_log().warning("Got expected log message {} at unexpected level ({} vs {})", r.message,
                             log::level_name(*self->level), log::level_name(r.level));
      self->in_filter = false;
      return true;
    }
    ++self->matched;
    return false;
  });
}

void ExpectLog::close() {
  auto& m = *impl_;
  if (m.closed) return;
  m.closed = true;
  m.logger->remove_filter(m.filter_id);
  if (m.saved_level) m.logger->set_level(*m.saved_level);
  if (m.required && m.matched == 0) {
    throw std::runtime_error("did not get expected log message matching: " + m.pattern);
  }
}

ExpectLog::~ExpectLog() {
  try {
    close();
  } catch (const std::exception& e) {
    // As Python's __exit__, say nothing while another exception is on its way out.
    if (std::uncaught_exceptions() == impl_->uncaught_at_start) BOOST_ERROR(e.what());
  }
}

std::size_t ExpectLog::matched() const noexcept { return impl_->matched; }
bool ExpectLog::logged_stack() const noexcept { return impl_->logged_stack; }

BoundSocket bind_unused_port(bool reuse_port, const std::string& address) {
  bool v6 = address.find(':') != std::string::npos;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    if (::inet_pton(AF_INET6, address.c_str(), &a->sin6_addr) != 1) {
      ::close(fd);
      throw std::system_error(EINVAL, std::generic_category(), "bind_unused_port: bad address " + address);
    }
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    if (::inet_pton(AF_INET, address.c_str(), &a->sin_addr) != 1) {
      ::close(fd);
      throw std::system_error(EINVAL, std::generic_category(), "bind_unused_port: bad address " + address);
    }
    len = sizeof *a;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0 || ::listen(fd, 128) < 0) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "bind_unused_port");
  }
  len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int port = v6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return BoundSocket{fd, port};
}

// ---------------------------------------------------------------------------------------------
// AsyncHTTPTestCase

AsyncHTTPTestCase::AsyncHTTPTestCase() = default;

AsyncHTTPTestCase::~AsyncHTTPTestCase() {
  // As Tornado's tearDown: stop accepting, close the connections (they need the loop to end),
  // close the client; then AsyncTestCase closes the loop.
  if (server_) {
    server_->stop();
    try {
      io_loop().run_sync([this] { return server_->close_all_connections(); }, get_async_test_timeout());
    } catch (const std::exception& e) {
      BOOST_ERROR(std::string("closing the test server's connections failed: ") + e.what());
    }
  }
  if (client_) client_->close();
  client_.reset();
  server_.reset();
  app_.reset();
}

std::unique_ptr<web::Application> AsyncHTTPTestCase::get_app() {
  throw std::logic_error("AsyncHTTPTestCase: override get_app() (or get_server_delegate())");
}

std::unique_ptr<httputil::HTTPServerConnectionDelegate> AsyncHTTPTestCase::get_server_delegate() { return get_app(); }

std::shared_ptr<httpclient::AsyncHTTPClient> AsyncHTTPTestCase::get_http_client() {
  return httpclient::AsyncHTTPClient::instance();
}

void AsyncHTTPTestCase::setup() { ensure_started(); }

void AsyncHTTPTestCase::ensure_started() {
  if (server_) return;
  auto sock = bind_unused_port();
  port_ = sock.port;
  try {
    client_ = get_http_client();
    app_ = get_server_delegate();
    server_ = std::make_unique<httpserver::HTTPServer>(*app_, get_httpserver_options());
  } catch (...) {
    ::close(sock.fd);
    throw;
  }
  server_->add_sockets({sock.fd});
}

int AsyncHTTPTestCase::get_http_port() {
  ensure_started();
  return port_;
}

std::string AsyncHTTPTestCase::get_url(std::string_view path) {
  return get_protocol() + "://127.0.0.1:" + std::to_string(get_http_port()) + std::string(path);
}

httpserver::HTTPServer& AsyncHTTPTestCase::http_server() {
  ensure_started();
  return *server_;
}

httpclient::AsyncHTTPClient& AsyncHTTPTestCase::http_client() {
  ensure_started();
  return *client_;
}

web::Application& AsyncHTTPTestCase::app() {
  ensure_started();
  auto* app = dynamic_cast<web::Application*>(app_.get());
  if (!app) throw std::logic_error("AsyncHTTPTestCase::app(): the server's delegate is not a web::Application");
  return *app;
}

httpclient::HTTPResponse AsyncHTTPTestCase::fetch(std::string_view path, bool raise_error) {
  return fetch(path, httpclient::HTTPRequest(), raise_error);
}

httpclient::HTTPResponse AsyncHTTPTestCase::fetch(std::string_view path, const FetchOptions& o) {
  httpclient::HTTPRequest request;
  request.method = o.method;
  request.body = o.body;
  request.headers = o.headers;
  request.follow_redirects = o.follow_redirects;
  request.allow_nonstandard_methods = o.allow_nonstandard_methods;
  if (o.decompress_response) request.decompress_response = *o.decompress_response;
  if (o.request_timeout > 0) request.request_timeout = o.request_timeout;
  return fetch(path, std::move(request), o.raise_error);
}

httpclient::HTTPResponse AsyncHTTPTestCase::fetch(std::string_view path, httpclient::HTTPRequest request,
                                                  bool raise_error) {
  ensure_started();
  std::string lower(path.substr(0, 8));
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  request.url = lower.starts_with("http://") || lower.starts_with("https://") ? std::string(path) : get_url(path);
  prepare_request(request);
  return io_loop().run_sync([&] { return client_->fetch(std::move(request), raise_error); },
                            get_async_test_timeout());
}

netutil::SSLContext AsyncHTTPSTestCase::default_ssl_options() {
  netutil::SSLContext ctx(true);
  ctx.load_cert_chain(std::string(TORNADO_TESTING_DATA_DIR) + "/server.crt",
                      std::string(TORNADO_TESTING_DATA_DIR) + "/server.key");
  return ctx;
}

httpserver::HTTPServerOptions AsyncHTTPSTestCase::get_httpserver_options() {
  httpserver::HTTPServerOptions o;
  o.ssl_options = get_ssl_options();
  return o;
}

}  // namespace tornado::testing
