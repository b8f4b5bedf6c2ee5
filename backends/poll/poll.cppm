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

/// Readiness through poll(2) over every registered descriptor (O(n) per wait).
/// Satisfies Poller. @throws std::system_error from the constructor, from add (EEXIST: already
/// registered; EBADF: negative fd) and from modify (ENOENT: not registered), as epoll does.
class PollPoller {
 public:
  static constexpr std::string_view name = "poll";
  PollPoller();
  ~PollPoller();
  PollPoller(const PollPoller&) = delete;
  PollPoller& operator=(const PollPoller&) = delete;

  void add(fd_t fd, std::uint32_t events);
  void modify(fd_t fd, std::uint32_t events);
  void remove(fd_t fd);
  std::size_t poll(int timeout_ms, std::vector<Event>& out);
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
