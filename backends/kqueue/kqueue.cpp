module;
#include <errno.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <system_error>
#include <unordered_map>
#include <vector>
module tornado.backend;

namespace tornado::backend {

namespace {
// EVFILT_USER identifiers are a namespace of their own, apart from descriptors.
constexpr std::uintptr_t kWakeIdent = 0;
// The event list starts at this many entries and doubles (up to the cap) whenever a poll fills it,
// so a busy loop needs fewer system calls per round of events.
constexpr std::size_t kInitialEvents = 256;
constexpr std::size_t kMaxEvents = 65536;

[[noreturn]] void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

// One change to one filter. With nevents = 0, kevent() applies the change and returns at once;
// a failure is reported as -1 and errno (kqueue(2), RETURN VALUES).
int change(int kq, fd_t fd, short filter, unsigned short flags) {
  struct kevent ev;
  EV_SET(&ev, static_cast<std::uintptr_t>(fd), filter, flags, 0, 0, nullptr);
  return ::kevent(kq, &ev, 1, nullptr, 0, nullptr) < 0 ? errno : 0;
}

// Brings the filters of `fd` from `have` to `want` (READ and WRITE bits). On failure `have` still
// tells which filters are registered, and the errno is thrown.
void update(int kq, fd_t fd, std::uint32_t& have, std::uint32_t want) {
  static constexpr struct {
    std::uint32_t bit;
    short filter;
  } kFilters[] = {{READ, EVFILT_READ}, {WRITE, EVFILT_WRITE}};
  for (const auto& f : kFilters) {
    if ((want & f.bit) && !(have & f.bit)) {
      // EV_ADD enables the filter; without EV_CLEAR or EV_ONESHOT it stays level-triggered.
      if (int err = change(kq, fd, f.filter, EV_ADD)) throw_errno(err, "kevent(EV_ADD)");
      have |= f.bit;
    } else if (!(want & f.bit) && (have & f.bit)) {
      if (int err = change(kq, fd, f.filter, EV_DELETE)) throw_errno(err, "kevent(EV_DELETE)");
      have &= ~f.bit;
    }
  }
}
}  // namespace

KqueuePoller::KqueuePoller() {
  buffer_.resize(kInitialEvents);
  kq_ = ::kqueue();
  if (kq_ < 0) throw_errno(errno, "kqueue");
  // The manual promises the queue is not inherited by fork(); FD_CLOEXEC covers exec() too.
  ::fcntl(kq_, F_SETFD, FD_CLOEXEC);
  // EV_CLEAR: a retrieved trigger resets, so one wake() makes one poll() return.
  struct kevent ev;
  EV_SET(&ev, kWakeIdent, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, nullptr);
  if (::kevent(kq_, &ev, 1, nullptr, 0, nullptr) < 0) {
    int err = errno;
    ::close(kq_);
    throw_errno(err, "kevent(EVFILT_USER)");
  }
}

KqueuePoller::~KqueuePoller() { ::close(kq_); }

void KqueuePoller::add(fd_t fd, std::uint32_t events) {
  std::uint32_t want = events & (READ | WRITE);
  // With no filter to add, kevent() would never look at the descriptor: check it here, so that
  // every backend refuses a bad descriptor alike.
  if (fd < 0 || (want == NONE && ::fcntl(fd, F_GETFD) < 0))
    throw_errno(EBADF, "kqueue add");
  auto [it, inserted] = interest_.try_emplace(fd, NONE);
  if (!inserted) throw_errno(EEXIST, "kqueue add");
  std::uint32_t have = NONE;
  try {
    update(kq_, fd, have, want);
  } catch (...) {
    // Leave nothing behind: the READ filter may have been added before WRITE failed.
    try {
      update(kq_, fd, have, NONE);
    } catch (...) {
    }
    interest_.erase(fd);
    throw;
  }
  it->second = have;
}

void KqueuePoller::modify(fd_t fd, std::uint32_t events) {
  auto it = interest_.find(fd);
  if (it == interest_.end()) throw_errno(ENOENT, "kqueue modify");
  update(kq_, fd, it->second, events & (READ | WRITE));
}

void KqueuePoller::remove(fd_t fd) {
  auto it = interest_.find(fd);
  if (it == interest_.end()) return;
  // A closed descriptor has lost its filters already (ENOENT or EBADF here), which is fine.
  if (it->second & READ) change(kq_, fd, EVFILT_READ, EV_DELETE);
  if (it->second & WRITE) change(kq_, fd, EVFILT_WRITE, EV_DELETE);
  interest_.erase(it);
}

std::size_t KqueuePoller::poll(int timeout_ms, std::vector<Event>& out) {
  out.clear();
  struct timespec ts;
  struct timespec* tsp = nullptr;  // null: wait without limit
  if (timeout_ms >= 0) {
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long>(timeout_ms % 1000) * 1000000L;
    tsp = &ts;
  }
  int n = ::kevent(kq_, nullptr, 0, buffer_.data(), static_cast<int>(buffer_.size()), tsp);
  if (n < 0) {
    if (errno == EINTR) return 0;
    throw_errno(errno, "kevent");
  }
  // A descriptor ready for reading and writing comes back as two kevents, in no promised order:
  // sort by descriptor so that each gives one Event.
  std::sort(buffer_.begin(), buffer_.begin() + n, [](const struct kevent& a, const struct kevent& b) {
    return a.ident != b.ident ? a.ident < b.ident : a.filter < b.filter;
  });
  for (int i = 0; i < n; ++i) {
    const struct kevent& ev = buffer_[i];
    if (ev.filter == EVFILT_USER) {
      wake_pending_.store(false, std::memory_order_release);
      continue;
    }
    std::uint32_t bits = 0;
    if (ev.flags & EV_ERROR) {
      bits = ERROR;  // the filter failed; ev.data holds the errno
    } else if (ev.filter == EVFILT_READ) {
      // EOF alone is READ (read() returns 0, possibly after data still buffered); EOF with a
      // socket error in fflags (a reset) is READ and ERROR, as epoll reports EPOLLIN|EPOLLERR.
      bits = READ;
      if ((ev.flags & EV_EOF) && ev.fflags != 0) bits |= ERROR;
    } else if (ev.filter == EVFILT_WRITE) {
      // EOF on the write filter: the reader is gone or a non-blocking connect was refused.
      // Tornado 4's kqueue IOLoop turns this into ERROR, as the other pollers report it.
      bits = (ev.flags & EV_EOF) ? ERROR : WRITE;
    }
    fd_t fd = static_cast<fd_t>(ev.ident);
    if (!out.empty() && out.back().fd == fd)
      out.back().events |= bits;
    else
      out.push_back(Event{fd, bits});
  }
  if (static_cast<std::size_t>(n) == buffer_.size() && buffer_.size() < kMaxEvents)
    buffer_.resize(buffer_.size() * 2);
  return out.size();
}

void KqueuePoller::wake() noexcept {
  // Coalesce: one trigger until the poller sees it; every waker after that is a no-op.
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  struct kevent ev;
  EV_SET(&ev, kWakeIdent, EVFILT_USER, 0, NOTE_TRIGGER, 0, nullptr);
  ::kevent(kq_, &ev, 1, nullptr, 0, nullptr);
}

}  // namespace tornado::backend
