// tornado.backend:poll: POSIX poll(2), the portable fallback (and a second implementation that
// keeps the contract tests honest), with a self-pipe waker.
module;
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>
export module tornado.backend:poll;

import :common;

export namespace tornado::backend {

/// Readiness through poll(2) over every registered descriptor (O(n) per wait), with a self-pipe
/// waker. Level-triggered, as poll(2) is. Satisfies Poller.
///
/// What each event means here: READ is POLLIN or POLLPRI; WRITE is POLLOUT; ERROR bits are
/// POLLERR or POLLNVAL (0x008) and POLLHUP (0x010), reported whatever the interest, NONE
/// included, as epoll reports them.
class PollPoller {
 public:
  static constexpr std::string_view name = "poll";
  /// Creates the waker's pipe. @throws std::system_error with pipe()'s errno.
  PollPoller();
  /// Closes the waker's pipe (not the descriptors it watches).
  ~PollPoller();
  PollPoller(const PollPoller&) = delete;
  PollPoller& operator=(const PollPoller&) = delete;

  /// Starts watching `fd` for `events` (READ and/or WRITE; ERROR is always reported).
  /// @throws std::system_error EEXIST if already registered, EBADF if not an open descriptor
  ///         (as epoll_ctl).
  void add(fd_t fd, std::uint32_t events);
  /// Changes the events `fd` is watched for. @throws std::system_error ENOENT if not registered.
  void modify(fd_t fd, std::uint32_t events);
  /// Stops watching `fd`. Unknown descriptors are ignored. Remove a descriptor before closing
  /// it: one closed while registered reports ERROR (POLLNVAL) on every poll, and its number
  /// cannot be added again until removed.
  void remove(fd_t fd);
  /// Waits up to `timeout_ms` milliseconds (-1: no limit, 0: do not block) for readiness or a
  /// wake(), and fills `out` (cleared first) with one Event per ready descriptor. Returns
  /// out.size(); 0 after a timeout, a wake() or a signal (EINTR).
  /// @throws std::system_error with poll()'s errno for any other failure (EINVAL: more
  ///         descriptors than RLIMIT_NOFILE).
  std::size_t poll(int timeout_ms, std::vector<Event>& out);
  /// Makes a concurrent poll() return promptly, or the next one return at once if none is
  /// waiting. Thread-safe; wakes coalesce until the poller sees one.
  void wake() noexcept;

 private:
  struct Entry {
    fd_t fd;
    short events;
  };
  std::vector<Entry> entries_;                   // entries_[0] is the waker's read end
  std::unordered_map<fd_t, std::size_t> index_;  // fd -> position in entries_
  std::vector<char> scratch_;                    // pollfd array, reused between waits
  int wake_read_ = -1;
  int wake_write_ = -1;
  std::atomic<bool> wake_pending_{false};
};

}  // namespace tornado::backend
