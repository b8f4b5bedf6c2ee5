// tornado.locks: synchronization primitives for coroutines on one IOLoop (Condition, Event,
// Semaphore, BoundedSemaphore, Lock). Mirrors tornado.locks.
//
// These are not thread-safe: like Tornado's, they coordinate coroutines running on the same
// IOLoop. Every `timeout` is an optional ioloop::Deadline: an absolute time on IOLoop::time()'s
// clock (a double, as `io_loop.time() + 1`) or a std::chrono duration from now (as Python's
// timedelta). A waiter that times out is woken through a timer on the current IOLoop
// (IOLoop::add_timeout); timed-out waiters are swept from the waiter lists, so a loop that keeps
// waiting with a short timeout does not grow them.
module;
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
export module tornado.locks;

export import tornado.concurrent;
export import tornado.ioloop;
export import tornado.util;

export namespace tornado::locks {

namespace detail {
struct ConditionState;
struct EventState;
struct SemaphoreState;
}  // namespace detail

/// Lets one or more coroutines wait until another notifies them.
///
/// Like threading.Condition, but with no underlying lock to acquire and release:
///
///     locks::Condition condition;
///     Future<void> waiter() {
///       co_await condition.wait();          // true: notified
///     }
///     void notifier() { condition.notify(); }
///
/// Waiters are woken in the order they called wait(). A notified waiter's future is completed at
/// once (done() is true after notify returns); the coroutine awaiting it resumes on the IOLoop's
/// next iteration, never inside notify().
/// Non-copyable and non-movable, like std::mutex. Destroying it drops its waiters: a coroutine
/// still waiting with no timeout is destroyed and its own future cancelled, as when any future's
/// producer goes away (docs/concurrency.md); one with a timeout wakes at its deadline, with false.
/// Mirrors tornado.locks.Condition.
class Condition {
 public:
  Condition();
  ~Condition();
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  /// Waits for notify().
  ///
  /// @param timeout  when to give up: an absolute IOLoop::time() in seconds, or a duration from
  ///                 now. nullopt: wait for ever. (Tornado treats a falsy timeout, 0 or
  ///                 timedelta(0), as none; here any given deadline counts, a past one expiring on
  ///                 the next iteration.)
  /// @returns a future that is true when notified, false when the timeout passed first. It never
  ///          fails. Dropping it does not withdraw the wait: a notify() may still be spent on it,
  ///          as in Tornado, hence [[nodiscard]].
  /// Mirrors Condition.wait.
  [[nodiscard]] Future<bool> wait(std::optional<ioloop::Deadline> timeout = std::nullopt);

  /// Wakes up to `n` waiters, oldest first. Waiters that already timed out (or whose futures were
  /// cancelled) are skipped and do not count against `n`. Mirrors Condition.notify.
  void notify(std::size_t n = 1);

  /// Wakes every waiter. Mirrors Condition.notify_all.
  void notify_all();

  /// "<Condition>", or "<Condition waiters[N]>" while N waiters are queued (timed-out ones
  /// included until they are swept). Mirrors Condition.__repr__.
  std::string repr() const;

 private:
  std::shared_ptr<detail::ConditionState> state_;
};

/// A flag coroutines can wait on: wait() blocks until set() is called, and returns at once while
/// the flag is set, until clear(). Like threading.Event.
///
///     locks::Event event;
///     co_await event.wait();                 // elsewhere: event.set();
///
/// Non-copyable and non-movable. Destroying it drops its waiters, as for Condition (one with a
/// timeout fails with TimeoutError at its deadline). Mirrors tornado.locks.Event.
class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// Whether the flag is set. Mirrors Event.is_set.
  bool is_set() const noexcept;

  /// Sets the flag and wakes every waiter (their futures complete at once, in the order they
  /// waited). Later wait()s return done futures until clear(). Mirrors Event.set.
  void set();

  /// Resets the flag: later wait()s block until set(). Mirrors Event.clear.
  void clear() noexcept;

