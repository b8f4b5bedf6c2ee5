// The poller contract (see backends/backend.cppm), as one suite run against every backend compiled
// into this build: EpollPoller and PollPoller on Linux, KqueuePoller on BSD and macOS (and on Linux
// with -DTORNADO_WITH_LIBKQUEUE=ON). Each case is a template over the backends, so a report names
// the backend that failed (test_modify<Poll>).
//
// Ported from tornado/test/ioloop_test.py (TestIOLoop), at the poller's level:
//   test_multiple_add, test_remove_without_add, test_read_while_writeable, and
//   test_add_callback_wakeup_other_thread (the wake() it rests on).
// The other TestIOLoop cases test the IOLoop above the poller (tests/ioloop). Not applicable here:
//   test_close_file_object, test_handler_callback_file_object, test_mixed_fd_fileobj (Python file
//   objects; a poller takes descriptors), test_add_callback_from_signal* (signals are not a poller
//   matter).
//
// What a hang-up reports differs between backends, as it does between the system calls:
//   - a pipe whose write end is closed: epoll and poll give ERROR (EPOLLHUP, POLLHUP), not READ;
//     kqueue gives READ (EVFILT_READ with EV_EOF), and read() returns 0. Quirks<P> records this.
//   - a TCP peer's reset (SO_LINGER 0 close): every backend gives ERROR (epoll and poll READ|ERROR,
//     kqueue READ|ERROR from EV_EOF with the socket error in fflags).
//   - a pipe whose read end is closed, and a refused connect: ERROR everywhere.
//   - kqueue emulated by libkqueue on Linux consumes the socket's SO_ERROR when it reports it
//     (Quirks<P>::keeps_socket_error); a kernel kqueue leaves it for the program, as epoll and poll do.
#define BOOST_TEST_MODULE backend
#include <tornado/testing.hpp>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <boost/mp11/algorithm.hpp>

import tornado.backend;

using namespace tornado::backend;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// --- The backends under test, from what CMake compiled in ---------------------------------------
// Each is named by a class of this file, so that test names read test_modify<Epoll>: Boost.Test's
// demangler does not know the mangling of names attached to a module.
#if defined(TORNADO_HAVE_EPOLL)
struct Epoll : EpollPoller {};
using EpollList = std::tuple<Epoll>;
#else
using EpollList = std::tuple<>;
#endif
#if defined(TORNADO_HAVE_POLL)
struct Poll : PollPoller {};
using PollList = std::tuple<Poll>;
#else
using PollList = std::tuple<>;
#endif
#if defined(TORNADO_HAVE_KQUEUE)
struct Kqueue : KqueuePoller {};
using KqueueList = std::tuple<Kqueue>;
#else
using KqueueList = std::tuple<>;
#endif
using Pollers = boost::mp11::mp_append<EpollList, PollList, KqueueList>;
static_assert(boost::mp11::mp_size<Pollers>::value > 0, "no backend compiled in");

// Where backends honestly differ (documented at the top of this file).
template <class P>
struct Quirks {
  /// What a pipe's read end reports once its write end is closed (and nothing is left to read).
  static constexpr std::uint32_t closed_pipe = ERROR;
  /// Whether a socket's pending error (SO_ERROR: a refused connect, a reset) is still there for
  /// the program after the poller reported it.
  static constexpr bool keeps_socket_error = true;
};
#if defined(TORNADO_HAVE_KQUEUE)
template <>
struct Quirks<Kqueue> {
  static constexpr std::uint32_t closed_pipe = READ;
#if defined(TORNADO_LIBKQUEUE)
  // libkqueue fills fflags with getsockopt(SO_ERROR), which on Linux clears the error: after the
  // ERROR event, SO_ERROR reads 0 and read() returns 0 instead of failing with ECONNRESET. A
  // kernel kqueue reads the error without clearing it.
  static constexpr bool keeps_socket_error = false;
#else
  static constexpr bool keeps_socket_error = true;
#endif
};
#endif

