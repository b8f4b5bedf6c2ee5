// tornado.concurrent: Future<T>, the awaitable result of every asynchronous call, and the
// coroutines that return it. Mirrors tornado.concurrent (whose Future is asyncio.Future).
module;
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
export module tornado.concurrent;

export import tornado.util;
import tornado.log;

// A coroutine's body finds std::coroutine_traits by name lookup where the coroutine is defined;
// exporting the declarations lets `import tornado.concurrent;` suffice, without <coroutine>.
export namespace std {
using std::coroutine_handle;
using std::coroutine_traits;
using std::suspend_always;
using std::suspend_never;
}  // namespace std

export namespace tornado {

template <class T = void>
class Future;

namespace detail {

/// What completing a future uses to run its waiters later rather than inline, as asyncio's
/// call_soon does. The IOLoop installs itself as the thread's scheduler when it becomes current;
/// with none installed, waiters run inline.
class Scheduler {
 public:
  /// Runs `cb` on this scheduler's thread, soon. Called only on that thread.
  virtual void call_soon(util::Callback cb) = 0;
  /// Runs `cb` on this scheduler's thread, soon. May be called from any thread.
  virtual void call_soon_threadsafe(util::Callback cb) = 0;

 protected:
  ~Scheduler() = default;
};

/// The calling thread's scheduler (its current IOLoop), or null.
Scheduler* current_scheduler() noexcept;
/// Makes `s` the calling thread's scheduler; returns the previous one.
Scheduler* set_current_scheduler(Scheduler* s) noexcept;
/// Runs `cb` through the thread's scheduler, or inline when there is none.
void schedule(util::Callback cb);
/// Logs an exception that escaped a callback, on app_log, and returns.
void log_callback_exception(std::exception_ptr e) noexcept;

/// Memory for future states, coroutine frames and the objects a server makes for every request,
/// recycled through a per-thread cache by size (blocks up to 4 KiB, at most 2 MiB cached per
/// thread) instead of going back to malloc each time. `size` in bytes; a block must
/// be freed with the size it was allocated with. @throws std::bad_alloc.
void* allocate_block(std::size_t size);
void deallocate_block(void* p, std::size_t size) noexcept;

/// An allocator for std::allocate_shared of recycled memory (see allocate_block), for objects
/// made and destroyed for every request (the request, the handler).
template <class T>
struct RecyclingAllocator {
  using value_type = T;
  RecyclingAllocator() = default;
  template <class U>
  RecyclingAllocator(const RecyclingAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(std::size_t n) {
    if constexpr (alignof(T) > 16) return std::allocator<T>().allocate(n);
    else return static_cast<T*>(allocate_block(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if constexpr (alignof(T) > 16) std::allocator<T>().deallocate(p, n);
    else deallocate_block(p, n * sizeof(T));
  }
  template <class U>
  bool operator==(const RecyclingAllocator<U>&) const noexcept {
    return true;
  }
};

/// A base that gives a class recycled memory for `new` and `delete` (see allocate_block).
struct Recycled {
  static void* operator new(std::size_t size) { return allocate_block(size); }
  static void operator delete(void* p, std::size_t size) noexcept { deallocate_block(p, size); }
};

/// The shared state of a Future: result or exception, the callbacks and coroutines waiting for
/// it, and a non-atomic reference count (futures belong to one thread, their IOLoop's).
class StateBase {
 public:
  enum class Status : std::uint8_t { pending, result, failed, cancelled };
  using DoneCallback = util::UniqueFunction<void(StateBase&)>;

  StateBase() noexcept = default;
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;

  /// States are many and short-lived (one per future, one per coroutine call): their memory is
  /// recycled through a small per-thread cache rather than returned to malloc each time.
  static void* operator new(std::size_t size);
  static void operator delete(void* p, std::size_t size) noexcept;

  // The small members are declared inline: in a named module, a member defined in its class is
  // not implicitly inline, and Clang does not inline a non-inline one into importers.
  inline void add_ref() noexcept { ++refs_; }
  inline void release() noexcept {
    if (--refs_ == 0) destroy();
  }
  inline std::uint32_t refs() const noexcept { return refs_; }

  inline bool done() const noexcept { return status_ != Status::pending; }
  inline Status status() const noexcept { return status_; }
  inline bool cancelled() const noexcept { return status_ == Status::cancelled; }

  /// The stored exception (CancelledError for a cancelled future), marking it retrieved.
  inline std::exception_ptr exception_ptr() noexcept {
    retrieved_ = true;
    return exception_;
  }
  inline void mark_retrieved() noexcept { retrieved_ = true; }

  /// Completes with an exception. @returns false (and does nothing) if already done.
  bool try_set_exception(std::exception_ptr e) noexcept;
  /// Cancels a pending future: its waiters see CancelledError. @returns false if already done.
  bool cancel() noexcept;

  /// Registers a coroutine to resume when done. The registration holds no reference.
  void add_waiter(std::coroutine_handle<> h);
  /// Registers a callback to run (scheduled) when done.
  void add_callback(DoneCallback cb);

 protected:
  virtual ~StateBase();
  /// Marks the state done and schedules everything waiting on it.
  void finish(Status s) noexcept;

 private:
  struct Waiter {
    std::coroutine_handle<> handle;
    DoneCallback callback;
  };
  inline void destroy() noexcept { delete this; }
  void schedule_waiter(Waiter& w) noexcept;

  std::uint32_t refs_ = 1;
  Status status_ = Status::pending;
  bool retrieved_ = false;
  std::exception_ptr exception_;
  Waiter first_;
  std::vector<Waiter> more_;
};

struct Void {};
template <class T>
using Stored = std::conditional_t<std::is_void_v<T>, Void, T>;

/// Whether a T can really be copied. std::is_copy_constructible is true for a container of
/// move-only elements (std::vector<std::unique_ptr<X>>) whose copy then fails to compile; this
/// looks into containers (through value_type), pairs and tuples, so that futures of such types
/// move their values where they would otherwise copy.
template <class T>
struct is_copyable : std::is_copy_constructible<T> {};
template <class T>
  requires requires { typename T::value_type; } && (!std::is_same_v<typename T::value_type, T>)
struct is_copyable<T>
    : std::bool_constant<std::is_copy_constructible_v<T> && is_copyable<std::remove_cv_t<typename T::value_type>>::value> {};
template <class A, class B>
struct is_copyable<std::pair<A, B>> : std::bool_constant<is_copyable<A>::value && is_copyable<B>::value> {};
template <class... A>
struct is_copyable<std::tuple<A...>> : std::bool_constant<(is_copyable<A>::value && ...)> {};
template <class T>
inline constexpr bool is_copyable_v = is_copyable<T>::value;

template <class T>
class FutureState final : public StateBase {
 public:
  template <class... A>
  bool try_set_result(A&&... a) {
    if (done()) return false;
    value_.emplace(std::forward<A>(a)...);
    finish(Status::result);
    return true;
  }
  Stored<T>& value() noexcept { return *value_; }

 private:
  std::optional<Stored<T>> value_;
};

/// Throws the right error for reading a future that is not done, or rethrows its exception.
void throw_if_not_result(StateBase& s);

/// Owning pointer to a state (one counted reference).
template <class T>
class StateRef {
 public:
  StateRef() noexcept = default;
  explicit StateRef(FutureState<T>* adopt) noexcept : p_(adopt) {}
  StateRef(const StateRef& o) noexcept : p_(o.p_) {
    if (p_) p_->add_ref();
  }
  StateRef(StateRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  StateRef& operator=(StateRef o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~StateRef() {
    if (p_) p_->release();
  }
  FutureState<T>* get() const noexcept { return p_; }
  FutureState<T>* operator->() const noexcept { return p_; }
  FutureState<T>* release() noexcept { return std::exchange(p_, nullptr); }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  FutureState<T>* p_ = nullptr;
};

template <class T>
class Promise;

/// The awaiter for `co_await future`. An awaiter made from an rvalue future owns its reference
/// and hands it over while suspended, so that a future nobody else holds any more does not keep
/// the coroutine alive: it is destroyed (and its own future cancelled) instead of leaking.
template <class T>
class FutureAwaiter {
 public:
  FutureAwaiter(FutureState<T>* s, bool owning) noexcept : s_(s), owning_(owning), may_move_(owning) {}
  FutureAwaiter(const FutureAwaiter&) = delete;
  FutureAwaiter& operator=(const FutureAwaiter&) = delete;
  ~FutureAwaiter() {
    if (owning_) s_->release();
  }

  bool await_ready() const noexcept { return s_->done(); }
  void await_suspend(std::coroutine_handle<> h) {
    FutureState<T>* s = s_;
    s->add_waiter(h);
    if (owning_) {
      // After this release the frame (and this awaiter in it) may already be destroyed.
      owning_ = false;
      s->release();
    }
  }
  T await_resume() {
    if (s_->status() != StateBase::Status::result) throw_if_not_result(*s_);
    if constexpr (!std::is_void_v<T>) {
      // Move the value out when nobody else can see it (or it cannot be copied). An awaiter made
      // from an rvalue holds the one reference left then (or, resumed, the resuming task does);
      // one made from an lvalue is never alone: the lvalue holds a reference too.
      if constexpr (is_copyable_v<T>) {
        if (may_move_ && s_->refs() == 1) return std::move(s_->value());
        return s_->value();
      } else {
        return std::move(s_->value());
      }
    }
  }

 private:
  FutureState<T>* s_;
  bool owning_;    // holds a counted reference (until it is handed over at suspension)
  bool may_move_;  // made from an rvalue
};

}  // namespace detail

/// The result of an asynchronous operation, and the return type of coroutines.
///
/// A Future is a counted handle to a shared state: copies see the same result. `co_await`
/// suspends the calling coroutine until the future is done, then returns its value or rethrows
/// its exception. Completing a future schedules its waiters on the current IOLoop (they run on a
/// later iteration, as asyncio's do), so code that sets a result is never re-entered by the code
/// waiting for it.
///
/// A function returning `Future<T>` and using `co_await`/`co_return` is a coroutine. It starts
/// running at once, like a Tornado coroutine, until its first suspension; an exception escaping it
/// is stored in its future and rethrown where the future is awaited. A future that failed and
/// whose exception was never retrieved is logged on app_log when its last handle goes away.
///
/// Futures belong to the thread of their IOLoop: only IOLoop::add_callback crosses threads.
/// Mirrors asyncio.Future / tornado.concurrent.Future.
template <class T>
class Future {
 public:
  using value_type = T;
  using promise_type = detail::Promise<T>;

  /// A new pending future.
  Future() : s_(new detail::FutureState<T>()) {}
  /// A future that is already done with `value`.
  template <class U = T, class = std::enable_if_t<!std::is_void_v<U>>>
  static Future ready(U&& value) {
    Future f;
    f.set_result(std::forward<U>(value));
    return f;
  }

  /// True when the future has a result, an exception, or was cancelled.
  bool done() const noexcept { return s_->done(); }
  /// True when cancel() was called while pending.
  bool cancelled() const noexcept { return s_->cancelled(); }

  /// The result. @throws InvalidStateError if not done; CancelledError if cancelled; the stored
  /// exception if it failed.
  std::add_lvalue_reference_t<detail::Stored<T>> result() const
    requires(!std::is_void_v<T>)
  {
    detail::throw_if_not_result(*s_.get());
    return s_->value();
  }
  /// For Future<void>: returns if it succeeded. @throws as the other overload.
  void result() const
    requires std::is_void_v<T>
  {
    detail::throw_if_not_result(*s_.get());
  }

  /// The exception, or null if it succeeded. @throws InvalidStateError if not done,
  /// CancelledError if cancelled. Mirrors asyncio.Future.exception.
  std::exception_ptr exception() const;

  /// Completes with a value. @throws InvalidStateError if already done.
  template <class... A>
  void set_result(A&&... value) {
    if (!s_->try_set_result(std::forward<A>(value)...))
      throw InvalidStateError("set_result on a future that is already done");
  }
  /// Completes with an exception. @throws InvalidStateError if already done.
  void set_exception(std::exception_ptr e) {
    if (!s_->try_set_exception(std::move(e)))
      throw InvalidStateError("set_exception on a future that is already done");
  }
  /// Completes with a copy of `e`, e.g. `set_exception(TimeoutError())`.
  template <class E, class = std::enable_if_t<!std::is_same_v<std::decay_t<E>, std::exception_ptr>>>
  void set_exception(E&& e) {
    set_exception(std::make_exception_ptr(std::forward<E>(e)));
  }
  /// Cancels a pending future: waiters see CancelledError. @returns false if it was done.
  /// A coroutine whose future is cancelled keeps running; its eventual result is dropped.
  bool cancel() noexcept { return s_->cancel(); }

  /// Calls `cb(future)` when the future is done: at once if it already is, else scheduled on the
  /// IOLoop. An exception escaping `cb` is logged. Mirrors tornado.concurrent.future_add_done_callback.
  template <class F>
  void add_done_callback(F cb) const {
    if (done()) {
      try {
        cb(*this);
      } catch (...) {
        detail::log_callback_exception(std::current_exception());
      }
      return;
    }
    s_->add_callback([cb = std::move(cb)](detail::StateBase& s) mutable {
      auto* st = static_cast<detail::FutureState<T>*>(&s);
      st->add_ref();
      cb(Future(detail::StateRef<T>(st)));
    });
  }

  auto operator co_await() const& noexcept { return detail::FutureAwaiter<T>(s_.get(), false); }
  auto operator co_await() && noexcept { return detail::FutureAwaiter<T>(s_.release(), true); }

  /// Whether two handles share one state.
  friend bool operator==(const Future& a, const Future& b) noexcept { return a.s_.get() == b.s_.get(); }

  /// Internal: the shared state.
  detail::FutureState<T>* state() const noexcept { return s_.get(); }
  explicit Future(detail::StateRef<T> s) noexcept : s_(std::move(s)) {}

 private:
  detail::StateRef<T> s_;
};

template <class T>
std::exception_ptr Future<T>::exception() const {
  if (!s_->done()) throw InvalidStateError("exception() of a future that is not done");
  if (s_->cancelled()) {
    s_->mark_retrieved();
    throw CancelledError();
  }
  return s_->exception_ptr();
}

/// `is_future_v<X>` is true when X is a Future. Mirrors tornado.concurrent.is_future.
template <class X>
inline constexpr bool is_future_v = false;
template <class T>
inline constexpr bool is_future_v<Future<T>> = true;

namespace detail {

template <class T>
class PromiseBase {
 public:
  PromiseBase() : s_(new FutureState<T>()) {}
  ~PromiseBase() {
    // The frame is going away before the coroutine finished (it was destroyed while suspended):
    // whoever waits for it learns it was cancelled.
    if (!s_->done()) s_->cancel();
    s_->release();
  }
  PromiseBase(const PromiseBase&) = delete;
  PromiseBase& operator=(const PromiseBase&) = delete;

  /// A coroutine's frame comes from the per-thread block cache: a server calls several
  /// coroutines per request, each allocating its frame.
  static void* operator new(std::size_t size) { return allocate_block(size); }
  static void operator delete(void* p, std::size_t size) noexcept { deallocate_block(p, size); }

  Future<T> get_return_object() noexcept {
    s_->add_ref();
    return Future<T>(StateRef<T>(s_));
  }
  std::suspend_never initial_suspend() noexcept { return {}; }
  std::suspend_never final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { s_->try_set_exception(std::current_exception()); }

 protected:
  FutureState<T>* s_;
};

template <class T>
class Promise : public PromiseBase<T> {
 public:
  template <class U = T>
  void return_value(U&& v) {
    this->s_->try_set_result(std::forward<U>(v));
  }
};

template <>
class Promise<void> : public PromiseBase<void> {
 public:
  void return_void() { this->s_->try_set_result(); }
};

}  // namespace detail

/// Completes `future` with `value` unless it was cancelled (or is otherwise done).
/// Mirrors tornado.concurrent.future_set_result_unless_cancelled.
template <class T, class... A>
void future_set_result_unless_cancelled(const Future<T>& future, A&&... value) {
  future.state()->try_set_result(std::forward<A>(value)...);
}

/// Completes `future` with `e` unless it was cancelled; if it was, `e` is logged instead of lost.
/// Mirrors tornado.concurrent.future_set_exception_unless_cancelled.
template <class T>
void future_set_exception_unless_cancelled(const Future<T>& future, std::exception_ptr e) {
  if (!future.state()->try_set_exception(e)) {
    log::app_log().log_exception(log::Level::ERROR, e, "Exception after Future was cancelled");
  }
}

/// Runs `cb(future)` when `future` is done, at once if it already is.
/// Mirrors tornado.concurrent.future_add_done_callback.
template <class T, class F>
void future_add_done_callback(const Future<T>& future, F cb) {
  future.add_done_callback(std::move(cb));
}

/// Copies the outcome of `a` into `b` when `a` completes (at once if it already has), unless `b`
/// is already done (cancelled, say). A cancelled `a` cancels `b`. A value that cannot be copied
/// (a std::unique_ptr) is moved from `a` into `b`. Mirrors tornado.concurrent.chain_future.
template <class T>
void chain_future(const Future<T>& a, Future<T> b) {
  a.add_done_callback([b = std::move(b)](const Future<T>& done) mutable {
    if (b.done()) return;
    if (done.cancelled()) {
      b.cancel();
      return;
    }
    if (auto e = done.exception()) {
      b.state()->try_set_exception(e);
    } else if constexpr (std::is_void_v<T>) {
      b.state()->try_set_result();
    } else if constexpr (detail::is_copyable_v<T>) {
      b.state()->try_set_result(done.result());
    } else {
      b.state()->try_set_result(std::move(done.result()));
    }
  });
}

/// Something that runs callables on other threads: the target of IOLoop::run_in_executor and
/// run_on_executor. Mirrors concurrent.futures.Executor.
class Executor {
 public:
  virtual ~Executor() = default;
  /// Queues `fn` to run on one of the executor's threads. Every accepted task must run.
  virtual void submit(util::Callback fn) = 0;
};

/// Runs every task inline, in the calling thread. Mirrors tornado.concurrent.DummyExecutor.
class DummyExecutor final : public Executor {
 public:
  void submit(util::Callback fn) override { fn(); }
};

/// A fixed pool of worker threads (Boost.Asio's thread_pool). Destruction waits for every queued
/// task to finish. Mirrors concurrent.futures.ThreadPoolExecutor.
class ThreadPoolExecutor final : public Executor {
 public:
  /// @param max_workers  number of threads; 0 picks the number of CPUs plus 4, as Python does.
  explicit ThreadPoolExecutor(std::size_t max_workers = 0);
  ~ThreadPoolExecutor() override;
  void submit(util::Callback fn) override;
  /// Waits for queued tasks, then stops the threads. Later submits run nothing.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace detail {
/// One counted reference to a future's state, carried through another thread by
/// run_on_executor. The count is not atomic, so the reference is released only on the thread
/// that took it; a hold destroyed on any other thread (a completion dropped by a loop that was
/// closed while the task ran) leaks the state rather than race on its count.
template <class T>
class ThreadBoundRef {
 public:
  explicit ThreadBoundRef(FutureState<T>* s) noexcept : s_(s), owner_(std::this_thread::get_id()) {
    s_->add_ref();
  }
  ThreadBoundRef(ThreadBoundRef&& o) noexcept : s_(std::exchange(o.s_, nullptr)), owner_(o.owner_) {}
  ThreadBoundRef& operator=(ThreadBoundRef&&) = delete;
  ~ThreadBoundRef() {
    if (s_ && std::this_thread::get_id() == owner_) s_->release();
  }
  FutureState<T>* operator->() const noexcept { return s_; }

 private:
  FutureState<T>* s_;
  std::thread::id owner_;
};
}  // namespace detail

/// Runs `fn()` on `executor` and returns a future for its result (or its exception), completed
/// on the calling thread's IOLoop, on a later iteration, even with an executor that runs `fn`
/// inline (DummyExecutor). The loop must outlive the call; if it is closed before the result
/// arrives, the future is dropped with it. Mirrors tornado.concurrent.run_on_executor (and
/// IOLoop.run_in_executor, which is built on it).
template <class F, class R = std::invoke_result_t<F&>>
Future<R> run_on_executor(Executor& executor, F fn) {
  Future<R> future;
  detail::Scheduler* sched = detail::current_scheduler();
  // The worker only carries the state; it is completed, and its reference released, back on this
  // thread.
  executor.submit([hold = detail::ThreadBoundRef<R>(future.state()), sched, fn = std::move(fn)]() mutable {
    util::Callback complete;
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        complete = [hold = std::move(hold)] { hold->try_set_result(); };
      } else {
        auto v = std::make_unique<R>(fn());  // before `hold` moves: fn may throw
        complete = [hold = std::move(hold), v = std::move(v)]() mutable {
          hold->try_set_result(std::move(*v));
        };
      }
    } catch (...) {
      complete = [hold = std::move(hold), e = std::current_exception()] { hold->try_set_exception(e); };
    }
    if (sched) sched->call_soon_threadsafe(std::move(complete));
    else complete();
  });
  return future;
}

}  // namespace tornado
