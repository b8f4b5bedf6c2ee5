// tornado.ioloop: the event loop. Mirrors tornado.ioloop.
module;
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
export module tornado.ioloop;

export import tornado.concurrent;
export import tornado.util;
import tornado.log;

export namespace tornado::ioloop {

/// Seconds on the monotonic clock that every IOLoop's time() reads.
double monotonic_time() noexcept;

/// When a timer fires or a wait gives up, as Tornado takes its `deadline`/`timeout` arguments:
/// either an absolute time on the IOLoop's clock (a `double`, as `io_loop.time() + 5`), or a
/// duration from now (any std::chrono::duration, as Python's timedelta).
class Deadline {
 public:
  /// An absolute deadline: seconds on IOLoop::time()'s clock.
  Deadline(double when) noexcept : when_(when) {}  // NOLINT: implicit by design
  /// A deadline `delay` from now.
  template <class Rep, class Period>
  Deadline(std::chrono::duration<Rep, Period> delay) noexcept  // NOLINT: implicit by design
      : when_(monotonic_time() + std::chrono::duration<double>(delay).count()) {}
  /// The absolute time, in seconds on IOLoop::time()'s clock.
  double when() const noexcept { return when_; }

 private:
  double when_;
};

/// Identifies a timer for IOLoop::remove_timeout. A default-constructed handle refers to none.
/// Mirrors the opaque handle Tornado's add_timeout returns.
class TimeoutHandle {
 public:
  TimeoutHandle() noexcept = default;
  explicit operator bool() const noexcept { return gen_ != 0; }
  friend bool operator==(TimeoutHandle, TimeoutHandle) noexcept = default;

 private:
  friend class IOLoop;
  TimeoutHandle(std::uint32_t slot, std::uint32_t gen) noexcept : slot_(slot), gen_(gen) {}
  std::uint32_t slot_ = 0;
  std::uint32_t gen_ = 0;
};

/// A level-triggered I/O event loop: runs callbacks, timers, and handlers for file descriptors.
///
/// One IOLoop belongs to one thread; the thread's current loop is IOLoop::current(). Every method
/// must be called on the loop's thread except add_callback, the one thread-safe entry point (use it
/// to hand work to a loop from another thread; the loop must outlive every such call). An
/// exception escaping a callback, a timer or a handler is logged on app_log and the loop goes on.
///
/// Each iteration polls for I/O, dispatches handlers, moves due timers (earliest deadline first;
/// equal deadlines in the order they were added) behind the callbacks already queued, then runs
/// what was queued when the iteration began. Mirrors tornado.ioloop.IOLoop.
class IOLoop final : private tornado::detail::Scheduler {
 public:
  /// Event bits for add_handler, with Tornado's values.
  static constexpr std::uint32_t NONE = 0;
  static constexpr std::uint32_t READ = 0x001;
  static constexpr std::uint32_t WRITE = 0x004;
  static constexpr std::uint32_t ERROR = 0x018;

  using Handler = util::UniqueFunction<void(int fd, std::uint32_t events)>;

  /// Creates a loop on the backend chosen at build time.
  /// @param make_current  unset (the default): the loop becomes the calling thread's current loop
  ///                      if the thread has none. true: it becomes current, and it is an error if
  ///                      another loop already is. false: the current loop is left alone (a loop
  ///                      is current anyway while start() runs).
  /// @throws std::runtime_error if `make_current` is true and another loop is current.
  /// @throws std::system_error if the poller cannot be created (out of descriptors).
  /// Mirrors IOLoop(make_current=None).
  explicit IOLoop(std::optional<bool> make_current = std::nullopt);
  /// Closes the loop (without closing registered descriptors) if close() was not called.
  ~IOLoop();
  IOLoop(const IOLoop&) = delete;
  IOLoop& operator=(const IOLoop&) = delete;

  /// The calling thread's current loop. If there is none, the thread's own loop is made current:
  /// the one an earlier call made for this thread (kept until the thread exits), or a new one if
  /// there was none or it was closed (a closed one is destroyed then). Mirrors IOLoop.current().
  static IOLoop& current();
  /// The calling thread's current loop, or null if there is none and `instance` is false.
  /// Mirrors IOLoop.current(instance=False).
  static IOLoop* current(bool instance);
  /// Makes this the calling thread's current loop. Mirrors IOLoop.make_current.
  void make_current();
  /// Leaves the calling thread with no current loop. Mirrors IOLoop.clear_current.
  static void clear_current();

