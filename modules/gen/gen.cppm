// tornado.gen: coroutine utilities. Mirrors tornado.gen.
module;
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
export module tornado.gen;

export import tornado.concurrent;
export import tornado.ioloop;
import tornado.log;

export namespace tornado::gen {

/// Raised by with_timeout when the timeout expires. Mirrors tornado.gen.TimeoutError
/// (an alias of tornado.util.TimeoutError).
using TimeoutError = tornado::TimeoutError;

/// A future that completes after `duration` seconds, on the current IOLoop. Cancelling it does
/// not remove the timer (it completes nothing when it fires). Mirrors tornado.gen.sleep.
Future<void> sleep(double duration);
/// A future that completes after `duration` (any std::chrono::duration), on the current IOLoop.
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

/// What `multi` gives for one child of type Future<T>: T, or std::monostate for Future<void>
/// (in the tuple that `multi(f1, f2, ...)` returns).
template <class T>
using multi_element_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

namespace detail {
/// Logs an exception from a future that with_timeout gave up on.
void log_abandoned(std::exception_ptr e);
/// Logs an exception from a child of multi() after the first failure (Tornado's
/// "Multiple exceptions in yield list").
void log_multi_exception(std::exception_ptr e);

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

/// How one awaited future ended: its value, or its exception (CancelledError if cancelled).
template <class T>
struct Outcome {
  std::optional<multi_element_t<T>> value;
  std::exception_ptr error;
};

/// `co_await Settle<T>(std::move(f))`: waits for `f` like `co_await std::move(f)` (the same
/// hand-over of the reference while suspended, so an abandoned child destroys the waiting
/// coroutine rather than leaking it), but returns an Outcome instead of throwing.
template <class T>
class Settle {
 public:
  explicit Settle(Future<T>&& f) noexcept : inner_(std::move(f).operator co_await()) {}
  bool await_ready() const noexcept { return inner_.await_ready(); }
  // Nothing may touch `this` after the inner await_suspend: the frame may be gone.
  void await_suspend(std::coroutine_handle<> h) { inner_.await_suspend(h); }
  Outcome<T> await_resume() noexcept {
    Outcome<T> out;
    try {
      if constexpr (std::is_void_v<T>) {
        inner_.await_resume();
        out.value.emplace();
      } else {
        out.value.emplace(inner_.await_resume());
      }
    } catch (...) {
      out.error = std::current_exception();
    }
    return out;
  }

