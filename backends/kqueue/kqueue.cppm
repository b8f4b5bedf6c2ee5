// tornado.backend:kqueue: BSD and macOS kqueue(2), level-triggered, with an EVFILT_USER waker.
// Written against the kqueue(2) manual page; on Linux it can also be built against libkqueue (an
// emulation) with -DTORNADO_WITH_LIBKQUEUE=ON, so that the poller contract tests run against it.
module;
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

// <sys/event.h> stays in the implementation unit: the interface only needs the name.
struct kevent;
export module tornado.backend:kqueue;

import :common;

export namespace tornado::backend {

/// Readiness through kqueue(2): EVFILT_READ and EVFILT_WRITE filters added (EV_ADD) for the
/// events asked for and deleted (EV_DELETE) for the others. Filters added without EV_CLEAR or
/// EV_ONESHOT are level-triggered: a descriptor is reported on every poll while the condition
/// holds. Satisfies Poller.
///
/// What each event means here:
/// - READ: the EVFILT_READ filter fired: data to read, a connection to accept, or end of file
///   (read() returns 0; on a pipe whose write end is closed, this is READ, not ERROR).
/// - WRITE: the EVFILT_WRITE filter fired without EV_EOF.
/// - ERROR: EVFILT_WRITE with EV_EOF (the reader went away, or a non-blocking connect was
///   refused), or EVFILT_READ with EV_EOF and a pending socket error (a connection reset), or a
///   filter reporting EV_ERROR. As in Tornado 4's kqueue IOLoop, only asked-for filters can report,
///   so a descriptor watched for NONE reports nothing, not even ERROR (epoll and poll would).
///
/// The waker is an EVFILT_USER event (NOTE_TRIGGER), so wake() costs no descriptor.
class KqueuePoller {
 public:
  static constexpr std::string_view name = "kqueue";
  /// Creates the kqueue and registers the waker.
  /// @throws std::system_error with kqueue()'s or kevent()'s errno (EMFILE: out of descriptors).
  KqueuePoller();
  /// Closes the kqueue (not the descriptors it watches).
  ~KqueuePoller();
  KqueuePoller(const KqueuePoller&) = delete;
  KqueuePoller& operator=(const KqueuePoller&) = delete;

  /// Starts watching `fd` for `events` (READ and/or WRITE; NONE registers it with no filter).
  /// @throws std::system_error EEXIST if `fd` is already registered, EBADF if it is not an open
  ///         descriptor, or kevent()'s errno. Nothing stays registered after a throw.
  /// Mirrors the `register` of Tornado 4's _KQueue.
  void add(fd_t fd, std::uint32_t events);
  /// Changes the events `fd` is watched for (filters are added or deleted as needed).
  /// @throws std::system_error ENOENT if `fd` is not registered, or kevent()'s errno.
  void modify(fd_t fd, std::uint32_t events);
  /// Stops watching `fd`. Unknown or already-closed descriptors are ignored (closing a
  /// descriptor deletes its filters, as the manual page says). Remove a descriptor before
  /// closing it, or its number cannot be added again until removed.
  void remove(fd_t fd);
  /// Waits up to `timeout_ms` milliseconds (-1: no limit, 0: do not block) for readiness or a
  /// wake(), and fills `out` (cleared first) with one Event per ready descriptor, its READ, WRITE
  /// and ERROR bits merged. Returns out.size(); 0 after a timeout, a wake() or a signal (EINTR).
  /// @throws std::system_error with kevent()'s errno for any other failure.
  std::size_t poll(int timeout_ms, std::vector<Event>& out);
  /// Makes a concurrent poll() return promptly, or the next one return at once if none is
  /// waiting. Thread-safe; wakes coalesce until the poller sees one.
  void wake() noexcept;

 private:
  int kq_ = -1;
  std::unordered_map<fd_t, std::uint32_t> interest_;  // fd -> READ|WRITE it has filters for
  std::vector<struct ::kevent> buffer_;               // poll()'s event list, grown when filled
  std::atomic<bool> wake_pending_{false};
};

}  // namespace tornado::backend