  /// Runs the loop until stop() is called; the loop is the thread's current one meanwhile.
  /// @throws std::logic_error if already running or closed. Mirrors IOLoop.start.
  void start();
  /// Makes start() return at the end of the current iteration: the callbacks that iteration
  /// took still run, those they add wait for the next start(). Called while the loop is not
  /// running, it makes the next start() run one iteration (polling without blocking) and return,
  /// as asyncio's loop.stop() does (Tornado 6's IOLoop is asyncio's). Mirrors IOLoop.stop.
  void stop();
  /// Whether start() is running.
  bool is_running() const noexcept;
  /// Releases the loop's resources. Pending callbacks and timers are dropped (coroutines waiting
  /// on them are destroyed); callbacks, timers and handlers added later are dropped or refused.
  /// With `all_fds`, descriptors still registered are closed. Closing twice does nothing.
  /// @throws std::logic_error if the loop is running (called from one of its own callbacks,
  /// say: the error is logged as any escaping exception is, and the loop goes on), as asyncio
  /// refuses to close a running loop. Mirrors IOLoop.close.
  void close(bool all_fds = false);
  /// Whether close() was called.
  bool closed() const noexcept;

  /// Starts the loop, runs `func` (which returns a Future<T>, or a plain T: unlike Tornado,
  /// which raises BadYieldError for a non-awaitable, a plain value is simply returned) until it
  /// completes, stops the loop and returns its result or rethrows its exception.
  /// @param timeout  seconds; if it passes first, the future is cancelled and TimeoutError thrown.
  /// @throws std::logic_error if the loop is closed or already running (nothing is queued then),
  /// or if something else stops the loop before the future completes.
  /// Mirrors IOLoop.run_sync.
  template <class F>
  auto run_sync(F func, std::optional<double> timeout = std::nullopt);

  /// Calls `handler(fd, events)` whenever `fd` is ready for any of `events` (READ, WRITE; ERROR is
  /// always reported). Level-triggered. @throws std::system_error if the backend refuses `fd`;
  /// std::logic_error if `fd` already has a handler or the loop is closed.
  /// Mirrors IOLoop.add_handler.
  void add_handler(int fd, Handler handler, std::uint32_t events);
  /// Changes the events `fd` is watched for. Mirrors IOLoop.update_handler.
  void update_handler(int fd, std::uint32_t events);
  /// Stops watching `fd`; unknown descriptors are ignored. Safe inside any handler, that fd's own
  /// included: a handler removed during an iteration is not called again, even for an event
  /// that iteration already polled. Mirrors IOLoop.remove_handler.
  void remove_handler(int fd);

  /// Seconds on the monotonic clock that deadlines use. Mirrors IOLoop.time.
  double time() const noexcept { return monotonic_time(); }
  /// Runs `callback` at `deadline` (an absolute time() or a duration from now). Timers due at the
  /// same time run in the order they were added. On a closed loop the callback is dropped and an
  /// empty handle returned. @throws std::invalid_argument if the deadline is NaN.
  /// Mirrors IOLoop.add_timeout.
  TimeoutHandle add_timeout(Deadline deadline, util::Callback callback);
  /// Runs `callback` `delay` seconds from now. Mirrors IOLoop.call_later.
  TimeoutHandle call_later(double delay, util::Callback callback);
  /// Runs `callback` at absolute time `when` (seconds on time()'s clock). Mirrors IOLoop.call_at.
  TimeoutHandle call_at(double when, util::Callback callback);
  /// Cancels a timer; a timer already run or removed is ignored. A timer that is due but has not
  /// run yet (another timer of the same iteration removes it, or it removes itself) does not run.
  /// Mirrors IOLoop.remove_timeout.
  void remove_timeout(TimeoutHandle handle) noexcept;