 private:
  tornado::detail::FutureAwaiter<T> inner_;
};

/// Tornado's error rule for multi: the first failure (in the children's order) is the one to
/// raise; every later one is logged unless its type is quiet. A cancelled child is never logged.
template <class... Quiet>
void note_failure(std::exception_ptr& first, const std::exception_ptr& e) {
  if (!e) return;
  if (!first) {
    first = e;
  } else if (!exception_is_one_of<CancelledError, Quiet...>(e)) {
    log_multi_exception(e);
  }
}

template <class... Quiet, class T>
Future<std::vector<T>> multi_vector(std::vector<Future<T>> children) {
  std::vector<Outcome<T>> outcomes;
  outcomes.reserve(children.size());
  for (auto& child : children) outcomes.push_back(co_await Settle<T>(std::move(child)));
  std::exception_ptr first;
  for (auto& o : outcomes) note_failure<Quiet...>(first, o.error);
  if (first) std::rethrow_exception(first);
  std::vector<T> results;
  results.reserve(outcomes.size());
  for (auto& o : outcomes) results.push_back(std::move(*o.value));
  co_return results;
}

template <class... Quiet>
Future<void> multi_void(std::vector<Future<void>> children) {
  std::exception_ptr first;
  for (auto& child : children) note_failure<Quiet...>(first, (co_await Settle<void>(std::move(child))).error);
  if (first) std::rethrow_exception(first);
}

template <class... Quiet, class K, class T>
Future<std::map<K, T>> multi_map(std::map<K, Future<T>> children) {
  std::vector<Outcome<T>> outcomes;
  outcomes.reserve(children.size());
  for (auto& [key, child] : children) outcomes.push_back(co_await Settle<T>(std::move(child)));
  std::exception_ptr first;
  for (auto& o : outcomes) note_failure<Quiet...>(first, o.error);
  if (first) std::rethrow_exception(first);
  std::map<K, T> results;
  auto o = outcomes.begin();
  for (auto& entry : children) results.emplace_hint(results.end(), entry.first, std::move(*(o++)->value));
  co_return results;
}

template <class... Quiet, class K>
Future<void> multi_map_void(std::map<K, Future<void>> children) {
  std::exception_ptr first;
  for (auto& [key, child] : children) {
    note_failure<Quiet...>(first, (co_await Settle<void>(std::move(child))).error);
  }
  if (first) std::rethrow_exception(first);
}

template <class... Quiet, class... T>
Future<std::tuple<multi_element_t<T>...>> multi_tuple(Future<T>... children) {
  // A braced list evaluates its elements in order: the children are awaited one after another.
  std::tuple<Outcome<T>...> outcomes{co_await Settle<T>(std::move(children))...};
  std::exception_ptr first;
  std::apply([&](auto&... o) { (note_failure<Quiet...>(first, o.error), ...); }, outcomes);
  if (first) std::rethrow_exception(first);
  co_return std::apply(
      [](auto&... o) { return std::tuple<multi_element_t<T>...>(std::move(*o.value)...); }, outcomes);
}
}  // namespace detail

/// Waits for every future in `children` and returns a future for the list of their results, in
/// the same order. A Future<void> children list gives a Future<void>.
///
/// Every child is waited for, even after one fails. If any fails, the result fails with the
/// first failure in the list's order; each later failure is logged on app_log ("Multiple
/// exceptions in yield list") unless it is of one of the `Quiet...` exception types (or is a
/// cancellation). Cancelling the result does not cancel the children. The same future may appear
/// more than once. Children's values are moved out when nothing else holds them (or they cannot
/// be copied), so move-only types work. A child abandoned while pending (every other handle to it
/// dropped: nothing can complete it) cancels the result.
///
/// Example: `std::vector<int> r = co_await gen::multi<MyError>(std::move(futures));`
/// Mirrors tornado.gen.multi(children, quiet_exceptions) for a list.
template <class... Quiet, class T>
auto multi(std::vector<Future<T>> children) {
  if constexpr (std::is_void_v<T>) return detail::multi_void<Quiet...>(std::move(children));
  else return detail::multi_vector<Quiet...>(std::move(children));
}

/// multi over a braced list of futures of one type: `co_await gen::multi({f(1), f(2)})`.
/// The futures are copied out of the list, whose own copies live to the end of the full
/// expression (across the `co_await` in the example).
template <class... Quiet, class T>
auto multi(std::initializer_list<Future<T>> children) {
  return multi<Quiet...>(std::vector<Future<T>>(children));
}

/// Waits for every future in `children` and returns a future for a map with the same keys and
/// their results (a map of Future<void> gives a Future<void>). Children are awaited in key
/// order, and the error rule is that of the list form: the first failure in key order fails the
/// result; later ones are logged unless of a `Quiet...` type.
/// Mirrors tornado.gen.multi(children, quiet_exceptions) for a dict.
template <class... Quiet, class K, class T>
auto multi(std::map<K, Future<T>> children) {
  if constexpr (std::is_void_v<T>) return detail::multi_map_void<Quiet...>(std::move(children));
  else return detail::multi_map<Quiet...>(std::move(children));
}

/// Waits for every future given and returns a future for a tuple of their results (a C++ form
/// of `multi([f1, f2])` for futures of different types; a Future<void> gives std::monostate).
/// The error rule is that of the list form, in argument order.
///
/// Example: `auto [body, count] = co_await gen::multi(fetch(url), count_rows());`
/// Mirrors tornado.gen.multi.
template <class... Quiet, class T1, class... T>
Future<std::tuple<multi_element_t<T1>, multi_element_t<T>...>> multi(Future<T1> first, Future<T>... rest) {
  return detail::multi_tuple<Quiet...>(std::move(first), std::move(rest)...);
}

/// A future that mirrors `future` but fails with TimeoutError if it is not done by `timeout`
/// (an absolute IOLoop::time() in seconds, or a std::chrono duration from now), on the current
/// IOLoop. `future` itself is not cancelled; if it fails after the timeout, its exception is
/// logged on app_log unless its type is one of `Quiet...` (a cancellation is never logged).
/// Example: `co_await gen::with_timeout<StreamClosedError>(std::chrono::seconds(1), f);`
/// Mirrors tornado.gen.with_timeout(timeout, future, quiet_exceptions).
template <class... Quiet, class T>
Future<T> with_timeout(ioloop::Deadline timeout, Future<T> future) {
  Future<T> result;
  if (future.done()) {
    chain_future(future, result);
    return result;
  }
  // The timer and the future's callback share this link, so that a future completing after the
  // loop has been closed (and its timers dropped) does not reach for the loop.
  struct Link {
    IOLoop* loop;
    ioloop::TimeoutHandle handle;
  };
  struct Unlink {  // lives in the timer's callback: unlinks when the timer is run or dropped
    std::shared_ptr<Link> link;
    Unlink(std::shared_ptr<Link> l) noexcept : link(std::move(l)) {}
    Unlink(Unlink&& o) noexcept = default;
    ~Unlink() {
      if (link) link->loop = nullptr;
    }
  };
  auto link = std::make_shared<Link>(Link{&IOLoop::current(), {}});
  link->handle = link->loop->add_timeout(timeout, [result, future, unlink = Unlink(link)]() mutable {
    if (result.done()) return;
    result.set_exception(TimeoutError("Timeout"));
    // The wrapped future may still fail: that failure is now nobody's, so it is logged.
    future.add_done_callback([](const Future<T>& f) {
      if (f.cancelled()) return;
      if (auto e = f.exception(); e && !detail::exception_is_one_of<Quiet...>(e)) {
        detail::log_abandoned(e);
      }
    });
  });
  future.add_done_callback([result, link](const Future<T>& f) mutable {
    if (link->loop) link->loop->remove_timeout(link->handle);
    if (!result.done()) chain_future(f, result);
  });
  return result;
}

/// Gives the results of a set of futures in the order they finish, as they finish.
///
///     gen::WaitIterator it(std::move(futures));
///     while (!it.done()) {
///       try {
///         T result = co_await it.next();
///         use(result, *it.current_index());
///       } catch (const std::exception& e) {
///         log(e, *it.current_index());   // one failure does not end the iteration
///       }
///     }
///
/// Futures already done when the iterator is made come first, in their given order. The iterator
/// holds no reference to the futures still pending, and the futures that next() returns are
/// completed even if the iterator itself is gone. `Key` is the index type: std::size_t for a
/// vector of futures, the map's key type for a map. Copies of a WaitIterator share its position.
/// Mirrors tornado.gen.WaitIterator (C++ has no `async for`: loop on done()).
template <class T, class Key = std::size_t>
class WaitIterator {
 public:
  /// Iterates over `futures`; current_index() is a position in the vector.
  explicit WaitIterator(std::vector<Future<T>> futures)
    requires std::is_same_v<Key, std::size_t>
      : s_(std::make_shared<State>()) {
    s_->remaining = futures.size();
    for (std::size_t i = 0; i < futures.size(); ++i) watch(i, futures[i]);
  }
  /// Iterates over a braced list of futures: `gen::WaitIterator it{f1, f2, f3}`.
  WaitIterator(std::initializer_list<Future<T>> futures)
    requires std::is_same_v<Key, std::size_t>
      : WaitIterator(std::vector<Future<T>>(futures)) {}
  /// Iterates over the values of `futures`; current_index() is the key of the current one.
  explicit WaitIterator(std::map<Key, Future<T>> futures) : s_(std::make_shared<State>()) {
    s_->remaining = futures.size();
    for (auto& [key, f] : futures) watch(key, f);
  }

