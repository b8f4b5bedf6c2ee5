module;
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>
module tornado.backend;

namespace tornado::backend {

namespace {
short to_poll(std::uint32_t events) {
  short e = 0;
  if (events & READ) e |= POLLIN;
  if (events & WRITE) e |= POLLOUT;
  return e;  // POLLERR, POLLHUP and POLLNVAL are always reported
}
std::uint32_t from_poll(short e) {
  std::uint32_t events = 0;
  if (e & (POLLIN | POLLPRI)) events |= READ;
  if (e & POLLOUT) events |= WRITE;
  if (e & (POLLERR | POLLNVAL)) events |= 0x008;
  if (e & POLLHUP) events |= 0x010;
  return events;
}
[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }
void set_nonblock_cloexec(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
}
}  // namespace

PollPoller::PollPoller() {
  int p[2];
  if (::pipe(p) < 0) throw_errno("pipe");
  wake_read_ = p[0];
  wake_write_ = p[1];
  set_nonblock_cloexec(wake_read_);
  set_nonblock_cloexec(wake_write_);
  entries_.push_back(Entry{wake_read_, POLLIN});
}

PollPoller::~PollPoller() {
  ::close(wake_read_);
  ::close(wake_write_);
}

void PollPoller::add(fd_t fd, std::uint32_t events) {
  // poll(2) would take a closed descriptor and report POLLNVAL on every wait; refuse it here, as
  // epoll_ctl does with EBADF.
  if (fd < 0 || ::fcntl(fd, F_GETFD) < 0) throw std::system_error(EBADF, std::generic_category(), "poll add");
  if (index_.contains(fd)) throw std::system_error(EEXIST, std::generic_category(), "poll add");
  index_.emplace(fd, entries_.size());
  entries_.push_back(Entry{fd, to_poll(events)});
}

void PollPoller::modify(fd_t fd, std::uint32_t events) {
  auto it = index_.find(fd);
  if (it == index_.end()) throw std::system_error(ENOENT, std::generic_category(), "poll modify");
  entries_[it->second].events = to_poll(events);
}

void PollPoller::remove(fd_t fd) {
  auto it = index_.find(fd);
  if (it == index_.end()) return;
  std::size_t pos = it->second;
  index_.erase(it);
  if (pos != entries_.size() - 1) {
    entries_[pos] = entries_.back();
    index_[entries_[pos].fd] = pos;
  }
  entries_.pop_back();
}

std::size_t PollPoller::poll(int timeout_ms, std::vector<Event>& out) {
  out.clear();
  scratch_.resize(entries_.size() * sizeof(pollfd));
  auto* fds = reinterpret_cast<pollfd*>(scratch_.data());
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    fds[i].fd = entries_[i].fd;
    fds[i].events = entries_[i].events;
    fds[i].revents = 0;
  }
  int n = ::poll(fds, entries_.size(), timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return 0;
    throw_errno("poll");
  }
  for (std::size_t i = 0; i < entries_.size() && n > 0; ++i) {
    if (!fds[i].revents) continue;
    --n;
    if (i == 0) {
      char buf[64];
      while (::read(wake_read_, buf, sizeof buf) > 0) {
      }
      wake_pending_.store(false, std::memory_order_release);
      continue;
    }
    out.push_back(Event{fds[i].fd, from_poll(fds[i].revents)});
  }
  return out.size();
}

void PollPoller::wake() noexcept {
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  char c = 1;
  [[maybe_unused]] auto r = ::write(wake_write_, &c, 1);
}

}  // namespace tornado::backend
