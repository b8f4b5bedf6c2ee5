module;
#include <algorithm>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
module tornado.locks;

import tornado.concurrent;
import tornado.ioloop;
import tornado.log;
import tornado.util;

namespace tornado::locks {

namespace detail {

namespace {

// One coroutine (or callback) waiting on a primitive, with the timer that gives up on it.
template <class T>
struct Waiter {
  Future<T> future;
  ioloop::IOLoop* loop = nullptr;  // where the timer is, if any
  ioloop::TimeoutHandle timeout;

  // Removes the timer, so a long timeout does not keep the waiter's future alive once it was
  // woken. Only on the loop that is current: a loop that is not (it was closed, or this runs off
  // its thread) has dropped or will harmlessly run the timer, which finds the future done.
  void cancel_timeout() noexcept {
    if (timeout && loop == IOLoop::current(false)) loop->remove_timeout(timeout);
    timeout = {};
  }
};

// The FIFO of waiters every primitive keeps: Tornado's `_waiters` deque plus its
// _TimeoutGarbageCollector.
template <class T>
class WaiterQueue {
 public:
  std::size_t size() const noexcept { return q_.size(); }
  bool empty() const noexcept { return q_.empty(); }

  // Queues `future` last. With a timeout, at the deadline `Expire{}(future)` runs (unless the
  // future is done by then) and the owner's queue is garbage-collected. The timer holds only a
  // weak reference to the owner, so a primitive destroyed first is not touched.
  template <class Expire, class Owner>
  void push(Future<T> future, const std::optional<ioloop::Deadline>& timeout, const std::shared_ptr<Owner>& owner) {
    sweep_if_large();
    Waiter<T> w{future};
    if (timeout) {
      IOLoop& loop = IOLoop::current();
      w.loop = &loop;
      w.timeout = loop.add_timeout(*timeout, [weak = std::weak_ptr<Owner>(owner), future]() mutable {
        if (!future.done()) Expire{}(future);
        if (auto o = weak.lock()) o->waiters.garbage_collect();
      });
    }
    q_.push_back(std::move(w));
  }

  // Pops waiters from the front until one is still waiting, and returns that one, its timer
  // removed; nullopt if none is. Timed-out and cancelled waiters are dropped on the way, which is
  // how a notify or release skips them.
  std::optional<Future<T>> pop_live() {
    while (!q_.empty()) {
      Waiter<T> w = std::move(q_.front());
      q_.pop_front();
      w.cancel_timeout();
      if (!w.future.done()) return std::move(w.future);
    }
    return std::nullopt;
  }

  // Takes every waiter still waiting, oldest first, their timers removed; the queue is left empty.
  std::vector<Future<T>> take_all() {
    std::deque<Waiter<T>> all;
    all.swap(q_);
    std::vector<Future<T>> live;
    for (auto& w : all) {
      w.cancel_timeout();
      if (!w.future.done()) live.push_back(std::move(w.future));
    }
    return live;
  }

  // Tornado's _garbage_collect: called on each timeout, it sweeps done waiters every 101st time.
  void garbage_collect() {
    if (++timeouts_ > 100) {
      timeouts_ = 0;
      sweep();
    }
  }

 private:
  // Waiters whose futures were cancelled, with no timeout, are never counted by
  // garbage_collect: sweep those too when the queue has doubled since the last sweep, so the
  // queue stays within twice the number of live waiters (amortized O(1) per push).
  void sweep_if_large() {
    if (q_.size() < sweep_at_) return;
    sweep();
    sweep_at_ = std::max<std::size_t>(kMinSweep, 2 * q_.size());
  }

  void sweep() {
    std::deque<Waiter<T>> live;
    std::vector<Waiter<T>> dead;
    for (auto& w : q_) {
      if (w.future.done()) dead.push_back(std::move(w));
      else live.push_back(std::move(w));
    }
    // The queue is consistent before any dead future is destroyed: destroying one may log (an
    // exception nobody retrieved), and a log handler may call back into the primitive.
    q_.swap(live);
    for (auto& w : dead) w.cancel_timeout();
  }