  /// True when every result has been handed out by next(). Then current_index() and
  /// current_future() are reset. Mirrors WaitIterator.done.
  bool done() {
    if (s_->remaining > 0) return false;
    s_->current_index.reset();
    s_->current_future.reset();
    return true;
  }

  /// A future for the next result to be available: it completes as the next input future does
  /// (value, exception or cancellation), and is never one of the input futures. Cancelling it
  /// loses no result: the next next() takes it.
  /// @throws InvalidStateError if done(), or if the previous next()'s future is still pending.
  /// Mirrors WaitIterator.next.
  Future<T> next() {
    State& s = *s_;
    if (s.remaining == 0) throw InvalidStateError("WaitIterator::next() with no futures left");
    if (s.running && !s.running->done()) {
      throw InvalidStateError("WaitIterator::next() while the previous next() is pending");
    }
    s.running.emplace();
    if (!s.finished.empty()) {
      auto [key, f] = std::move(s.finished.front());
      s.finished.pop_front();
      return s.hand_out(std::move(key), std::move(f));
    }
    return *s.running;
  }

  /// The index (or key) of the input future whose result next() gave last; empty before the
  /// first and after done(). Mirrors WaitIterator.current_index.
  std::optional<Key> current_index() const { return s_->current_index; }
  /// The input future whose result next() gave last; empty before the first and after done().
  /// Mirrors WaitIterator.current_future.
  std::optional<Future<T>> current_future() const { return s_->current_future; }

 private:
  struct State {
    std::size_t remaining = 0;  // input futures not handed out yet
    std::deque<std::pair<Key, Future<T>>> finished;
    std::optional<Future<T>> running;
    std::optional<Key> current_index;
    std::optional<Future<T>> current_future;

    void on_done(Key key, const Future<T>& f) {
      if (running && !running->done()) (void)hand_out(std::move(key), f);
      else finished.emplace_back(std::move(key), f);
    }

    Future<T> hand_out(Key key, Future<T> f) {
      Future<T> out = std::move(*running);
      running.reset();
      --remaining;
      if (f.cancelled()) {
        out.cancel();
      } else if (auto e = f.exception()) {
        out.set_exception(e);
      } else if constexpr (std::is_void_v<T>) {
        out.set_result();
      } else if constexpr (tornado::detail::is_copyable_v<T>) {
        out.set_result(f.result());
      } else {
        out.set_result(std::move(f.result()));
      }
      current_index = std::move(key);
      current_future = std::move(f);
      return out;
    }
  };

  void watch(Key key, const Future<T>& f) {
    f.add_done_callback([s = s_, key](const Future<T>& done) { s->on_done(key, done); });
  }

  std::shared_ptr<State> s_;
};

template <class T>
WaitIterator(std::vector<Future<T>>) -> WaitIterator<T, std::size_t>;
template <class T>
WaitIterator(std::initializer_list<Future<T>>) -> WaitIterator<T, std::size_t>;
template <class K, class T>
WaitIterator(std::map<K, Future<T>>) -> WaitIterator<T, K>;

}  // namespace tornado::gen
