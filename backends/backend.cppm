// tornado.backend: the Poller concept every readiness backend satisfies, and the build's choice
// of backend as a type alias (no virtual call on the IOLoop's hot path).
//
// The contract (shared with mio, libuv, wepoll and Tornado 4's PollIOLoop implementations):
//   add(fd, events), modify(fd, events), remove(fd): register interest in READ and/or WRITE;
//     ERROR is always reported. Registration is level-triggered: a readable descriptor reports
//     READ on every poll until it is drained, as Tornado's add_handler does. add throws
//     std::system_error for a descriptor already registered (EEXIST) or not open (EBADF); modify
//     throws for one not registered; remove of an unknown or closed descriptor is harmless.
//     Remove a descriptor before closing it, as Tornado's remove_handler is called before close.
//   poll(timeout_ms, out): waits up to timeout_ms milliseconds (-1: no limit, 0: do not block)
//     for readiness or a wake(), fills `out` (one Event per descriptor, READ and WRITE merged)
//     and returns how many events it holds. A wake is never reported as an event.
//   wake(): makes a concurrent or the next poll() return promptly; the one thread-safe call.
//     Wakes coalesce: many before a poll make it return once.
// tests/backend/poller_test.cpp checks every backend against this contract, and documents where
// the backends differ in what a hang-up reports.
module;
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>
export module tornado.backend;

export import :common;
#if defined(TORNADO_HAVE_EPOLL)
export import :epoll;
#endif
#if defined(TORNADO_HAVE_POLL)
export import :poll;
#endif
#if defined(TORNADO_HAVE_KQUEUE)
export import :kqueue;
#endif

export namespace tornado::backend {

/// What an IOLoop needs of a readiness backend (see the contract above).
template <class P>
concept Poller = requires(P p, fd_t fd, std::uint32_t events, int timeout_ms, std::vector<Event>& out) {
  { p.add(fd, events) };
  { p.modify(fd, events) };
  { p.remove(fd) };
  { p.poll(timeout_ms, out) } -> std::same_as<std::size_t>;
  { p.wake() } noexcept;
  { P::name } -> std::convertible_to<std::string_view>;
};

#if defined(TORNADO_HAVE_EPOLL)
static_assert(Poller<EpollPoller>);
#endif
#if defined(TORNADO_HAVE_POLL)
static_assert(Poller<PollPoller>);
#endif
#if defined(TORNADO_HAVE_KQUEUE)
static_assert(Poller<KqueuePoller>);
#endif

/// The backend chosen at build time with -DTORNADO_BACKEND=epoll|poll|kqueue.
using DefaultPoller = TORNADO_DEFAULT_POLLER;
static_assert(Poller<DefaultPoller>);

}  // namespace tornado::backend