  /// Runs `callback` on the next iteration. The one method that may be called from any thread
  /// (it wakes the loop). Callbacks added to a closed loop are dropped (destroyed unrun).
  /// Mirrors IOLoop.add_callback.
  void add_callback(util::Callback callback);
  /// add_callback for a callable returning a Future: if that future fails, its exception is
  /// logged on app_log ("Exception in callback"), as Tornado's IOLoop does for a callback
  /// returning an awaitable.
  template <class F>
    requires is_future_v<std::invoke_result_t<F&>>
  void add_callback(F callback) {
    add_callback(util::Callback([cb = std::move(callback)]() mutable { discard_future_result(cb()); }));
  }
  /// Runs `callback` on the next iteration, apart from whatever added it: if it returns a Future
  /// that fails, the failure is logged. Mirrors IOLoop.spawn_callback.
  template <class F>
  void spawn_callback(F callback) {
    add_callback(std::move(callback));
  }
  /// Calls `callback(future)` on this loop once `future` is done. Mirrors IOLoop.add_future.
  template <class T, class F>
  void add_future(Future<T> future, F callback) {
    future.add_done_callback([this, cb = std::move(callback)](const Future<T>& f) mutable {
      add_callback([cb = std::move(cb), f]() mutable { cb(f); });
    });
  }

  /// Runs `fn()` on `executor` (the default executor if null) and returns a future for its
  /// result, completed on this loop. Mirrors IOLoop.run_in_executor.
  template <class F>
  auto run_in_executor(Executor* executor, F fn) {
    return run_on_executor(executor ? *executor : default_executor(), std::move(fn));
  }
  /// Replaces the executor run_in_executor(nullptr, ...) uses. Mirrors IOLoop.set_default_executor.
  void set_default_executor(std::shared_ptr<Executor> executor);
  /// The default executor (a ThreadPoolExecutor made on first use).
  Executor& default_executor();

  /// The poller backend's name ("epoll", "poll", "kqueue").
  static std::string_view backend_name() noexcept;

  struct Impl;

 private:
  void call_soon(util::Callback cb) override;
  void call_soon_threadsafe(util::Callback cb) override;
  template <class T>
  static void discard_future_result(const Future<T>& future) {
    future.add_done_callback([](const Future<T>& f) {
      if (f.cancelled()) return;
      if (auto e = f.exception()) tornado::detail::log_callback_exception(e);
    });
  }
  std::unique_ptr<Impl> impl_;
};

template <class F>
auto IOLoop::run_sync(F func, std::optional<double> timeout) {
  using R = std::remove_cvref_t<std::invoke_result_t<F&>>;
  if constexpr (is_future_v<R>) {
    using T = typename R::value_type;
    // Checked before anything is queued: a queued closure below refers to this frame.
    if (closed()) throw std::logic_error("IOLoop is closed");
    if (is_running()) throw std::logic_error("IOLoop is already running");
    std::optional<Future<T>> future;
    bool timed_out = false;
    // Whether this call is still in progress. The future's done-callback outlives it (after a
    // timeout the future is cancelled once start() has returned, which schedules the callback
    // for whenever the loop runs next): it must not stop a later start() or run_sync.
    auto active = std::make_shared<bool>(true);
    add_callback([&, active] {
      if (!*active) return;
      try {
        future.emplace(func());
      } catch (...) {
        future.emplace();
        future->set_exception(std::current_exception());
      }
      future->add_done_callback([this, active](const Future<T>&) {
        if (*active) stop();
      });
    });
    TimeoutHandle th;
    if (timeout) {
      th = call_later(*timeout, [&, active] {
        if (!*active) return;
        timed_out = true;
        stop();
      });
    }
    struct Finish {
      IOLoop& loop;
      bool& active;
      TimeoutHandle th;
      ~Finish() {
        active = false;
        loop.remove_timeout(th);
      }
    };
    {
      Finish finish{*this, *active, th};
      start();
    }
    if (!future) throw std::logic_error("run_sync: the loop stopped before the function ran");
    if (!future->done()) {
      future->cancel();
      if (timed_out)
        throw TimeoutError("Operation timed out after " + std::to_string(*timeout) + " seconds");
      throw std::logic_error("Event loop stopped before Future completed.");
    }
    if constexpr (std::is_void_v<T>) {
      future->result();
    } else {
      return T(std::move(future->result()));
    }
  } else {
    return run_sync([&]() -> Future<R> {
      if constexpr (std::is_void_v<R>) {
        func();
        Future<R> f;
        f.set_result();
        return f;
      } else {
        return Future<R>::ready(R(func()));
      }
    }, timeout);
  }
}

namespace detail {
/// PeriodicCallback's schedule arithmetic, apart so that tests can drive it with a made-up clock
/// and made-up random numbers (TestPeriodicCallbackMath); not for applications.
///
/// Returns the time of the next run, given the time the run just made was due
/// (`next_timeout`, seconds) and the time now (`now`, seconds). The interval is
/// `callback_time_ms` milliseconds, scaled by `1 + jitter * (random01 - 0.5)`. Runs already
/// missed are skipped: the result is the first point of the schedule after `now`. If the clock
/// went backwards (`now` < `next_timeout`) the schedule still advances by one interval.
/// Mirrors PeriodicCallback._update_next.
double periodic_next_timeout(double next_timeout, double now, double callback_time_ms, double jitter,
                             double random01) noexcept;
}  // namespace detail

/// Calls `callback` every `callback_time` milliseconds, on the current IOLoop, from start() until
/// stop(). If the callback returns a Future, the next run waits for it. Runs that fall behind
/// are skipped, not queued. `jitter` randomizes each interval by up to ±jitter/2 of it
/// (0.1: ±5%). Mirrors tornado.ioloop.PeriodicCallback.
class PeriodicCallback {
 public:
  /// @param callback  a callable returning void, a value (ignored) or a Future (awaited).
  /// @param callback_time  the interval in milliseconds (> 0).
  /// @param jitter  fraction of the interval to randomize by (0: none).
  /// @throws std::invalid_argument if callback_time is not positive.
  template <class F>
  PeriodicCallback(F callback, double callback_time, double jitter = 0)
      : PeriodicCallback(wrap(std::move(callback)), callback_time, jitter, 0) {}
  /// The same with the interval as a duration (Tornado 6.2 accepts a timedelta).
  /// @throws std::invalid_argument if callback_time is not positive.
  template <class F, class Rep, class Period>
  PeriodicCallback(F callback, std::chrono::duration<Rep, Period> callback_time, double jitter = 0)
      : PeriodicCallback(wrap(std::move(callback)),
                         std::chrono::duration<double, std::milli>(callback_time).count(), jitter, 0) {}
  /// Stops the timer. The PeriodicCallback may outlive its loop.
  ~PeriodicCallback();
  PeriodicCallback(const PeriodicCallback&) = delete;
  PeriodicCallback& operator=(const PeriodicCallback&) = delete;

