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

/// Readiness through Linux epoll (level-triggered). Satisfies Poller.
/// @throws std::system_error from the constructor, add, modify (errno of epoll_ctl).
class EpollPoller {
 public:
  static constexpr std::string_view name = "epoll";
  EpollPoller();
  ~EpollPoller();
  EpollPoller(const EpollPoller&) = delete;
  EpollPoller& operator=(const EpollPoller&) = delete;

  void add(fd_t fd, std::uint32_t events);
  void modify(fd_t fd, std::uint32_t events);
  /// Stops watching `fd`. Unknown or already-closed descriptors are ignored.
  void remove(fd_t fd);
  std::size_t poll(int timeout_ms, std::vector<Event>& out);
  void wake() noexcept;

 private:
  int epfd_ = -1;
  int wakefd_ = -1;
  std::atomic<bool> wake_pending_{false};
};

}  // namespace tornado::backend
