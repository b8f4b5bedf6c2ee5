// tornado.backend:epoll: Linux epoll(7), level-triggered, with an eventfd waker.
module;
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>
export module tornado.backend:epoll;

import :common;

export namespace tornado::backend {

/// Readiness through Linux epoll(7), level-triggered (no EPOLLET), with an eventfd waker.
/// Satisfies Poller.
///
/// What each event means here: READ is EPOLLIN or EPOLLPRI (data, a connection to accept, or end
/// of file); WRITE is EPOLLOUT; ERROR bits are EPOLLERR (0x008) and EPOLLHUP (0x010), which epoll
/// reports whatever the interest, NONE included. So a pipe whose write end is closed reports
/// ERROR (EPOLLHUP) without READ once drained, and a reset TCP connection READ|ERROR.
class EpollPoller {
 public:
  static constexpr std::string_view name = "epoll";
  /// Creates the epoll instance and its eventfd waker.
  /// @throws std::system_error with the errno of epoll_create1 or eventfd (EMFILE: out of
  ///         descriptors).
  EpollPoller();
  /// Closes the epoll instance and the waker (not the descriptors it watches).
  ~EpollPoller();
  EpollPoller(const EpollPoller&) = delete;
  EpollPoller& operator=(const EpollPoller&) = delete;

  /// Starts watching `fd` for `events` (READ and/or WRITE; ERROR is always reported).
  /// @throws std::system_error with epoll_ctl's errno: EEXIST if already registered, EBADF if not
  ///         an open descriptor, EPERM for a regular file.
  void add(fd_t fd, std::uint32_t events);
  /// Changes the events `fd` is watched for.
  /// @throws std::system_error with epoll_ctl's errno (ENOENT: not registered).
  void modify(fd_t fd, std::uint32_t events);
  /// Stops watching `fd`. Unknown or already-closed descriptors are ignored.
  void remove(fd_t fd);
  /// Waits up to `timeout_ms` milliseconds (-1: no limit, 0: do not block) for readiness or a
  /// wake(), and fills `out` (cleared first) with one Event per ready descriptor, at most 256 a
  /// call (level-triggering reports the rest on the next). Returns out.size(); 0 after a timeout,
  /// a wake() or a signal (EINTR).
  /// @throws std::system_error with epoll_wait's errno for any other failure.
  std::size_t poll(int timeout_ms, std::vector<Event>& out);
  /// Makes a concurrent poll() return promptly, or the next one return at once if none is
  /// waiting. Thread-safe; wakes coalesce until the poller sees one.
  void wake() noexcept;

 private:
  int epfd_ = -1;
  int wakefd_ = -1;
  std::atomic<bool> wake_pending_{false};
};

}  // namespace tornado::backend