namespace {

// --- Descriptors ---------------------------------------------------------------------------------

/// An owned descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

void set_nonblocking(int fd) {
  BOOST_REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
}

std::pair<Fd, Fd> make_pipe() {
  int p[2];
  BOOST_REQUIRE(::pipe(p) == 0);
  set_nonblocking(p[0]);
  set_nonblocking(p[1]);
  return {Fd(p[0]), Fd(p[1])};
}

std::pair<Fd, Fd> make_socketpair() {
  int s[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
  set_nonblocking(s[0]);
  set_nonblocking(s[1]);
  return {Fd(s[0]), Fd(s[1])};
}

/// A TCP socket bound to 127.0.0.1 on a port the system picks; listening if `listen` is set.
/// Returns the socket and its port.
std::pair<Fd, int> bind_unused_port(bool listen = true) {
  Fd s(::socket(AF_INET, SOCK_STREAM, 0));
  BOOST_REQUIRE(s.get() >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  BOOST_REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  if (listen) BOOST_REQUIRE(::listen(s.get(), 16) == 0);
  socklen_t len = sizeof addr;
  BOOST_REQUIRE(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  set_nonblocking(s.get());
  return {std::move(s), ntohs(addr.sin_port)};
}

/// Starts a non-blocking connect to 127.0.0.1:port.
Fd start_connect(int port) {
  Fd s(::socket(AF_INET, SOCK_STREAM, 0));
  BOOST_REQUIRE(s.get() >= 0);
  set_nonblocking(s.get());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  int r = ::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  BOOST_REQUIRE(r == 0 || errno == EINPROGRESS);
  return s;
}

int socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err;
}

void write_byte(int fd, char c = 'x') { BOOST_REQUIRE(::write(fd, &c, 1) == 1); }

// --- Polling -------------------------------------------------------------------------------------

/// The events reported for `fd` in `out` (0 if none), checking that `fd` appears at most once:
/// a backend must merge READ and WRITE of one descriptor into one Event.
std::uint32_t events_for(const std::vector<Event>& out, int fd) {
  std::uint32_t events = 0;
  int seen = 0;
  for (const auto& ev : out) {
    if (ev.fd == fd) {
      events |= ev.events;
      ++seen;
    }
  }
  BOOST_TEST(seen <= 1, "fd " << fd << " reported " << seen << " times in one poll");
  return events;
}

/// One poll(timeout_ms); the events for `fd`.
template <class P>
std::uint32_t poll_once(P& poller, int fd, int timeout_ms = 0) {
  std::vector<Event> out;
  std::size_t n = poller.poll(timeout_ms, out);
  BOOST_TEST(n == out.size());
  return events_for(out, fd);
}

/// Polls until `fd` reports something in `mask`, or 5 seconds pass; the last events for `fd`.
template <class P>
std::uint32_t wait_for(P& poller, int fd, std::uint32_t mask) {
  auto deadline = Clock::now() + 5s;
  std::uint32_t events = 0;
  while (Clock::now() < deadline) {
    events = poll_once(poller, fd, 100);
    if (events & mask) break;
  }
  return events;
}

/// Writes a byte to a pipe after 10 seconds unless cancelled: registered with a poller, it turns a
/// poll(-1) that should have returned long before into a failure instead of a hang.
class Watchdog {
 public:
  template <class P>
  explicit Watchdog(P& poller) {
    auto [r, w] = make_pipe();
    read_ = std::move(r);
    write_ = std::move(w);
    poller.add(read_.get(), READ);
    thread_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      char c = 'w';  // a plain write: Boost.Test's assertions belong to the main thread
      if (!cv_.wait_for(lock, 10s, [this] { return cancelled_; })) (void)!::write(write_.get(), &c, 1);
    });
  }
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  int fd() const { return read_.get(); }

 private:
  Fd read_, write_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  std::thread thread_;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(PollerContract)

// --- Readiness -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE_TEMPLATE(test_pipe_readiness, P, Pollers) {
  P poller;
  auto [r, w] = make_pipe();
  poller.add(r.get(), READ);
  poller.add(w.get(), WRITE);
  BOOST_TEST(poll_once(poller, r.get()) == 0u);  // nothing to read yet
  BOOST_TEST(poll_once(poller, w.get()) == WRITE);
  write_byte(w.get());
  BOOST_TEST(poll_once(poller, r.get(), 1000) == READ);
  char c;
  BOOST_TEST(::read(r.get(), &c, 1) == 1);
  BOOST_TEST(poll_once(poller, r.get()) == 0u);  // drained
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_socketpair_readiness, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  poller.add(a.get(), READ | WRITE);
  BOOST_TEST(poll_once(poller, a.get()) == WRITE);
  write_byte(b.get());
  // READ and WRITE of one descriptor arrive as one Event (events_for checks it).
  BOOST_TEST(poll_once(poller, a.get(), 1000) == (READ | WRITE));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_tcp_readiness, P, Pollers) {
  P poller;
  auto [listener, port] = bind_unused_port();
  poller.add(listener.get(), READ);
  BOOST_TEST(poll_once(poller, listener.get()) == 0u);

  Fd client = start_connect(port);
  poller.add(client.get(), WRITE);
  // A connection waiting to be accepted is READ on the listener; a connected socket is WRITE.
  BOOST_TEST(wait_for(poller, listener.get(), READ) == READ);
  BOOST_TEST(wait_for(poller, client.get(), WRITE) == WRITE);
  BOOST_TEST(socket_error(client.get()) == 0);

  Fd server(::accept(listener.get(), nullptr, nullptr));
  BOOST_REQUIRE(server.get() >= 0);
  set_nonblocking(server.get());
  BOOST_TEST(poll_once(poller, listener.get()) == 0u);  // accepted: nothing pending

  poller.modify(client.get(), READ);
  BOOST_TEST(poll_once(poller, client.get()) == 0u);
  BOOST_TEST(::write(server.get(), "hello", 5) == 5);
  BOOST_TEST(wait_for(poller, client.get(), READ) == READ);
  char buf[8];
  BOOST_TEST(::read(client.get(), buf, sizeof buf) == 5);
  BOOST_TEST(poll_once(poller, client.get()) == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_connect_refused, P, Pollers) {
  P poller;
  // Bound but not listening: a connection to it is refused, and no other program can take the port.
  auto [closed, port] = bind_unused_port(/*listen=*/false);
  Fd client = start_connect(port);
  poller.add(client.get(), WRITE);
  BOOST_TEST((wait_for(poller, client.get(), ERROR) & ERROR) != 0u);
  if (Quirks<P>::keeps_socket_error) BOOST_TEST(socket_error(client.get()) == ECONNREFUSED);
}

// --- Level-triggering ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE_TEMPLATE(test_level_triggered_read, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  poller.add(a.get(), READ);
  write_byte(b.get());
  // An unread byte is reported again on every poll, until it is read.
  for (int i = 0; i < 3; ++i) BOOST_TEST(poll_once(poller, a.get(), 1000) == READ);
  char c;
  BOOST_TEST(::read(a.get(), &c, 1) == 1);
  BOOST_TEST(poll_once(poller, a.get()) == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_level_triggered_write, P, Pollers) {
  P poller;
  auto [listener, port] = bind_unused_port();
  Fd client = start_connect(port);
  poller.add(client.get(), WRITE);
  BOOST_TEST(wait_for(poller, client.get(), WRITE) == WRITE);
  for (int i = 0; i < 3; ++i) BOOST_TEST(poll_once(poller, client.get()) == WRITE);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_not_writable_when_buffer_full, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  poller.add(a.get(), WRITE);
  BOOST_TEST(poll_once(poller, a.get()) == WRITE);
  char buf[4096] = {};
  while (::write(a.get(), buf, sizeof buf) > 0) {
  }
  BOOST_REQUIRE(errno == EAGAIN || errno == EWOULDBLOCK);
  BOOST_TEST(poll_once(poller, a.get()) == 0u);  // full: not writable any more
  while (::read(b.get(), buf, sizeof buf) > 0) {
  }
  BOOST_TEST(wait_for(poller, a.get(), WRITE) == WRITE);  // drained by the peer: writable again
}

// Mirrors TestIOLoop.test_read_while_writeable: a writable descriptor watched for READ only
// reports READ, never WRITE.
BOOST_AUTO_TEST_CASE_TEMPLATE(test_read_while_writeable, P, Pollers) {
  P poller;
  auto [client, server] = make_socketpair();
  poller.add(client.get(), READ);
  BOOST_TEST(poll_once(poller, client.get(), 10) == 0u);
  BOOST_TEST(::write(server.get(), "asdf", 4) == 4);
  BOOST_TEST(poll_once(poller, client.get(), 1000) == READ);
}

// --- modify and remove ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE_TEMPLATE(test_modify, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  write_byte(b.get());  // `a` is readable and writable from here on
  poller.add(a.get(), READ);
  BOOST_TEST(poll_once(poller, a.get(), 1000) == READ);
  poller.modify(a.get(), WRITE);
  BOOST_TEST(poll_once(poller, a.get()) == WRITE);
  poller.modify(a.get(), READ);
  BOOST_TEST(poll_once(poller, a.get()) == READ);
  poller.modify(a.get(), NONE);
  BOOST_TEST(poll_once(poller, a.get(), 10) == 0u);
  poller.modify(a.get(), READ | WRITE);
  BOOST_TEST(poll_once(poller, a.get()) == (READ | WRITE));
  poller.modify(a.get(), READ | WRITE);  // the same interest again is fine
  BOOST_TEST(poll_once(poller, a.get()) == (READ | WRITE));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_add_none_then_modify, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  write_byte(b.get());
  poller.add(a.get(), NONE);
  BOOST_TEST(poll_once(poller, a.get(), 10) == 0u);
  poller.modify(a.get(), READ);
  BOOST_TEST(poll_once(poller, a.get()) == READ);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_modify_unregistered_throws, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  BOOST_CHECK_THROW(poller.modify(a.get(), READ), std::system_error);
  poller.add(a.get(), READ);
  poller.remove(a.get());
  BOOST_CHECK_THROW(poller.modify(a.get(), READ), std::system_error);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_remove, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  write_byte(b.get());
  poller.add(a.get(), READ | WRITE);
  BOOST_TEST(poll_once(poller, a.get(), 1000) == (READ | WRITE));
  poller.remove(a.get());
  BOOST_TEST(poll_once(poller, a.get(), 10) == 0u);
  poller.remove(a.get());  // twice is harmless
  // Removed, it can be added again.
  poller.add(a.get(), READ);
  BOOST_TEST(poll_once(poller, a.get()) == READ);
}

// Mirrors TestIOLoop.test_remove_without_add: removing a descriptor never added is harmless.
BOOST_AUTO_TEST_CASE_TEMPLATE(test_remove_without_add, P, Pollers) {
  P poller;
  auto [sock, port] = bind_unused_port();
  poller.remove(sock.get());
  poller.remove(1 << 20);  // not even open
  poller.remove(-1);
  auto [a, b] = make_socketpair();  // and the poller still works
  poller.add(a.get(), WRITE);
  BOOST_TEST(poll_once(poller, a.get()) == WRITE);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_remove_closed_fd, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  int number = a.get();
  poller.add(number, READ);
  a.reset();
  poller.remove(number);  // closed before removal: harmless
  // A new descriptor that reuses the number registers and reports as any other.
  auto [c, d] = make_socketpair();
  BOOST_TEST(c.get() == number);  // the lowest free number is reused
  poller.add(c.get(), READ);
  write_byte(d.get());
  BOOST_TEST(poll_once(poller, c.get(), 1000) == READ);
}

// Mirrors TestIOLoop.test_multiple_add: adding a registered descriptor again fails.
BOOST_AUTO_TEST_CASE_TEMPLATE(test_multiple_add, P, Pollers) {
  P poller;
  auto [sock, port] = bind_unused_port();
  poller.add(sock.get(), READ);
  try {
    poller.add(sock.get(), READ);
    BOOST_ERROR("a second add of the same descriptor did not throw");
  } catch (const std::system_error& e) {
    BOOST_TEST(e.code().value() == EEXIST);
  }
  // The first registration stands.
  Fd client = start_connect(port);
  BOOST_TEST(wait_for(poller, sock.get(), READ) == READ);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_add_bad_fd_throws, P, Pollers) {
  P poller;
  int closed;
  {
    auto [a, b] = make_socketpair();
    closed = a.get();
  }
  BOOST_CHECK_THROW(poller.add(-1, READ), std::system_error);
  BOOST_CHECK_THROW(poller.add(closed, READ), std::system_error);
  BOOST_CHECK_THROW(poller.add(closed, NONE), std::system_error);
  // A failed add leaves nothing registered: the number can be added once it is open.
  auto [c, d] = make_socketpair();
  BOOST_REQUIRE(c.get() == closed);
  poller.add(c.get(), WRITE);
  BOOST_TEST(poll_once(poller, c.get()) == WRITE);
}

// --- Errors and hang-ups -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE_TEMPLATE(test_peer_reset, P, Pollers) {
  P poller;
  auto [listener, port] = bind_unused_port();
  Fd client = start_connect(port);
  poller.add(client.get(), WRITE);
  BOOST_REQUIRE(wait_for(poller, client.get(), WRITE) == WRITE);
  Fd server(::accept(listener.get(), nullptr, nullptr));
  BOOST_REQUIRE(server.get() >= 0);
  poller.modify(client.get(), READ);
  BOOST_TEST(poll_once(poller, client.get()) == 0u);

