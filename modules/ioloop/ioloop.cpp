module;
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>
module tornado.ioloop;

import tornado.backend;
import tornado.concurrent;
import tornado.log;
import tornado.util;

namespace tornado::ioloop {

namespace {
using Clock = std::chrono::steady_clock;
thread_local IOLoop* tls_current = nullptr;
// The loop whose start() is running on this thread. Only that loop's own callbacks may take the
// lock-free path of add_callback: a loop can be current on a thread (it was made there) while
// another thread runs it.
thread_local IOLoop* tls_running = nullptr;
thread_local std::unique_ptr<IOLoop> tls_owned;  // the loop current() made for this thread

void run_logged(util::Callback& cb) noexcept {
  try {
    cb();
  } catch (...) {
    tornado::detail::log_callback_exception(std::current_exception());
  }
}
}  // namespace

double monotonic_time() noexcept {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

struct IOLoop::Impl {
  backend::DefaultPoller poller;
  std::vector<backend::Event> events;

  // Callbacks to run on the next iteration. Swapped with `running` at the start of each run, so
  // callbacks added while running wait for the next iteration (as asyncio's call_soon).
  std::vector<util::Callback> ready;
  std::vector<util::Callback> running;

  // Callbacks from other threads.
  std::mutex cross_mutex;
  std::vector<util::Callback> cross;
  std::vector<util::Callback> cross_taken;
  bool cross_closed = false;  // guarded by cross_mutex
  // Set (under cross_mutex) when `cross` becomes non-empty, so that the loop's thread can see an
  // empty queue without taking the lock on every iteration. A callback added just after the check
  // is not lost: its wake() makes the next poll return.
  std::atomic<bool> cross_pending{false};

  // Timers: a slot per live timer (so a handle finds it in O(1)), and a binary min-heap of
  // (deadline, sequence) that may hold stale entries for removed timers, skipped when popped and
  // swept when they outnumber the live ones.
  struct Slot {
    util::Callback cb;
    std::uint32_t gen = 0;
    bool live = false;
    // Popped from the heap and queued to run this iteration: the callback stays here until it
    // runs, so that remove_timeout can still cancel it (a timer removing another one due in the
    // same iteration, as Tornado's test_remove_timeout_from_timeout does).
    bool due = false;
  };
  struct HeapEntry {
    double deadline;
    std::uint64_t seq;
    std::uint32_t slot;
    std::uint32_t gen;
    bool operator>(const HeapEntry& o) const noexcept {
      return deadline != o.deadline ? deadline > o.deadline : seq > o.seq;
    }
  };
  std::vector<Slot> slots;
  std::vector<std::uint32_t> free_slots;
  std::vector<HeapEntry> heap;
  std::uint64_t timer_seq = 0;
  std::size_t cancelled = 0;

  // Handlers by descriptor. A removed handler is parked in `graveyard` until the end of the
  // iteration, since it may be the one running.
  struct HandlerEntry {
    Handler handler;
    std::uint32_t events;
  };
  std::vector<std::unique_ptr<HandlerEntry>> handlers;
  std::vector<std::unique_ptr<HandlerEntry>> graveyard;
  std::vector<std::unique_ptr<HandlerEntry>> burying;
  std::size_t handler_count = 0;

  bool running_flag = false;
  bool stopping = false;
  bool closed = false;
  std::shared_ptr<Executor> executor;
  tornado::detail::Scheduler* previous_scheduler = nullptr;
  IOLoop* previous_current = nullptr;

  HandlerEntry* find_handler(int fd) {
    if (fd < 0 || static_cast<std::size_t>(fd) >= handlers.size()) return nullptr;
    return handlers[fd].get();
  }

  bool stale(const HeapEntry& e) const noexcept {
    const Slot& s = slots[e.slot];
    return !s.live || s.gen != e.gen;
  }

  // Drops removed timers from the top of the heap, so that the poll timeout is the next live
  // timer's, not a removed one's.
  void prune_front() {
    while (!heap.empty() && stale(heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
      heap.pop_back();
      --cancelled;
    }
  }

  void pop_due_timers(double now) {
    while (!heap.empty() && heap.front().deadline <= now) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
      HeapEntry e = heap.back();
      heap.pop_back();
      if (stale(e)) {
        --cancelled;
        continue;
      }
      slots[e.slot].due = true;
      ready.push_back([this, slot = e.slot, gen = e.gen] { run_timer(slot, gen); });
    }
  }

  void run_timer(std::uint32_t slot, std::uint32_t gen) {
    if (slot >= slots.size()) return;
    Slot& s = slots[slot];
    if (!s.live || s.gen != gen) return;  // removed after it came due
    util::Callback cb = std::move(s.cb);
    // Freed before it runs: remove_timeout on its own handle is then a no-op, and the callback
    // may add timers (which may reuse the slot).
    free_slot(slot);
    cb();
  }

  void free_slot(std::uint32_t i) {
    Slot& s = slots[i];
    s.cb = nullptr;
    s.live = false;
    s.due = false;
    if (++s.gen == 0) s.gen = 1;
    free_slots.push_back(i);
  }

  // Destroys removed handlers. A handler's destructor may remove another handler (and so add to
  // the graveyard): never clear the vector being appended to.
  void bury() {
    while (!graveyard.empty()) {
      burying.swap(graveyard);
      burying.clear();
    }
  }

  void sweep_cancelled() {
    // Tornado's PollIOLoop did the same: rebuild the heap once removed timers dominate it.
    if (cancelled > 512 && cancelled > heap.size() / 2) {
      std::erase_if(heap, [this](const HeapEntry& e) { return stale(e); });
      std::make_heap(heap.begin(), heap.end(), std::greater<>{});
      cancelled = 0;
    }
  }

  bool take_cross() {
    if (!cross_pending.load(std::memory_order_acquire)) return false;
    {
      std::lock_guard lock(cross_mutex);
      cross_pending.store(false, std::memory_order_relaxed);
      if (cross.empty()) return false;
      cross_taken.swap(cross);
    }
    for (auto& cb : cross_taken) ready.push_back(std::move(cb));
    cross_taken.clear();
    return true;
  }

  // `now` is read from the clock only when a timer decides the timeout (reading it costs as much
  // as the rest of an idle iteration); the time read, if any, is left in `*now`.
  int poll_timeout_ms(std::optional<double>& now) {
    if (!ready.empty() || stopping) return 0;
    if (cross_pending.load(std::memory_order_acquire)) return 0;
    prune_front();
    if (heap.empty()) return -1;
    now = monotonic_time();
    double wait = heap.front().deadline - *now;
    if (!(wait > 0)) return 0;
    // Round up: waking a hair early would only spin another iteration. Clamped before the
    // conversion, which would overflow (undefined) for a deadline days away or infinite.
    double ms = std::ceil(wait * 1000.0);
    return ms >= 2147483647.0 ? 2147483647 : static_cast<int>(ms);
  }
};

IOLoop::IOLoop(std::optional<bool> make_current) : impl_(std::make_unique<Impl>()) {
  if (!make_current) {
    if (!tls_current) this->make_current();
  } else if (*make_current) {
    if (tls_current && tls_current != this) throw std::runtime_error("current IOLoop already exists");
    this->make_current();
  }
}

IOLoop::~IOLoop() {
  if (!impl_->closed) close(false);
  // make_current() after close() would otherwise leave the thread pointing at a dead loop.
  if (tls_current == this) clear_current();
}

IOLoop& IOLoop::current() { return *current(true); }

IOLoop* IOLoop::current(bool instance) {
  if (!tls_current && instance) {
    // Reuse the loop made earlier for this thread (clear_current() since) rather than replace
    // it: replacing would destroy a loop that callers may still hold references to.
    if (tls_owned && !tls_owned->closed()) tls_owned->make_current();
    else tls_owned = std::make_unique<IOLoop>(true);
  }
  return tls_current;
}

void IOLoop::make_current() {
  tls_current = this;
  tornado::detail::set_current_scheduler(this);
}

void IOLoop::clear_current() {
  tls_current = nullptr;
  tornado::detail::set_current_scheduler(nullptr);
}

std::string_view IOLoop::backend_name() noexcept { return backend::DefaultPoller::name; }

bool IOLoop::is_running() const noexcept { return impl_->running_flag; }
bool IOLoop::closed() const noexcept { return impl_->closed; }

void IOLoop::stop() { impl_->stopping = true; }

void IOLoop::start() {
  Impl& m = *impl_;
  if (m.closed) throw std::logic_error("IOLoop is closed");
  if (m.running_flag) throw std::logic_error("IOLoop is already running");
  m.running_flag = true;
  IOLoop* prev_current = tls_current;
  IOLoop* prev_running = tls_running;
  tornado::detail::Scheduler* prev_sched = tornado::detail::set_current_scheduler(this);
  tls_current = this;
  tls_running = this;
  struct Restore {
    Impl& m;
    IOLoop* cur;
    IOLoop* running;
    tornado::detail::Scheduler* sched;
    ~Restore() {
      m.running_flag = false;
      m.stopping = false;
      tls_current = cur;
      tls_running = running;
      tornado::detail::set_current_scheduler(sched);
    }
  } restore{m, prev_current, prev_running, prev_sched};

  for (;;) {
    bool stop_now = m.stopping;
    std::optional<double> now;
    int timeout = m.poll_timeout_ms(now);
    // With no descriptor to watch and work already queued, a zero-timeout poll would only cost a
    // system call per iteration: the cross-thread queue is read below without it.
    if (m.handler_count > 0 || timeout != 0) {
      m.poller.poll(timeout, m.events);
      now.reset();  // the poll may have waited
    } else {
      m.events.clear();
    }
    for (const auto& ev : m.events) {
      auto* h = m.find_handler(ev.fd);
      if (!h) continue;
      std::uint32_t mask = ev.events & (h->events | ERROR);
      if (!mask) continue;
      try {
        h->handler(ev.fd, mask);
      } catch (...) {
        tornado::detail::log_callback_exception(std::current_exception());
      }
    }
    m.bury();
    m.take_cross();
    // When no poll ran (so no handler either), the time read for the timeout is still current.
    if (!m.heap.empty()) m.pop_due_timers(now ? *now : monotonic_time());
    m.sweep_cancelled();

    m.running.swap(m.ready);
    for (auto& cb : m.running) run_logged(cb);
    m.running.clear();
    m.bury();
    if (stop_now || m.stopping) break;
  }
}

void IOLoop::close(bool all_fds) {
  Impl& m = *impl_;
  if (m.closed) return;
  if (m.running_flag) throw std::logic_error("close() of a running IOLoop");
  m.closed = true;
  // The default executor's last tasks finish first, so that their completions are queued (and
  // dropped below, on this thread, which releases their futures) rather than refused.
  if (m.executor) {
    auto ex = std::move(m.executor);
    if (auto* pool = dynamic_cast<ThreadPoolExecutor*>(ex.get())) pool->shutdown();
  }
  {
    std::lock_guard lock(m.cross_mutex);
    m.cross_closed = true;
  }
  for (std::size_t fd = 0; fd < m.handlers.size(); ++fd) {
    if (!m.handlers[fd]) continue;
    m.poller.remove(static_cast<int>(fd));
    m.graveyard.push_back(std::move(m.handlers[fd]));
    if (all_fds) ::close(static_cast<int>(fd));
  }
  m.handler_count = 0;
  // Dropping callbacks can schedule more (a destroyed coroutine cancels its future, whose
  // waiters are scheduled here): drain until nothing is left. While draining this loop stays the
  // scheduler, so nothing escapes to run inline.
  tornado::detail::Scheduler* prev = tornado::detail::set_current_scheduler(this);
  for (int rounds = 0; rounds < 1000; ++rounds) {
    std::vector<util::Callback> dropped;
    dropped.swap(m.ready);
    for (auto& s : m.slots) {
      if (s.live) dropped.push_back(std::move(s.cb));
      s.live = false;
    }
    m.take_cross();
    std::vector<util::Callback> more;
    more.swap(m.ready);
    for (auto& cb : more) dropped.push_back(std::move(cb));
    {
      std::lock_guard lock(m.cross_mutex);
      for (auto& cb : m.cross) dropped.push_back(std::move(cb));
      m.cross.clear();
    }
    bool buried = !m.graveyard.empty();
    m.bury();
    if (dropped.empty() && !buried) break;
    // Destroyed outside any lock: a destructor may call add_callback (dropped now) or
    // remove_timeout on this loop.
    dropped.clear();
  }
  m.heap.clear();
  m.slots.clear();
  m.free_slots.clear();
  m.cancelled = 0;
  tornado::detail::set_current_scheduler(prev == this ? nullptr : prev);
  if (tls_current == this) clear_current();
}

void IOLoop::add_handler(int fd, Handler handler, std::uint32_t events) {
  Impl& m = *impl_;
  if (fd < 0) throw std::invalid_argument("add_handler: negative file descriptor");
  if (m.closed) throw std::logic_error("add_handler: IOLoop is closed");
  if (static_cast<std::size_t>(fd) >= m.handlers.size()) m.handlers.resize(static_cast<std::size_t>(fd) + 1);
  if (m.handlers[fd]) throw std::logic_error("add_handler: fd " + std::to_string(fd) + " already registered");
  m.poller.add(fd, events);
  m.handlers[fd] = std::make_unique<Impl::HandlerEntry>(Impl::HandlerEntry{std::move(handler), events});
  ++m.handler_count;
}

void IOLoop::update_handler(int fd, std::uint32_t events) {
  Impl& m = *impl_;
  auto* h = m.find_handler(fd);
  if (!h) return;
  m.poller.modify(fd, events);
  h->events = events;
}

void IOLoop::remove_handler(int fd) {
  Impl& m = *impl_;
  if (!m.find_handler(fd)) return;
  m.poller.remove(fd);
  m.graveyard.push_back(std::move(m.handlers[fd]));
  --m.handler_count;
}

TimeoutHandle IOLoop::add_timeout(Deadline deadline, util::Callback callback) {
  Impl& m = *impl_;
  // NaN compares false with everything and would break the heap's ordering.
  if (std::isnan(deadline.when())) throw std::invalid_argument("add_timeout: the deadline is NaN");
  // A closed loop never runs it; keeping it would only hold its captures until destruction.
  if (m.closed) return {};
  std::uint32_t i;
  if (!m.free_slots.empty()) {
    i = m.free_slots.back();
    m.free_slots.pop_back();
  } else {
    i = static_cast<std::uint32_t>(m.slots.size());
    m.slots.emplace_back();
    m.slots.back().gen = 1;
  }
  auto& s = m.slots[i];
  s.cb = std::move(callback);
  s.live = true;
  m.heap.push_back(Impl::HeapEntry{deadline.when(), m.timer_seq++, i, s.gen});
  std::push_heap(m.heap.begin(), m.heap.end(), std::greater<>{});
  return TimeoutHandle(i, s.gen);
}

TimeoutHandle IOLoop::call_later(double delay, util::Callback callback) {
  return add_timeout(Deadline(time() + delay), std::move(callback));
}

TimeoutHandle IOLoop::call_at(double when, util::Callback callback) {
  return add_timeout(Deadline(when), std::move(callback));
}

void IOLoop::remove_timeout(TimeoutHandle handle) noexcept {
  Impl& m = *impl_;
  if (!handle || handle.slot_ >= m.slots.size()) return;
  auto& s = m.slots[handle.slot_];
  if (!s.live || s.gen != handle.gen_) return;
  // Destroying the callback may run arbitrary code; move it out of the slot first.
  util::Callback dead = std::move(s.cb);
  // A due timer's heap entry is already gone: nothing stale is left to count.
  if (!s.due) ++m.cancelled;
  m.free_slot(handle.slot_);
}

void IOLoop::add_callback(util::Callback callback) {
  // Only the loop's own running thread may touch `ready`; everyone else (other threads, and this
  // thread before start()) goes through the locked queue, which the next iteration drains.
  if (tls_running == this) {
    impl_->ready.push_back(std::move(callback));
    return;
  }
  call_soon_threadsafe(std::move(callback));
}

void IOLoop::call_soon(util::Callback cb) { add_callback(std::move(cb)); }

void IOLoop::call_soon_threadsafe(util::Callback cb) {
  Impl& m = *impl_;
  std::lock_guard lock(m.cross_mutex);
  // Dropped, as Tornado drops callbacks added to a closed loop; `cb` is destroyed after the
  // lock is released (it is a parameter), so its destructor may call add_callback again.
  if (m.cross_closed) return;
  m.cross.push_back(std::move(cb));
  m.cross_pending.store(true, std::memory_order_release);
  // Woken under the lock: once close() has taken the lock and marked the queue closed, no
  // other thread is still about to touch the poller, so the loop may then be destroyed.
  m.poller.wake();
}

void IOLoop::set_default_executor(std::shared_ptr<Executor> executor) { impl_->executor = std::move(executor); }

Executor& IOLoop::default_executor() {
  if (!impl_->executor) impl_->executor = std::make_shared<ThreadPoolExecutor>();
  return *impl_->executor;
}

// ---------------------------------------------------------------------------------------------
// PeriodicCallback

double detail::periodic_next_timeout(double next_timeout, double now, double callback_time_ms, double jitter,
                                     double random01) noexcept {
  double interval = callback_time_ms / 1000.0;
  if (jitter != 0) interval *= 1 + jitter * (random01 - 0.5);
  if (next_timeout <= now) {
    // Measured from the start of one run to the start of the next; if a run took too long,
    // skip whole intervals to get back onto the schedule rather than firing back to back.
    return next_timeout + (std::floor((now - next_timeout) / interval) + 1) * interval;
  }
  // The clock moved backwards: still advance, rather than computing the same time again.
  return next_timeout + interval;
}

struct PeriodicCallback::Impl : std::enable_shared_from_this<PeriodicCallback::Impl> {
  Function callback;
  double callback_time_ms;
  double jitter;
  bool running = false;
  IOLoop* loop = nullptr;
  double next_timeout = 0;
  TimeoutHandle timeout;         // set while a timer is scheduled on `loop`
  std::uint64_t generation = 0;  // bumped by stop(): a run from an earlier start() is stale

  // The scheduled timer. If the loop drops it unrun because it was closed, the loop may be
  // destroyed next: forget it, so that stop() (from ~PeriodicCallback, say) does not touch it.
  struct Timer {
    std::shared_ptr<Impl> self;
    std::uint64_t gen;
    Timer(std::shared_ptr<Impl> s, std::uint64_t g) noexcept : self(std::move(s)), gen(g) {}
    Timer(Timer&&) noexcept = default;
    Timer& operator=(Timer&&) = delete;
    ~Timer() {
      if (self && gen == self->generation) {
        self->timeout = {};
        self->loop = nullptr;
      }
    }
    void operator()() {
      // Holds the state while it runs: the callback may destroy its PeriodicCallback.
      auto s = std::move(self);
      s->timeout = {};
      s->run(gen);
    }
  };

  void update_next(double now) {
    double r = 0.5;
    if (jitter != 0) {
      static thread_local std::mt19937_64 rng{std::random_device{}()};
      r = std::uniform_real_distribution<double>(0, 1)(rng);
    }
    next_timeout = detail::periodic_next_timeout(next_timeout, now, callback_time_ms, jitter, r);
  }

  void schedule_next() {
    if (!running || !loop) return;
    update_next(loop->time());
    timeout = loop->call_at(next_timeout, Timer(shared_from_this(), generation));
  }

  void run(std::uint64_t gen) {
    if (!running || gen != generation) return;
    std::optional<Future<void>> pending;
    try {
      pending = callback();
    } catch (...) {
      log::app_log().exception("Exception in callback of PeriodicCallback");
    }
    if (pending && !pending->done()) {
      pending->add_done_callback([self = shared_from_this(), gen](const Future<void>& f) {
        self->finish_run(f, gen);
      });
      return;
    }
    if (pending) finish_run(*pending, gen);
    else if (gen == generation) schedule_next();
  }

  void finish_run(const Future<void>& f, std::uint64_t gen) {
    if (auto e = f.cancelled() ? nullptr : f.exception()) {
      log::app_log().log_exception(log::Level::ERROR, e, "Exception in callback of PeriodicCallback");
    }
    if (gen == generation) schedule_next();
  }
};

PeriodicCallback::PeriodicCallback(Function f, double callback_time, double jitter, int)
    : impl_(std::make_shared<Impl>()) {
  if (!(callback_time > 0)) throw std::invalid_argument("Periodic callback must have a positive callback_time");
  impl_->callback = std::move(f);
  impl_->callback_time_ms = callback_time;
  impl_->jitter = jitter;
}

PeriodicCallback::~PeriodicCallback() { stop(); }

void PeriodicCallback::start() {
  Impl& m = *impl_;
  // Running but with no loop: the loop it ran on was closed; start again on the current one.
  if (m.running && m.loop) return;
  m.loop = &IOLoop::current();
  m.running = true;
  m.next_timeout = m.loop->time();
  m.schedule_next();
}

void PeriodicCallback::stop() {
  Impl& m = *impl_;
  if (!m.running) return;
  m.running = false;
  ++m.generation;
  // Only while a timer is scheduled is the loop known to be alive (see Impl::Timer).
  if (m.timeout) m.loop->remove_timeout(std::exchange(m.timeout, {}));
}

bool PeriodicCallback::is_running() const noexcept { return impl_->running; }
double PeriodicCallback::callback_time() const noexcept { return impl_->callback_time_ms; }
double PeriodicCallback::jitter() const noexcept { return impl_->jitter; }

}  // namespace tornado::ioloop