  /// Waits until the flag is set.
  ///
  /// @param timeout  when to give up (absolute IOLoop::time() in seconds, or a duration from
  ///                 now); nullopt: wait for ever.
  /// @returns a future that is already done if the flag is set; otherwise one that completes on
  ///          set(), or fails with tornado::TimeoutError when the timeout passes first.
  /// Mirrors Event.wait.
  [[nodiscard]] Future<void> wait(std::optional<ioloop::Deadline> timeout = std::nullopt);

  /// "<Event set>" or "<Event clear>". Mirrors Event.__repr__.
  std::string repr() const;

 private:
  std::shared_ptr<detail::EventState> state_;
};

/// Proof of one acquisition of a Semaphore, BoundedSemaphore or Lock: the RAII stand-in for
/// Python's `async with lock:` (and `with (yield lock.acquire()):`).
///
/// Semaphore::acquire() and Lock::acquire() complete their future with a guard; the permit is
/// held as long as that guard (or the future still holding it) lives, and released when it is
/// destroyed:
///
///     {
///       auto guard = co_await lock.acquire();   // keep it in a named variable
///       co_await do_something();                 // holding the lock
///     }                                          // released here, on exception too
///
/// `co_await lock.acquire();` alone acquires and releases at once, which is never what is meant:
/// the type is [[nodiscard]], so Clang warns about it (-Wunused-result). For the same reason a
/// dropped acquire() future is a no-op rather than a leaked permit.
///
/// Move-only. A default-constructed or moved-from guard holds nothing. The guard keeps the
/// semaphore's state alive, so it may outlive the Semaphore object itself.
/// Mirrors tornado.locks._ReleasingContextManager.
class [[nodiscard("the permit is released when the guard is destroyed: keep it in a variable")]] ReleasingGuard {
 public:
  /// A guard that holds nothing.
  ReleasingGuard() noexcept;
  ReleasingGuard(ReleasingGuard&& other) noexcept;
  /// Releases what this guard held (as the destructor does), then takes over `other`'s permit.
  ReleasingGuard& operator=(ReleasingGuard&& other) noexcept;
  ReleasingGuard(const ReleasingGuard&) = delete;
  ReleasingGuard& operator=(const ReleasingGuard&) = delete;
  /// Releases the permit if still held. An exception from the release (a BoundedSemaphore or Lock
  /// that was also released by hand, one time too many) cannot propagate from a destructor: it is
  /// logged on app_log at ERROR.
  ~ReleasingGuard();

  /// Releases the permit now instead of at destruction; afterwards the guard holds nothing.
  /// Does nothing if it holds nothing.
  /// @throws std::invalid_argument (BoundedSemaphore) or std::runtime_error (Lock) if the
  ///         semaphore was already released by hand past its bound.
  void release();

  /// Gives up the permit without releasing it: somebody must now call release() on the semaphore
  /// or lock itself, as in Tornado's `await sem.acquire(); try: ... finally: sem.release()`.
  /// Afterwards the guard holds nothing.
  void detach() noexcept;

  /// Whether the guard still holds a permit.
  bool owns() const noexcept { return state_ != nullptr; }
  explicit operator bool() const noexcept { return owns(); }

 private:
  friend struct detail::SemaphoreState;
  explicit ReleasingGuard(std::shared_ptr<detail::SemaphoreState> state) noexcept;
  std::shared_ptr<detail::SemaphoreState> state_;
};