  static constexpr std::size_t kMinSweep = 64;
  std::deque<Waiter<T>> q_;
  int timeouts_ = 0;
  std::size_t sweep_at_ = kMinSweep;
};

struct SetFalse {
  void operator()(Future<bool>& f) const { future_set_result_unless_cancelled(f, false); }
};

struct FailWithTimeout {
  template <class T>
  void operator()(Future<T>& f) const {
    f.set_exception(TimeoutError());
  }
};

}  // namespace

struct ConditionState : std::enable_shared_from_this<ConditionState> {
  WaiterQueue<bool> waiters;
};

struct EventState : std::enable_shared_from_this<EventState> {
  bool value = false;
  WaiterQueue<void> waiters;
};

struct SemaphoreState : std::enable_shared_from_this<SemaphoreState> {
  enum class Kind { semaphore, bounded, lock };

  SemaphoreState(int v, Kind k) : kind(k), value(v), initial(v) {}

  Kind kind;
  int value;
  int initial;
  bool releasing = false;  // a release() is handing out permits further up the stack
  WaiterQueue<ReleasingGuard> waiters;

  Future<ReleasingGuard> acquire(const std::optional<ioloop::Deadline>& timeout) {
    Future<ReleasingGuard> waiter;
    if (value > 0) {
      --value;
      waiter.set_result(ReleasingGuard(shared_from_this()));
    } else {
      waiters.push<FailWithTimeout>(waiter, timeout, shared_from_this());
    }
    return waiter;
  }

  void release() {
    if (kind != Kind::semaphore && value >= initial) {
      if (kind == Kind::lock) throw std::runtime_error("release unlocked lock");
      throw std::invalid_argument("Semaphore released too many times");
    }
    ++value;
    // Handing a permit to a waiter whose future nobody holds any more destroys the guard at
    // once, which releases again: the nested call only counts its permit, and this loop hands it
    // on, so a run of abandoned waiters costs no stack.
    if (releasing) return;
    releasing = true;
    struct Reset {
      bool& flag;
      ~Reset() { flag = false; }
    } reset{releasing};
    // Waiters only queue while the counter is zero, so a positive counter with a waiter still
    // waiting means a permit to hand over (Tornado's release wakes one per call).
    while (value > 0) {
      auto waiter = waiters.pop_live();
      if (!waiter) break;
      --value;
      waiter->set_result(ReleasingGuard(shared_from_this()));
      waiter.reset();  // may release again (see above)
    }
  }

