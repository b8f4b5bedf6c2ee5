module;
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <system_error>
#include <vector>
module tornado.backend;

namespace tornado::backend {

namespace {
std::uint32_t to_epoll(std::uint32_t events) {
  std::uint32_t e = 0;
  if (events & READ) e |= EPOLLIN;
  if (events & WRITE) e |= EPOLLOUT;
  return e;  // EPOLLERR and EPOLLHUP are always reported
}
std::uint32_t from_epoll(std::uint32_t e) {
  std::uint32_t events = 0;
  if (e & (EPOLLIN | EPOLLPRI)) events |= READ;
  if (e & EPOLLOUT) events |= WRITE;
  if (e & EPOLLERR) events |= 0x008;
  if (e & (EPOLLHUP | EPOLLRDHUP)) events |= 0x010;
  return events;
}
[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }
}  // namespace

EpollPoller::EpollPoller() {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw_errno("epoll_create1");
  wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) {
    ::close(epfd_);
    throw_errno("eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wakefd_;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) {
    ::close(wakefd_);
    ::close(epfd_);
    throw_errno("epoll_ctl");
  }
}

EpollPoller::~EpollPoller() {
  ::close(wakefd_);
  ::close(epfd_);
}

void EpollPoller::add(fd_t fd, std::uint32_t events) {
  epoll_event ev{};
  ev.events = to_epoll(events);
  ev.data.fd = fd;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) throw_errno("epoll_ctl(ADD)");
}

void EpollPoller::modify(fd_t fd, std::uint32_t events) {
  epoll_event ev{};
  ev.events = to_epoll(events);
  ev.data.fd = fd;
  if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0) throw_errno("epoll_ctl(MOD)");
}

void EpollPoller::remove(fd_t fd) {
  epoll_event ev{};
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);  // ENOENT / EBADF: already gone, which is fine
}

std::size_t EpollPoller::poll(int timeout_ms, std::vector<Event>& out) {
  out.clear();
  epoll_event evs[256];
  int n = ::epoll_wait(epfd_, evs, 256, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return 0;
    throw_errno("epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    if (evs[i].data.fd == wakefd_) {
      std::uint64_t v;
      while (::read(wakefd_, &v, sizeof v) > 0) {
      }
      wake_pending_.store(false, std::memory_order_release);
      continue;
    }
    out.push_back(Event{evs[i].data.fd, from_epoll(evs[i].events)});
  }
  return out.size();
}

void EpollPoller::wake() noexcept {
  // Coalesce: one write until the poller drains it; every waker after that is a no-op.
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wakefd_, &one, sizeof one);
}

}  // namespace tornado::backend
