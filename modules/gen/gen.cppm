// tornado.gen: coroutine utilities. Mirrors tornado.gen.
module;
#include <chrono>
#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>
export module tornado.gen;

export import tornado.concurrent;
export import tornado.ioloop;
import tornado.log;

export namespace tornado::gen {

/// Raised by with_timeout when the timeout expires. Mirrors tornado.gen.TimeoutError
/// (an alias of tornado.util.TimeoutError).
using TimeoutError = tornado::TimeoutError;

/// A future that completes after `duration` seconds, on the current IOLoop.
/// Mirrors tornado.gen.sleep.
Future<void> sleep(double duration);
/// A future that completes after `duration`.
template <class Rep, class Period>
Future<void> sleep(std::chrono::duration<Rep, Period> duration) {
  return sleep(std::chrono::duration<double>(duration).count());
}

/// `co_await gen::moment;` gives the IOLoop one iteration (other callbacks and I/O run) before
/// the coroutine goes on. Mirrors tornado.gen.moment.
struct Moment {
  struct Awaiter {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const;
    void await_resume() const noexcept {}
  };
  Awaiter operator co_await() const noexcept { return {}; }
};
inline constexpr Moment moment{};

namespace detail {
/// Logs an exception from a future that with_timeout (or multi) gave up on.
void log_abandoned(std::exception_ptr e);

/// Whether `e` is of one of the types `Q...` (or derived from one).
template <class... Q>
bool exception_is_one_of(const std::exception_ptr& e) {
  if constexpr (sizeof...(Q) == 0) {
    return false;
  } else {
    return ([&]<class One>() {
      try {
        std::rethrow_exception(e);
      } catch (const One&) {
        return true;
      } catch (...) {
        return false;
      }
    }.template operator()<Q>() || ...);
  }
}
}  // namespace detail

/// A future that mirrors `future` but fails with TimeoutError if it is not done by `timeout`
/// (an absolute IOLoop time in seconds, or a duration). `future` itself is not cancelled; if it
/// fails after the timeout, its exception is logged unless its type is one of `Quiet...`.
/// Mirrors tornado.gen.with_timeout(timeout, future, quiet_exceptions).
template <class... Quiet, class T>
Future<T> with_timeout(ioloop::Deadline timeout, Future<T> future) {
  Future<T> result;
  if (future.done()) {
    chain_future(future, result);
    return result;
  }
  auto& loop = IOLoop::current();
  auto handle = loop.add_timeout(timeout, [result, future]() mutable {
    if (result.done()) return;
    result.set_exception(TimeoutError("Timeout"));
    future.add_done_callback([](const Future<T>& f) {
      if (f.cancelled()) return;
      if (auto e = f.exception(); e && !detail::exception_is_one_of<Quiet...>(e)) {
        detail::log_abandoned(e);
      }
    });
  });
  future.add_done_callback([result, handle, &loop](const Future<T>& f) mutable {
    loop.remove_timeout(handle);
    if (!result.done()) chain_future(f, result);
  });
  return result;
}

}  // namespace tornado::gen