  std::string repr(const char* name) const {
    std::string extra = value == 0 ? "locked" : "unlocked,value:" + std::to_string(value);
    if (!waiters.empty()) extra += ",waiters:" + std::to_string(waiters.size());
    return std::string("<") + name + " [" + extra + "]>";
  }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Condition

Condition::Condition() : state_(std::make_shared<detail::ConditionState>()) {}
Condition::~Condition() = default;

Future<bool> Condition::wait(std::optional<ioloop::Deadline> timeout) {
  Future<bool> waiter;
  state_->waiters.push<detail::SetFalse>(waiter, timeout, state_);
  return waiter;
}

void Condition::notify(std::size_t n) {
  // Collect first, then wake, as Tornado does: waking is scheduled, but with no IOLoop it runs
  // inline and may re-enter notify().
  std::vector<Future<bool>> woken;
  while (n > 0) {
    auto waiter = state_->waiters.pop_live();
    if (!waiter) break;
    woken.push_back(std::move(*waiter));
    --n;
  }
  for (auto& w : woken) future_set_result_unless_cancelled(w, true);
}

void Condition::notify_all() { notify(state_->waiters.size()); }

std::string Condition::repr() const {
  std::string r = "<Condition";
  if (!state_->waiters.empty()) r += " waiters[" + std::to_string(state_->waiters.size()) + "]";
  return r + ">";
}

// ---------------------------------------------------------------------------------------------
// Event

Event::Event() : state_(std::make_shared<detail::EventState>()) {}
Event::~Event() = default;

bool Event::is_set() const noexcept { return state_->value; }

void Event::set() {
  if (state_->value) return;
  state_->value = true;
  for (auto& w : state_->waiters.take_all()) future_set_result_unless_cancelled(w);
}

void Event::clear() noexcept { state_->value = false; }

Future<void> Event::wait(std::optional<ioloop::Deadline> timeout) {
  Future<void> waiter;
  if (state_->value) {
    waiter.set_result();
    return waiter;
  }
  state_->waiters.push<detail::FailWithTimeout>(waiter, timeout, state_);
  return waiter;
}

std::string Event::repr() const { return state_->value ? "<Event set>" : "<Event clear>"; }

// ---------------------------------------------------------------------------------------------
// ReleasingGuard

ReleasingGuard::ReleasingGuard() noexcept = default;
ReleasingGuard::ReleasingGuard(std::shared_ptr<detail::SemaphoreState> state) noexcept : state_(std::move(state)) {}
ReleasingGuard::ReleasingGuard(ReleasingGuard&& other) noexcept : state_(std::move(other.state_)) {}

ReleasingGuard& ReleasingGuard::operator=(ReleasingGuard&& other) noexcept {
  if (this != &other) {
    ReleasingGuard old(std::move(*this));  // released by its destructor, errors logged
    state_ = std::move(other.state_);
  }
  return *this;
}

ReleasingGuard::~ReleasingGuard() {
  if (!state_) return;
  try {
    release();
  } catch (...) {
    log::app_log().log_exception(log::Level::ERROR, std::current_exception(),
                                 "Exception releasing a lock or semaphore from its guard");
  }
}

void ReleasingGuard::release() {
  // Emptied first: a release that throws is not retried by the destructor.
  if (auto s = std::move(state_)) s->release();
}

void ReleasingGuard::detach() noexcept { state_.reset(); }

// ---------------------------------------------------------------------------------------------
// Semaphore, BoundedSemaphore

Semaphore::Semaphore(int value) {
  if (value < 0) throw std::invalid_argument("semaphore initial value must be >= 0");
  state_ = std::make_shared<detail::SemaphoreState>(value, detail::SemaphoreState::Kind::semaphore);
}

Semaphore::Semaphore(int value, Bounded) {
  if (value < 0) throw std::invalid_argument("semaphore initial value must be >= 0");
  state_ = std::make_shared<detail::SemaphoreState>(value, detail::SemaphoreState::Kind::bounded);
}

Semaphore::~Semaphore() = default;

Future<ReleasingGuard> Semaphore::acquire(std::optional<ioloop::Deadline> timeout) { return state_->acquire(timeout); }

void Semaphore::release() { state_->release(); }

std::string Semaphore::repr() const {
  return state_->repr(state_->kind == detail::SemaphoreState::Kind::semaphore ? "Semaphore" : "BoundedSemaphore");
}

BoundedSemaphore::BoundedSemaphore(int value) : Semaphore(value, Bounded{}) {}

// ---------------------------------------------------------------------------------------------
// Lock

Lock::Lock() : block_(1) {
  // A Lock is a BoundedSemaphore(1) whose over-release is Tornado's RuntimeError, from
  // Lock::release and from a guard alike.
  block_.state_->kind = detail::SemaphoreState::Kind::lock;
}

Lock::~Lock() = default;

Future<ReleasingGuard> Lock::acquire(std::optional<ioloop::Deadline> timeout) { return block_.acquire(timeout); }

void Lock::release() { block_.release(); }

std::string Lock::repr() const { return "<Lock _block=" + block_.state_->repr("BoundedSemaphore") + ">"; }

}  // namespace tornado::locks