  /// Starts the timer on the calling thread's current loop; the first run is one interval away.
  /// Does nothing if already started. Mirrors PeriodicCallback.start.
  void start();
  /// Stops the timer; a run in progress finishes. Mirrors PeriodicCallback.stop.
  void stop();
  /// Whether start() was called and stop() not since. Mirrors PeriodicCallback.is_running.
  bool is_running() const noexcept;

  /// The interval, in milliseconds. Mirrors PeriodicCallback.callback_time.
  double callback_time() const noexcept;
  /// The jitter fraction given to the constructor. Mirrors PeriodicCallback.jitter.
  double jitter() const noexcept;

  using Function = util::UniqueFunction<std::optional<Future<void>>()>;
  struct Impl;

 private:
  PeriodicCallback(Function f, double callback_time, double jitter, int);
  template <class F>
  static Function wrap(F f) {
    using R = std::remove_cvref_t<std::invoke_result_t<F&>>;
    if constexpr (std::is_same_v<R, Future<void>>) {
      return [f = std::move(f)]() mutable -> std::optional<Future<void>> { return f(); };
    } else if constexpr (is_future_v<R>) {
      // The next run waits for any future; only its outcome matters here, not its value.
      return [f = std::move(f)]() mutable -> std::optional<Future<void>> {
        Future<void> done;
        f().add_done_callback([done](const R& r) mutable {
          if (r.cancelled()) done.cancel();
          else if (auto e = r.exception()) done.set_exception(e);
          else done.set_result();
        });
        return done;
      };
    } else {
      return [f = std::move(f)]() mutable -> std::optional<Future<void>> {
        (void)f();
        return std::nullopt;
      };
    }
  }
  std::shared_ptr<Impl> impl_;
};

}  // namespace tornado::ioloop

export namespace tornado {
using ioloop::IOLoop;
}
