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

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <system_error>
module tornado.testing;

import tornado.ioloop;
import tornado.concurrent;
import tornado.log;
import tornado.util;

namespace tornado::testing {

double get_async_test_timeout() {
  if (const char* env = std::getenv("ASYNC_TEST_TIMEOUT")) {
    char* end = nullptr;
    double v = std::strtod(env, &end);
    if (end != env && v > 0) return v;
  }
  return 5.0;
}

AsyncTestCase::AsyncTestCase() : io_loop_(std::make_unique<ioloop::IOLoop>(false)) {
  io_loop_->make_current();  // as Tornado's setUp does: replaces whatever loop was current
  log_handler_ = log::get_logger().add_handler([this](const log::LogRecord& r) {
    // Shown as the last-resort handler would, and counted: a warning nobody expected is a bug.
    if (r.level < log::Level::WARNING) return;
    ++unexpected_logs_;
    auto line = log::LogFormatter(false).format(r);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
  });
}

AsyncTestCase::~AsyncTestCase() {
  io_loop_->close(true);
  io_loop_.reset();
  ioloop::IOLoop::clear_current();
  log::get_logger().remove_handler(log_handler_);
  if (fail_on_unexpected_logs && unexpected_logs_ > 0) {
    BOOST_ERROR(std::to_string(unexpected_logs_) + " unexpected warning(s) or error(s) were logged");
  }
}

void AsyncTestCase::stop() {
  stopped_ = true;
  if (waiting_) io_loop_->stop();
}

void AsyncTestCase::wait(std::optional<double> timeout) {
  double t = timeout.value_or(get_async_test_timeout());
  if (!stopped_) {
    bool timed_out = false;
    auto handle = io_loop_->call_later(t, [&] {
      timed_out = true;
      io_loop_->stop();
    });
    waiting_ = true;
    struct Reset {
      bool& w;
      ~Reset() { w = false; }
    } reset{waiting_};
    while (!stopped_ && !timed_out) io_loop_->start();
    io_loop_->remove_timeout(handle);
    if (!stopped_) throw TimeoutError("Async operation timed out after " + std::to_string(t) + " seconds");
  }
  stopped_ = false;
}

void AsyncTestCase::run_gen_test(const std::function<Future<void>()>& body, std::optional<double> timeout) {
  double t = timeout.value_or(get_async_test_timeout());
  try {
    io_loop_->run_sync(body, t);
  } catch (const TimeoutError&) {
    throw TimeoutError("Async operation timed out after " + std::to_string(t) + " seconds");
  }
}

struct ExpectLog::Impl {
  log::Logger* logger;
  std::regex regex;
  std::string pattern;
  bool required;
  std::optional<log::Level> level;
  log::Level saved_level;
  std::size_t filter_id = 0;
  std::size_t matched = 0;
  bool logged_stack = false;
};

ExpectLog::ExpectLog(log::Logger& logger, std::string regex, bool required, std::optional<log::Level> level)
    : impl_(std::make_shared<Impl>()) {
  auto& m = *impl_;
  m.logger = &logger;
  m.pattern = regex;
  m.regex = std::regex(regex, std::regex::ECMAScript);
  m.required = required;
  m.level = level;
  m.saved_level = logger.level();
  if (level && !logger.is_enabled_for(*level)) logger.set_level(*level);
  std::weak_ptr<Impl> weak = impl_;
  m.filter_id = logger.add_filter([weak](const log::LogRecord& r) {
    auto self = weak.lock();
    if (!self) return true;
    if (self->level && r.level != *self->level) return true;
    if (!std::regex_search(r.message, self->regex, std::regex_constants::match_continuous)) return true;
    ++self->matched;
    if (!r.exc_text.empty()) self->logged_stack = true;
    return false;
  });
}

ExpectLog::~ExpectLog() {
  auto& m = *impl_;
  m.logger->remove_filter(m.filter_id);
  if (m.level) m.logger->set_level(m.saved_level);
  if (m.required && m.matched == 0) {
    BOOST_ERROR("did not get expected log message matching: " + m.pattern);
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

}  // namespace tornado::testing
