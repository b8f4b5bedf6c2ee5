// Tests of tornado.concurrent: Future<T>, coroutines, chain_future, the executors, and the rules
// of docs/concurrency.md. Ported from tornado/test/concurrent_test.py (Tornado 6.2):
// MiscFutureTest, GeneratorClientTest (with its ClientTestMixin cases) and RunOnExecutorTest; the
// suites after them test the documented Future rules that Python inherits from asyncio.
//
// Cases that change in C++:
//   GeneratorClientTest: Python's CapServer/GeneratorCapClient use TCPServer and IOStream; here
//     they are written on raw non-blocking sockets and IOLoop::add_handler (the layer under test),
//     keeping the protocol and the four cases.
//   RunOnExecutorTest: `@run_on_executor` is a decorator finding `self.executor`; in C++ it is a
//     call, `run_on_executor(executor, fn)`. test_no_calling and test_call_with_no_args differ only
//     in decorator syntax, so the second tests the no-argument form of its C++ counterpart,
//     IOLoop::run_in_executor(nullptr, fn) (the default executor); test_call_with_executor names
//     another executor, as `executor="_Object__executor"` does.
#define BOOST_TEST_MODULE concurrent
#include <tornado/testing.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

import tornado.concurrent;
import tornado.ioloop;
import tornado.gen;
import tornado.log;

using namespace tornado;
using tornado::testing::AsyncTestCase;
using tornado::testing::ExpectLog;
using namespace std::chrono_literals;

namespace {

struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Counts the destructions of a coroutine's locals.
struct Guard {
  int* destroyed;
  ~Guard() { ++*destroyed; }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(MiscFutureTest, AsyncTestCase)

BOOST_AUTO_TEST_CASE(test_future_set_result_unless_cancelled) {
  Future<int> fut;
  future_set_result_unless_cancelled(fut, 42);
  BOOST_TEST(fut.result() == 42);
  BOOST_TEST(!fut.cancelled());

  Future<int> cancelled;
  cancelled.cancel();
  bool is_cancelled = cancelled.cancelled();
  BOOST_TEST(is_cancelled);
  BOOST_CHECK_NO_THROW(future_set_result_unless_cancelled(cancelled, 42));
  BOOST_TEST(cancelled.cancelled() == is_cancelled);
}

BOOST_AUTO_TEST_CASE(test_future_set_exception_unless_cancelled) {
  Future<int> fut;
  future_set_exception_unless_cancelled(fut, std::make_exception_ptr(ValueError("boom")));
  BOOST_CHECK_THROW(fut.result(), ValueError);

  // On a cancelled future the exception is not lost: it is logged.
  ExpectLog expect(log::app_log(), "Exception after Future was cancelled");
  Future<int> cancelled;
  cancelled.cancel();
  future_set_exception_unless_cancelled(cancelled, std::make_exception_ptr(ValueError("late")));
  BOOST_TEST(cancelled.cancelled());
  BOOST_TEST(expect.matched() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// CapServer and its client: a line in, the line capitalized back ("ok\tHELLO\n"), or an error if it
// already was ("error\talready capitalized\n").
namespace {

struct CapError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Owns a descriptor.
struct Socket {
  int fd;
  explicit Socket(int fd) : fd(fd) {
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { ::close(fd); }
};

// A future that completes when `fd` is ready for `events` on `loop`.
Future<void> wait_for_fd(ioloop::IOLoop& loop, int fd, std::uint32_t events) {
  Future<void> ready;
  loop.add_handler(
      fd,
      [&loop, ready](int fd, std::uint32_t) {
        loop.remove_handler(fd);
        future_set_result_unless_cancelled(ready);
      },
      events);
  return ready;
}

Future<std::string> read_until(ioloop::IOLoop& loop, int fd, char delimiter) {
  std::string buffer;
  for (;;) {
    char chunk[256];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<std::size_t>(n));
      if (auto pos = buffer.find(delimiter); pos != std::string::npos) co_return buffer.substr(0, pos + 1);
    } else if (n == 0) {
      throw std::runtime_error("connection closed");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      co_await wait_for_fd(loop, fd, ioloop::IOLoop::READ);
    } else if (errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "recv");
    }
  }
}

Future<void> write_all(ioloop::IOLoop& loop, int fd, std::string data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      co_await wait_for_fd(loop, fd, ioloop::IOLoop::WRITE);
    } else if (errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "send");
    }
  }
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

class CapServer {
 public:
  CapServer(ioloop::IOLoop& loop, int listen_fd) : loop_(loop), fd_(listen_fd) {
    loop_.add_handler(fd_, [this](int, std::uint32_t) { accept_all(); }, ioloop::IOLoop::READ);
  }
  ~CapServer() { stop(); }
  void stop() {
    if (fd_ < 0) return;
    loop_.remove_handler(fd_);
    ::close(fd_);
    fd_ = -1;
  }