/// A lock that can be acquired a fixed number of times before blocking.
///
/// Keeps a counter: the initial value, minus acquisitions, plus releases. acquire() waits while
/// it is zero. To let two workers use a resource at a time:
///
///     locks::Semaphore sem(2);
///     Future<void> worker(int id) {
///       auto guard = co_await sem.acquire();   // released when guard goes out of scope
///       co_await use_some_resource();
///     }
///
/// Waiters are served first come, first served: release() hands its permit straight to the
/// oldest waiter still waiting (one that timed out, or whose future was cancelled, is skipped).
/// A coroutine cannot jump the queue, since the counter stays zero while anybody waits.
/// Non-copyable and non-movable. Its state lives on while a ReleasingGuard refers to it, so
/// waiters still get the permits that outstanding guards release; with no guard left,
/// destroying it drops its waiters, as for Condition. Mirrors tornado.locks.Semaphore.
class Semaphore {
 public:
  /// @param value  the initial counter.
  /// @throws std::invalid_argument if `value` is negative (Tornado's ValueError).
  explicit Semaphore(int value = 1);
  virtual ~Semaphore();
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// Decrements the counter, waiting for a release() first while it is zero.
  ///
  /// @param timeout  when to give up (absolute IOLoop::time() in seconds, or a duration from
  ///                 now); nullopt: wait for ever.
  /// @returns a future completed with a ReleasingGuard that releases the permit when destroyed:
  ///          at once (done) if the counter was positive, else when a release() hands this
  ///          waiter the permit. It fails with tornado::TimeoutError if the timeout passes first
  ///          (the counter is then untouched). Keep the guard; see ReleasingGuard.
  /// Mirrors Semaphore.acquire.
  [[nodiscard]] Future<ReleasingGuard> acquire(std::optional<ioloop::Deadline> timeout = std::nullopt);

  /// Increments the counter and wakes the oldest waiter, if any (its future completes at once).
  /// Releasing by hand pairs with ReleasingGuard::detach(); a guard releases by itself.
  /// A plain Semaphore may be released more times than acquired: the counter just grows.
  /// @throws std::invalid_argument for a BoundedSemaphore released past its initial value.
  /// Mirrors Semaphore.release.
  void release();

  /// "<Semaphore [unlocked,value:N]>", "<Semaphore [locked]>", with ",waiters:N" while waiters
  /// are queued ("BoundedSemaphore" for one). Mirrors Semaphore.__repr__.
  std::string repr() const;

 protected:
  struct Bounded {};
  Semaphore(int value, Bounded);

 private:
  friend class Lock;
  std::shared_ptr<detail::SemaphoreState> state_;
};

/// A Semaphore that refuses to be released more often than acquired: release() beyond the
/// initial value throws. Semaphores guard resources of limited capacity, so one released too
/// many times is a bug. Mirrors tornado.locks.BoundedSemaphore.
class BoundedSemaphore : public Semaphore {
 public:
  /// @param value  the initial counter, which is also its bound.
  /// @throws std::invalid_argument if `value` is negative.
  explicit BoundedSemaphore(int value = 1);
  // release() throws std::invalid_argument("Semaphore released too many times") when the counter
  // is already at its initial value (Tornado's ValueError).
};

/// A lock for coroutines. It begins unlocked; acquire() locks it at once if it is unlocked, else
/// waits, first come first served, until the holder releases it:
///
///     locks::Lock lock;
///     Future<void> f() {
///       auto guard = co_await lock.acquire();   // Python: async with lock:
///       // ... holding the lock ...
///     }                                         // unlocked here
///
/// Releasing an unlocked lock throws std::runtime_error. There is no synchronous lock()/unlock():
/// std::lock_guard cannot be used on it (Python's `with lock:` misuse does not compile).
/// Non-copyable and non-movable. Mirrors tornado.locks.Lock.
class Lock {
 public:
  Lock();
  ~Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  /// Locks it, waiting for the holder to release it first if it is locked.
  ///
  /// @param timeout  when to give up (absolute IOLoop::time() in seconds, or a duration from
  ///                 now); nullopt: wait for ever.
  /// @returns a future completed with a ReleasingGuard that unlocks when destroyed; it fails
  ///          with tornado::TimeoutError if the timeout passes first. Keep the guard.
  /// Mirrors Lock.acquire.
  [[nodiscard]] Future<ReleasingGuard> acquire(std::optional<ioloop::Deadline> timeout = std::nullopt);

  /// Unlocks it; the oldest waiter gets the lock. Pairs with ReleasingGuard::detach().
  /// @throws std::runtime_error("release unlocked lock") if it is not locked.
  /// Mirrors Lock.release.
  void release();

  /// "<Lock _block=<BoundedSemaphore [...]>>". Mirrors Lock.__repr__.
  std::string repr() const;

 private:
  BoundedSemaphore block_;
};

}  // namespace tornado::locks