  // SO_LINGER with a zero timeout makes close() send a RST instead of a FIN.
  linger lg{1, 0};
  BOOST_REQUIRE(::setsockopt(server.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
  server.reset();
  std::uint32_t events = wait_for(poller, client.get(), READ | ERROR);
  BOOST_TEST((events & ERROR) != 0u, "events " << events);
  char c;
  if (Quirks<P>::keeps_socket_error) {
    BOOST_TEST(::read(client.get(), &c, 1) == -1);
    BOOST_TEST(errno == ECONNRESET);
  } else {
    BOOST_TEST(::read(client.get(), &c, 1) <= 0);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_pipe_write_end_closed, P, Pollers) {
  P poller;
  auto [r, w] = make_pipe();
  poller.add(r.get(), READ);
  write_byte(w.get());
  w.reset();
  // Data left to read is READ first, whatever else the backend adds.
  BOOST_TEST((poll_once(poller, r.get(), 1000) & READ) != 0u);
  char c;
  BOOST_TEST(::read(r.get(), &c, 1) == 1);
  // Then the hang-up: ERROR (epoll, poll) or READ (kqueue) and read() returns 0; see Quirks.
  std::uint32_t events = poll_once(poller, r.get(), 1000);
  BOOST_TEST((events & Quirks<P>::closed_pipe) != 0u, "events " << events);
  BOOST_TEST(::read(r.get(), &c, 1) == 0);
  // Level-triggered: the hang-up is reported again.
  BOOST_TEST((poll_once(poller, r.get()) & Quirks<P>::closed_pipe) != 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_pipe_read_end_closed, P, Pollers) {
  P poller;
  auto [r, w] = make_pipe();
  poller.add(w.get(), WRITE);
  BOOST_TEST(poll_once(poller, w.get()) == WRITE);
  r.reset();
  std::uint32_t events = poll_once(poller, w.get(), 1000);
  BOOST_TEST((events & ERROR) != 0u, "events " << events);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_peer_close_is_read, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  poller.add(a.get(), READ);
  b.reset();
  // An orderly close is end of file: READ (then read() returns 0), as Tornado's IOStream expects.
  std::uint32_t events = poll_once(poller, a.get(), 1000);
  BOOST_TEST((events & (READ | ERROR)) != 0u, "events " << events);
  char c;
  BOOST_TEST(::read(a.get(), &c, 1) == 0);
}

// --- wake() --------------------------------------------------------------------------------------

// Mirrors TestIOLoop.test_add_callback_wakeup_other_thread, at the poller: a wake() from another
// thread ends a poll(-1) promptly, and is not reported as an event.
BOOST_AUTO_TEST_CASE_TEMPLATE(test_wake_from_other_thread, P, Pollers) {
  P poller;
  Watchdog watchdog(poller);
  std::atomic<bool> woken{false};
  std::thread waker([&] {
    std::this_thread::sleep_for(20ms);  // let the poller block first
    woken = true;
    poller.wake();
  });
  std::vector<Event> out;
  auto start = Clock::now();
  std::size_t n = poller.poll(-1, out);
  double elapsed = ms_since(start);
  waker.join();
  BOOST_TEST(woken.load());
  BOOST_TEST(n == 0u);
  BOOST_TEST(events_for(out, watchdog.fd()) == 0u);
  BOOST_TEST(elapsed < 5000.0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_wake_before_poll, P, Pollers) {
  P poller;
  Watchdog watchdog(poller);
  poller.wake();
  std::vector<Event> out;
  auto start = Clock::now();
  BOOST_TEST(poller.poll(-1, out) == 0u);
  BOOST_TEST(ms_since(start) < 5000.0);
  BOOST_TEST(events_for(out, watchdog.fd()) == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_wake_coalesces, P, Pollers) {
  P poller;
  for (int i = 0; i < 1000; ++i) poller.wake();
  std::vector<Event> out;
  auto start = Clock::now();
  BOOST_TEST(poller.poll(10000, out) == 0u);
  BOOST_TEST(ms_since(start) < 5000.0);
  // A thousand wakes are one: the next poll waits its full timeout.
  start = Clock::now();
  BOOST_TEST(poller.poll(50, out) == 0u);
  BOOST_TEST(ms_since(start) >= 50.0);
  // And wake() works again after that.
  poller.wake();
  start = Clock::now();
  BOOST_TEST(poller.poll(10000, out) == 0u);
  BOOST_TEST(ms_since(start) < 5000.0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_wake_from_many_threads, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  poller.add(a.get(), READ);
  std::atomic<bool> stop{false};
  std::vector<std::thread> wakers;
  for (int t = 0; t < 4; ++t) {
    wakers.emplace_back([&] {
      while (!stop.load()) poller.wake();
    });
  }
  // Polls keep working under a storm of wakes, and report only real readiness.
  std::vector<Event> out;
  for (int i = 0; i < 200; ++i) {
    poller.poll(100, out);
    BOOST_TEST(events_for(out, a.get()) == 0u);
  }
  write_byte(b.get());
  BOOST_TEST(wait_for(poller, a.get(), READ) == READ);
  stop = true;
  for (auto& t : wakers) t.join();
  // Once the storm is over, pending wakes drain and the poller rests again.
  char c;
  BOOST_TEST(::read(a.get(), &c, 1) == 1);
  poller.poll(0, out);
  auto start = Clock::now();
  BOOST_TEST(poller.poll(50, out) == 0u);
  BOOST_TEST(ms_since(start) >= 50.0);
}

// --- Timeouts ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE_TEMPLATE(test_poll_timeout, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  poller.add(a.get(), READ);
  std::vector<Event> out{Event{-1, READ}};  // poll() clears what was there
  auto start = Clock::now();
  BOOST_TEST(poller.poll(50, out) == 0u);
  double elapsed = ms_since(start);
  BOOST_TEST(out.empty());
  BOOST_TEST(elapsed >= 50.0);
  BOOST_TEST(elapsed < 5000.0);  // not absurdly late (generous: a loaded, sanitized machine)

  start = Clock::now();
  BOOST_TEST(poller.poll(0, out) == 0u);
  BOOST_TEST(ms_since(start) < 5000.0);

  // A sub-second timeout with seconds in it is converted right (1100 ms, not 100 or 1000).
  start = Clock::now();
  BOOST_TEST(poller.poll(1100, out) == 0u);
  elapsed = ms_since(start);
  BOOST_TEST(elapsed >= 1100.0);
  BOOST_TEST(elapsed < 6000.0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(test_poll_returns_early_on_readiness, P, Pollers) {
  P poller;
  auto [a, b] = make_socketpair();
  poller.add(a.get(), READ);
  std::thread writer([fd = b.get()] {
    std::this_thread::sleep_for(20ms);
    char c = 'x';
    (void)!::write(fd, &c, 1);
  });
  auto start = Clock::now();
  std::vector<Event> out;
  poller.poll(10000, out);
  writer.join();
  BOOST_TEST(events_for(out, a.get()) == READ);
  BOOST_TEST(ms_since(start) < 5000.0);
}

// --- Many descriptors ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE_TEMPLATE(test_thousands_of_descriptors, P, Pollers) {
  int pairs = 2000;
  // Each pair is two descriptors; raise the soft limit if it is lower (the hard limit allows).
  rlimit lim{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
  rlim_t need = static_cast<rlim_t>(pairs) * 2 + 64;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max == RLIM_INFINITY ? need : std::min(need, lim.rlim_max);
    BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &raised) == 0);
    if (raised.rlim_cur < need) {
      pairs = static_cast<int>((raised.rlim_cur - 64) / 2);
      BOOST_TEST_MESSAGE("RLIMIT_NOFILE hard limit " << lim.rlim_max << ": testing " << pairs << " pairs");
    }
  }
  BOOST_REQUIRE(pairs >= 500);

  P poller;
  std::vector<std::pair<Fd, Fd>> sockets;
  sockets.reserve(pairs);
  for (int i = 0; i < pairs; ++i) {
    sockets.push_back(make_socketpair());
    poller.add(sockets.back().first.get(), READ);
    write_byte(sockets.back().second.get());
  }

  // Every descriptor is reported (a backend may spread them over several polls).
  auto collect = [&](std::set<int>& seen, std::size_t expected) {
    std::vector<Event> out;
    for (int round = 0; round < 200 && seen.size() < expected; ++round) {
      poller.poll(1000, out);
      for (const auto& ev : out) {
        BOOST_TEST(ev.events == READ);
        seen.insert(ev.fd);
      }
    }
  };
  std::set<int> seen;
  collect(seen, pairs);
  BOOST_TEST(seen.size() == static_cast<std::size_t>(pairs));
  for (const auto& [a, b] : sockets) BOOST_TEST(seen.contains(a.get()));

  // Remove every other one: exactly the rest are reported.
  std::set<int> kept;
  for (int i = 0; i < pairs; ++i) {
    if (i % 2) poller.remove(sockets[i].first.get());
    else kept.insert(sockets[i].first.get());
  }
  seen.clear();
  collect(seen, kept.size());
  BOOST_TEST((seen == kept));

  // Stop watching the rest for READ: none is reported any more.
  for (int fd : kept) poller.modify(fd, NONE);
  std::vector<Event> out;
  poller.poll(10, out);
  BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_SUITE_END()