 private:
  void accept_all() {
    for (;;) {
      int conn = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (conn < 0) return;
      loop_.spawn_callback([&loop = loop_, conn] { return handle_stream(loop, conn); });
    }
  }
  static Future<void> handle_stream(ioloop::IOLoop& loop, int fd) {
    Socket stream(fd);
    std::string data = co_await read_until(loop, stream.fd, '\n');
    if (data == upper(data)) {
      co_await write_all(loop, stream.fd, "error\talready capitalized\n");
    } else {
      co_await write_all(loop, stream.fd, "ok\t" + upper(data));  // data already has \n
    }
  }

  ioloop::IOLoop& loop_;
  int fd_;
};

class GeneratorCapClient {
 public:
  GeneratorCapClient(ioloop::IOLoop& loop, int port) : loop_(loop), port_(port) {}

  Future<std::string> capitalize(std::string request_data) {
    Socket stream(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (::connect(stream.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      if (errno != EINPROGRESS) throw std::system_error(errno, std::generic_category(), "connect");
      co_await wait_for_fd(loop_, stream.fd, ioloop::IOLoop::WRITE);
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(stream.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) throw std::system_error(err, std::generic_category(), "connect");
    }
    co_await write_all(loop_, stream.fd, request_data + "\n");
    std::string data = co_await read_until(loop_, stream.fd, '\n');
    co_return process_response(data);
  }

 private:
  static std::string process_response(const std::string& data) {
    auto tab = data.find('\t');
    if (tab == std::string::npos || data.empty() || data.back() != '\n') throw std::runtime_error("did not match");
    std::string status = data.substr(0, tab);
    std::string message = data.substr(tab + 1, data.size() - tab - 2);
    if (status == "ok") return message;
    throw CapError(message);
  }

  ioloop::IOLoop& loop_;
  int port_;
};

struct ClientTestMixin : AsyncTestCase {
  ClientTestMixin() {
    auto sock = testing::bind_unused_port();
    server.emplace(io_loop(), sock.fd);
    client.emplace(io_loop(), sock.port);
  }
  ~ClientTestMixin() override { server.reset(); }

  std::optional<CapServer> server;
  std::optional<GeneratorCapClient> client;
};

bool already_capitalized(const CapError& e) {
  return std::string(e.what()).find("already capitalized") != std::string::npos;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(GeneratorClientTest, ClientTestMixin)

BOOST_AUTO_TEST_CASE(test_future) {
  auto future = client->capitalize("hello");
  io_loop().add_future(future, [this](const Future<std::string>&) { stop(); });
  wait();
  BOOST_TEST(future.result() == "HELLO");
}

BOOST_AUTO_TEST_CASE(test_future_error) {
  auto future = client->capitalize("HELLO");
  io_loop().add_future(future, [this](const Future<std::string>&) { stop(); });
  wait();
  BOOST_CHECK_EXCEPTION(future.result(), CapError, already_capitalized);
}

BOOST_AUTO_TEST_CASE(test_generator) {
  std::string result;
  io_loop().run_sync([&]() -> Future<void> { result = co_await client->capitalize("hello"); });
  BOOST_TEST(result == "HELLO");
}

BOOST_AUTO_TEST_CASE(test_generator_error) {
  bool raised = false;
  io_loop().run_sync([&]() -> Future<void> {
    try {
      co_await client->capitalize("HELLO");
    } catch (const CapError& e) {
      raised = already_capitalized(e);
    }
  });
  BOOST_TEST(raised);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(RunOnExecutorTest, AsyncTestCase)

TORNADO_GEN_TEST(test_no_calling, AsyncTestCase) {
  struct Object {
    ThreadPoolExecutor executor{1};
    Future<int> f() {
      return run_on_executor(executor, [] { return 42; });
    }
  };
  Object o;
  int answer = co_await o.f();
  BOOST_TEST(answer == 42);
}

TORNADO_GEN_TEST(test_call_with_no_args, AsyncTestCase) {
  // IOLoop::run_in_executor with no executor: the loop's default ThreadPoolExecutor.
  auto main_thread = std::this_thread::get_id();
  std::thread::id worker;
  int answer = co_await io_loop().run_in_executor(nullptr, [&] {
    worker = std::this_thread::get_id();
    return 42;
  });
  BOOST_TEST(answer == 42);
  BOOST_TEST((worker != main_thread));
}

TORNADO_GEN_TEST(test_call_with_executor, AsyncTestCase) {
  class Object {
   public:
    Future<int> f(ioloop::IOLoop& loop) {
      return loop.run_in_executor(&executor_, [] { return 42; });
    }

   private:
    ThreadPoolExecutor executor_{1};
  };
  Object o;
  int answer = co_await o.f(io_loop());
  BOOST_TEST(answer == 42);
}

TORNADO_GEN_TEST(test_async_await, AsyncTestCase) {
  struct Object {
    ThreadPoolExecutor executor{1};
    Future<int> f() {
      return run_on_executor(executor, [] { return 42; });
    }
  };
  Object o;
  auto f = [&]() -> Future<int> {
    int answer = co_await o.f();
    co_return answer;
  };
  int result = co_await f();
  BOOST_TEST(result == 42);
}

// Beyond concurrent_test.py.

TORNADO_GEN_TEST(test_thread_pool_completes_on_loop_thread, AsyncTestCase) {
  ThreadPoolExecutor executor(2);
  auto main_thread = std::this_thread::get_id();
  std::thread::id worker, completed_on;
  auto future = run_on_executor(executor, [&] {
    worker = std::this_thread::get_id();
    return std::string("done");
  });
  // The worker's result reaches the future only through the loop, which has not run yet.
  BOOST_TEST(!future.done());
  future.add_done_callback([&](const Future<std::string>&) { completed_on = std::this_thread::get_id(); });
  std::string r = co_await future;
  BOOST_TEST(r == "done");
  BOOST_TEST((worker != main_thread));
  BOOST_TEST((completed_on == main_thread));
}

TORNADO_GEN_TEST(test_thread_pool_exception, AsyncTestCase) {
  // An exception thrown on the worker is rethrown where the future is awaited.
  ThreadPoolExecutor executor(1);
  std::string message;
  try {
    co_await run_on_executor(executor, []() -> int { throw ValueError("from the worker"); });
  } catch (const ValueError& e) {
    message = e.what();
  }
  BOOST_TEST(message == "from the worker");
  // And through IOLoop::run_in_executor, for a void function.
  bool raised = false;
  try {
    co_await io_loop().run_in_executor(&executor, [] { throw ValueError("void"); });
  } catch (const ValueError&) {
    raised = true;
  }
  BOOST_TEST(raised);
}

TORNADO_GEN_TEST(test_dummy_executor, AsyncTestCase) {
  // DummyExecutor runs the function inline, on this thread, but the future still completes
  // through the loop, on a later iteration.
  DummyExecutor executor;
  auto main_thread = std::this_thread::get_id();
  std::thread::id ran_on;
  auto future = run_on_executor(executor, [&] {
    ran_on = std::this_thread::get_id();
    return 42;
  });
  BOOST_TEST((ran_on == main_thread));
  BOOST_TEST(!future.done());
  int answer = co_await future;
  BOOST_TEST(answer == 42);

  bool ran = false;
  co_await io_loop().run_in_executor(&executor, [&] { ran = true; });
  BOOST_TEST(ran);
}

TORNADO_GEN_TEST(test_dummy_executor_exception, AsyncTestCase) {
  DummyExecutor executor;
  std::string message;
  try {
    co_await io_loop().run_in_executor(&executor, []() -> std::string { throw ValueError("inline"); });
  } catch (const ValueError& e) {
    message = e.what();
  }
  BOOST_TEST(message == "inline");
}

TORNADO_GEN_TEST(test_executor_move_only_result, AsyncTestCase) {
  ThreadPoolExecutor executor(1);
  std::unique_ptr<int> p = co_await run_on_executor(executor, [] { return std::make_unique<int>(7); });
  BOOST_REQUIRE(p);
  BOOST_TEST(*p == 7);
}

BOOST_AUTO_TEST_CASE(test_close_with_executor_task_pending) {
  // Closing a loop whose default executor still runs a task: the task finishes, its result is
  // dropped with the loop, and the coroutine waiting for it is destroyed (no leak under ASan).
  int destroyed = 0;
  bool resumed = false;
  std::optional<Future<void>> waiting;
  {
    ioloop::IOLoop loop(false);  // a second loop, made current for what follows
    loop.make_current();
    auto waiter = [&]() -> Future<void> {
      Guard guard{&destroyed};
      co_await IOLoop::current().run_in_executor(nullptr, [] { std::this_thread::sleep_for(20ms); });
      resumed = true;
    };
    waiting = waiter();
    loop.close();
  }
  BOOST_TEST(destroyed == 1);
  BOOST_TEST(!resumed);
  BOOST_TEST(waiting->cancelled());
  io_loop().make_current();
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// The rules of docs/concurrency.md.
BOOST_FIXTURE_TEST_SUITE(FutureTest, AsyncTestCase)

BOOST_AUTO_TEST_CASE(test_pending_and_ready) {
  Future<int> f;
  BOOST_TEST(!f.done());
  BOOST_TEST(!f.cancelled());
  BOOST_CHECK_THROW(f.result(), InvalidStateError);
  BOOST_CHECK_THROW(f.exception(), InvalidStateError);
  auto r = Future<int>::ready(5);
  BOOST_TEST(r.done());
  BOOST_TEST(r.result() == 5);
  BOOST_TEST(!r.exception());
}

BOOST_AUTO_TEST_CASE(test_set_twice_is_invalid) {
  Future<int> f;
  f.set_result(1);
  BOOST_CHECK_THROW(f.set_result(2), InvalidStateError);
  BOOST_CHECK_THROW(f.set_exception(ValueError("x")), InvalidStateError);
  BOOST_TEST(f.result() == 1);
  Future<void> g;
  g.set_exception(ValueError("x"));
  BOOST_CHECK_THROW(g.set_result(), InvalidStateError);
  BOOST_CHECK_THROW(g.result(), ValueError);
}

BOOST_AUTO_TEST_CASE(test_exception_accessor) {
  Future<int> f;
  f.set_exception(ValueError("bad"));
  auto e = f.exception();
  BOOST_REQUIRE(e);
  BOOST_CHECK_THROW(std::rethrow_exception(e), ValueError);
  BOOST_CHECK_THROW(f.result(), ValueError);
}

BOOST_AUTO_TEST_CASE(test_copies_share_state) {
  Future<std::string> a;
  Future<std::string> b = a;
  Future<std::string> c;
  BOOST_TEST((a == b));
  BOOST_TEST(!(a == c));
  a.set_result("shared");
  BOOST_TEST(b.done());
  BOOST_TEST(b.result() == "shared");
}

BOOST_AUTO_TEST_CASE(test_is_future) {
  static_assert(is_future_v<Future<int>>);
  static_assert(is_future_v<Future<>>);
  static_assert(!is_future_v<int>);
  static_assert(!is_future_v<Future<int>&>);
  BOOST_TEST(true);
}

BOOST_AUTO_TEST_CASE(test_cancel) {
  Future<int> f;
  BOOST_TEST(f.cancel());
  BOOST_TEST(f.cancelled());
  BOOST_TEST(f.done());
  BOOST_TEST(!f.cancel());  // already done
  BOOST_CHECK_THROW(f.result(), CancelledError);
  BOOST_CHECK_THROW(f.exception(), CancelledError);
  BOOST_CHECK_THROW(f.set_result(1), InvalidStateError);

  auto done = Future<int>::ready(1);
  BOOST_TEST(!done.cancel());
  BOOST_TEST(!done.cancelled());
  BOOST_TEST(done.result() == 1);
}

TORNADO_GEN_TEST(test_cancel_wakes_waiters, AsyncTestCase) {
  Future<int> f;
  auto waiter = [](Future<int> f) -> Future<std::string> {
    try {
      co_await f;
    } catch (const CancelledError&) {
      co_return "cancelled";
    }
    co_return "not cancelled";
  };
  auto w = waiter(f);
  bool callback_saw_cancel = false;
  f.add_done_callback([&](const Future<int>& done) { callback_saw_cancel = done.cancelled(); });
  f.cancel();
  std::string outcome = co_await w;
  BOOST_TEST(outcome == "cancelled");
  BOOST_TEST(callback_saw_cancel);
}

TORNADO_GEN_TEST(test_cancelled_coroutine_keeps_running, AsyncTestCase) {
  // Cancelling a coroutine's future does not stop the coroutine; its result is dropped.
  bool finished = false;
  auto coro = [&]() -> Future<int> {
    co_await gen::moment;
    finished = true;
    co_return 1;
  };
  auto f = coro();
  BOOST_TEST(f.cancel());
  co_await gen::moment;
  co_await gen::moment;
  BOOST_TEST(finished);
  BOOST_TEST(f.cancelled());
}

TORNADO_GEN_TEST(test_coroutine_starts_eagerly, AsyncTestCase) {
  std::string trace;
  auto coro = [&]() -> Future<void> {
    trace += "start ";
    co_await gen::moment;
    trace += "resumed ";
  };
  auto f = coro();
  trace += "returned ";
  BOOST_TEST(trace == "start returned ");
  co_await f;
  BOOST_TEST(trace == "start returned resumed ");
}

TORNADO_GEN_TEST(test_exception_propagates_through_coroutines, AsyncTestCase) {
  auto inner = []() -> Future<int> {
    co_await gen::moment;
    throw ValueError("deep");
  };
  auto middle = [&]() -> Future<int> { co_return co_await inner() + 1; };
  std::string message;
  try {
    co_await middle();
  } catch (const ValueError& e) {
    message = e.what();
  }
  BOOST_TEST(message == "deep");
}

TORNADO_GEN_TEST(test_completion_is_scheduled_not_inline, AsyncTestCase) {
  // Completing a future runs none of its waiters inline; they run on a later iteration, in the
  // order they were registered (callbacks and coroutines alike).
  Future<int> f;
  std::string order;
  f.add_done_callback([&](const Future<int>&) { order += 'A'; });
  auto waiter = [&](Future<int> f) -> Future<void> {
    co_await f;
    order += 'B';
  };
  auto b = waiter(f);
  f.add_done_callback([&](const Future<int>&) { order += 'C'; });
  f.set_result(1);
  BOOST_TEST(order == "");
  BOOST_TEST(!b.done());
  co_await gen::moment;
  BOOST_TEST(order == "ABC");
  BOOST_TEST(b.done());
}

TORNADO_GEN_TEST(test_add_done_callback_inline_when_done, AsyncTestCase) {
  auto f = Future<int>::ready(3);
  int seen = 0;
  f.add_done_callback([&](const Future<int>& done) { seen = done.result(); });
  BOOST_TEST(seen == 3);  // already, before any iteration
  future_add_done_callback(f, [&](const Future<int>& done) { seen = done.result() + 1; });
  BOOST_TEST(seen == 4);
  co_return;
}

BOOST_AUTO_TEST_CASE(test_without_ioloop_waiters_run_inline) {
  ioloop::IOLoop::clear_current();
  Future<int> f;
  int seen = 0;
  f.add_done_callback([&](const Future<int>& done) { seen = done.result(); });
  bool resumed = false;
  auto waiter = [&](Future<int> f) -> Future<void> {
    co_await f;
    resumed = true;
  };
  auto w = waiter(f);
  f.set_result(9);
  BOOST_TEST(seen == 9);
  BOOST_TEST(resumed);
  BOOST_TEST(w.done());
  io_loop().make_current();
}

TORNADO_GEN_TEST(test_done_callback_exception_is_logged, AsyncTestCase) {
  ExpectLog expect(log::app_log(), "Exception in callback");
  auto ready = Future<int>::ready(1);
  ready.add_done_callback([](const Future<int>&) { throw ValueError("inline callback"); });
  BOOST_TEST(expect.matched() == 1u);
  Future<int> pending;
  pending.add_done_callback([](const Future<int>&) { throw ValueError("scheduled callback"); });
  pending.set_result(1);
  co_await gen::moment;
  BOOST_TEST(expect.matched() == 2u);
}

BOOST_AUTO_TEST_CASE(test_unretrieved_exception_is_logged) {
  {
    ExpectLog expect(log::app_log(), "Future exception was never retrieved");
    {
      Future<int> f;
      f.set_exception(ValueError("nobody looked"));
    }
    BOOST_TEST(expect.matched() == 1u);
    BOOST_TEST(expect.logged_stack());
  }
  {
    // A fire-and-forget coroutine (its future dropped at once) that fails later is logged the
    // same way, when it fails.
    ExpectLog expect(log::app_log(), "Future exception was never retrieved");
    auto fire_and_forget = []() -> Future<void> {
      co_await gen::moment;
      throw ValueError("dropped");
    };
    (void)fire_and_forget();
    BOOST_TEST(expect.matched() == 0u);
    io_loop().run_sync([]() -> Future<void> {
      co_await gen::moment;
      co_await gen::moment;
    });
    BOOST_TEST(expect.matched() == 1u);
  }
  {
    // IOLoop::spawn_callback looks at the failure itself, and logs it as Tornado does.
    ExpectLog expect(log::app_log(), "Exception in callback");
    io_loop().spawn_callback([]() -> Future<void> {
      co_await gen::moment;
      throw ValueError("spawned");
    });
    io_loop().run_sync([]() -> Future<void> {
      co_await gen::moment;
      co_await gen::moment;
    });
    BOOST_TEST(expect.matched() == 1u);
  }
}

TORNADO_GEN_TEST(test_retrieved_exception_is_not_logged, AsyncTestCase) {
  ExpectLog none(log::app_log(), "Future exception was never retrieved", /*required=*/false);
  {
    Future<int> f;
    f.set_exception(ValueError("x"));
    BOOST_CHECK_THROW(f.result(), ValueError);
  }
  {
    Future<int> f;
    f.set_exception(ValueError("x"));
    BOOST_TEST(static_cast<bool>(f.exception()));
  }
  {
    Future<int> f;
    f.set_exception(ValueError("x"));
    try {
      co_await f;
    } catch (const ValueError&) {
    }
  }
  {
    Future<int> f;  // a cancellation is not an error to report
    f.cancel();
  }
  BOOST_TEST(none.matched() == 0u);
}

TORNADO_GEN_TEST(test_rvalue_await_of_abandoned_future_destroys_coroutine, AsyncTestCase) {
  // `co_await std::move(f)`: if every other handle to f goes while it is pending, the coroutine
  // is destroyed (its locals' destructors run) and its own future cancelled, which wakes its
  // waiters with CancelledError.
  int destroyed = 0;
  bool resumed = false;
  auto coro = [&](Future<int> f) -> Future<int> {
    Guard guard{&destroyed};
    int v = co_await std::move(f);
    resumed = true;
    co_return v;
  };
  auto producer = std::make_optional<Future<int>>();
  auto result = coro(*producer);
  auto waiter = [](Future<int> f) -> Future<bool> {
    try {
      co_await std::move(f);
    } catch (const CancelledError&) {
      co_return true;
    }
    co_return false;
  };
  auto saw_cancel = waiter(result);
  co_await gen::moment;
  BOOST_TEST(!result.done());
  BOOST_TEST(destroyed == 0);
  producer.reset();  // the producer is gone: nothing can complete the future any more
  BOOST_TEST(destroyed == 1);
  BOOST_TEST(!resumed);
  BOOST_TEST(result.cancelled());
  bool cancelled = co_await saw_cancel;
  BOOST_TEST(cancelled);
}

TORNADO_GEN_TEST(test_rvalue_await_of_call_result, AsyncTestCase) {
  // The same through `co_await some_call()`, where the callee keeps the only handle.
  int destroyed = 0;
  std::optional<Future<void>> held;
  auto some_call = [&]() {
    held.emplace();
    return *held;
  };
  auto coro = [&]() -> Future<void> {
    Guard guard{&destroyed};
    co_await some_call();
  };
  auto result = coro();
  BOOST_TEST(!result.done());
  held.reset();
  BOOST_TEST(destroyed == 1);
  BOOST_TEST(result.cancelled());
  co_return;
}

TORNADO_GEN_TEST(test_lvalue_await_of_abandoned_future_stays_suspended, AsyncTestCase) {
  // `co_await f` on an lvalue in the frame keeps f alive: with its producer gone the coroutine
  // simply stays suspended (no crash) until f is completed.
  int destroyed = 0;
  bool resumed = false;
  Future<int>* frame_copy = nullptr;
  auto coro = [&](Future<int> f) -> Future<int> {
    Guard guard{&destroyed};
    frame_copy = &f;
    int v = co_await f;
    resumed = true;
    co_return v;
  };
  auto producer = std::make_optional<Future<int>>();
  auto result = coro(*producer);
  producer.reset();
  co_await gen::moment;
  co_await gen::moment;
  BOOST_TEST(!result.done());
  BOOST_TEST(!resumed);
  BOOST_TEST(destroyed == 0);
  // Complete it through the frame's own copy, which is what keeps it waiting (and ends the test
  // without leaking the frame).
  frame_copy->set_result(8);
  int v = co_await result;
  BOOST_TEST(v == 8);
  BOOST_TEST(resumed);
  BOOST_TEST(destroyed == 1);
}

TORNADO_GEN_TEST(test_lvalue_await_of_destroyed_future, AsyncTestCase) {
  // An lvalue that is not in the frame (a reference to a future owned elsewhere) holds nothing:
  // when its owner destroys it while pending, the coroutine is destroyed as in the rvalue case.
  int destroyed = 0;
  auto owner = std::make_unique<Future<int>>();
  auto coro = [&](Future<int>& f) -> Future<void> {
    Guard guard{&destroyed};
    co_await f;
  };
  auto result = coro(*owner);
  BOOST_TEST(!result.done());
  owner.reset();
  BOOST_TEST(destroyed == 1);
  BOOST_TEST(result.cancelled());
  co_return;
}

BOOST_AUTO_TEST_CASE(test_close_destroys_coroutines_waiting_on_sleeps) {
  // IOLoop::close() drops its timers and callbacks; the coroutines waiting on them (directly, or
  // on another coroutine that does) are destroyed and their futures cancelled. Nothing leaks
  // (checked by ASan's leak detector in the asan build).
  int destroyed = 0;
  std::vector<Future<void>> futures;
  {
    ioloop::IOLoop loop(false);  // a second loop, made current for what follows
    loop.make_current();
    auto sleeper = [&](double seconds) -> Future<void> {
      Guard guard{&destroyed};
      co_await gen::sleep(seconds);
    };
    auto outer = [&]() -> Future<void> {
      Guard guard{&destroyed};
      co_await sleeper(3600);
    };
    auto yielder = [&]() -> Future<void> {
      Guard guard{&destroyed};
      for (;;) co_await gen::moment;
    };
    futures.push_back(sleeper(3600));
    futures.push_back(outer());
    futures.push_back(yielder());
    loop.spawn_callback([&] { return sleeper(10); });
    loop.run_sync([]() -> Future<void> { co_await gen::sleep(0.01); });
    BOOST_TEST(destroyed == 0);
    loop.close();
  }
  BOOST_TEST(destroyed == 5);  // sleeper, outer and its sleeper, yielder, the spawned sleeper
  for (auto& f : futures) BOOST_TEST(f.cancelled());
  io_loop().make_current();
}

TORNADO_GEN_TEST(test_move_only_through_co_await, AsyncTestCase) {
  auto make = [](int v) -> Future<std::unique_ptr<int>> {
    co_await gen::moment;
    co_return std::make_unique<int>(v);
  };
  std::unique_ptr<int> p = co_await make(5);
  BOOST_REQUIRE(p);
  BOOST_TEST(*p == 5);

  auto relay = [&]() -> Future<std::unique_ptr<int>> { co_return co_await make(6); };
  auto q = co_await relay();
  BOOST_TEST(*q == 6);

  auto ready = Future<std::unique_ptr<int>>::ready(std::make_unique<int>(7));
  auto r = co_await std::move(ready);
  BOOST_TEST(*r == 7);

  // A container of move-only values moves too.
  auto many = []() -> Future<std::vector<std::unique_ptr<int>>> {
    std::vector<std::unique_ptr<int>> v;
    v.push_back(std::make_unique<int>(1));
    co_return v;
  };
  auto v = co_await many();
  BOOST_REQUIRE(v.size() == 1u);
  BOOST_TEST(*v[0] == 1);
}

BOOST_AUTO_TEST_CASE(test_move_only_through_run_sync) {
  auto p = io_loop().run_sync([]() -> Future<std::unique_ptr<int>> {
    co_await gen::moment;
    co_return std::make_unique<int>(11);
  });
  BOOST_REQUIRE(p);
  BOOST_TEST(*p == 11);
}

TORNADO_GEN_TEST(test_await_does_not_steal_shared_value, AsyncTestCase) {
  // A value is moved out by co_await only when nothing else can see it.
  auto f = Future<std::string>::ready("kept");
  std::string a = co_await f;
  std::string b = co_await f;
  BOOST_TEST(a == "kept");
  BOOST_TEST(b == "kept");
  BOOST_TEST(f.result() == "kept");
}

TORNADO_GEN_TEST(test_chain_future, AsyncTestCase) {
  {
    Future<int> a, b;
    chain_future(a, b);
    BOOST_TEST(!b.done());
    a.set_result(1);
    int v = co_await b;
    BOOST_TEST(v == 1);
  }
  {
    Future<int> a, b;
    chain_future(a, b);
    a.set_exception(ValueError("chained"));
    bool raised = false;
    try {
      co_await b;
    } catch (const ValueError&) {
      raised = true;
    }
    BOOST_TEST(raised);
  }
  {
    // Already done: copied at once.
    auto a = Future<std::string>::ready("now");
    Future<std::string> b;
    chain_future(a, b);
    BOOST_TEST(b.done());
    BOOST_TEST(b.result() == "now");
  }
  {
    // A cancelled source cancels the target.
    Future<void> a, b;
    chain_future(a, b);
    a.cancel();
    co_await gen::moment;
    BOOST_TEST(b.cancelled());
  }
  {
    // A target already done (cancelled, say) is left alone.
    Future<int> a, b;
    chain_future(a, b);
    b.cancel();
    a.set_result(2);
    co_await gen::moment;
    BOOST_TEST(b.cancelled());
    BOOST_TEST(a.result() == 2);
  }
  {
    // A move-only value is moved along.
    Future<std::unique_ptr<int>> a, b;
    chain_future(a, b);
    a.set_result(std::make_unique<int>(3));
    auto p = co_await std::move(b);
    BOOST_TEST(*p == 3);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// C++ only: the per-thread cache of freed blocks that future states, coroutine frames and the
// objects made for every request (delegates, requests, handlers) are allocated from. Under
// AddressSanitizer nothing is cached (it must see every free), so only the memory's use is checked.
#if defined(__SANITIZE_ADDRESS__)
#define TORNADO_TEST_RECYCLES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TORNADO_TEST_RECYCLES 0
#endif
#endif
#ifndef TORNADO_TEST_RECYCLES
#define TORNADO_TEST_RECYCLES 1
#endif
BOOST_AUTO_TEST_SUITE(RecycledMemoryTest)
BOOST_AUTO_TEST_CASE(test_block_reused_by_size) {
  namespace d = tornado::detail;
  void* a = d::allocate_block(200);
  std::memset(a, 1, 200);
  d::deallocate_block(a, 200);
  // 200 and 205 bytes round up to the same 208-byte block: the one just freed comes back.
  void* b = d::allocate_block(205);
  if (TORNADO_TEST_RECYCLES) BOOST_TEST(b == a);
  std::memset(b, 2, 205);
  void* c = d::allocate_block(200);  // the cache of that size is empty now
  BOOST_TEST(c != b);
  d::deallocate_block(c, 200);
  d::deallocate_block(b, 205);
  // A frame-sized block (128-byte classes past 256 bytes) comes back too.
  void* f = d::allocate_block(1000);
  std::memset(f, 4, 1000);
  d::deallocate_block(f, 1000);
  void* g = d::allocate_block(1020);
  if (TORNADO_TEST_RECYCLES) BOOST_TEST(g == f);
  d::deallocate_block(g, 1020);
  // Other sizes use other blocks, and sizes past the cached ones come from the heap.
  void* small = d::allocate_block(10);
  BOOST_TEST(small != b);
  BOOST_TEST(small != c);
  void* big = d::allocate_block(64 * 1024);
  std::memset(big, 3, 64 * 1024);
  d::deallocate_block(big, 64 * 1024);
  d::deallocate_block(small, 10);
  // Objects of a class deriving from Recycled, and shared objects made with RecyclingAllocator.
  struct Node : d::Recycled {
    std::string text = "a string too long for the small-string buffer";
  };
  auto* n = new Node;
  BOOST_TEST(n->text.size() > 15);
  delete n;
  auto shared = std::allocate_shared<Node>(d::RecyclingAllocator<Node>());
  BOOST_TEST(shared->text.size() > 15);
}
BOOST_AUTO_TEST_SUITE_END()
