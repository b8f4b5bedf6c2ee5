// tornado.queues: asynchronous queues for coroutines (FIFO, priority, LIFO). Mirrors
// tornado.queues, whose classes are close to asyncio's queues.
//
// Everything here is a template and lives in this interface; it includes no Asio header.
module;
#include <concepts>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
export module tornado.queues;

export import tornado.concurrent;
export import tornado.ioloop;

export namespace tornado::queues {

/// Raised by Queue::get_nowait when the queue has no items. Mirrors tornado.queues.QueueEmpty.
class QueueEmpty : public std::runtime_error {
 public:
  QueueEmpty() : std::runtime_error("QueueEmpty") {}
};

/// Raised by Queue::put_nowait when the queue is at its maximum size.
/// Mirrors tornado.queues.QueueFull.
class QueueFull : public std::runtime_error {
 public:
  QueueFull() : std::runtime_error("QueueFull") {}
};

namespace detail {

/// Fails `future` with TimeoutError at `timeout` (an absolute IOLoop time in seconds, or a
/// duration from now) unless it is done by then; the timer is removed as soon as the future is
/// done. No timeout: nothing happens. Mirrors tornado.queues._set_timeout.
template <class U>
void set_timeout(const Future<U>& future, const std::optional<ioloop::Deadline>& timeout) {
  if (!timeout) return;
  ioloop::IOLoop* io_loop = &ioloop::IOLoop::current();
  // The timer holds a handle to the future (not to the queue), so a queue may be destroyed
  // while its waiters still have timers running.
  ioloop::TimeoutHandle handle = io_loop->add_timeout(*timeout, [future = Future<U>(future)]() mutable {
    if (!future.done()) future.set_exception(TimeoutError());
  });
  future.add_done_callback([io_loop, handle](const Future<U>&) { io_loop->remove_timeout(handle); });
}

/// Whether `std::ostream << const T&` compiles (a queue's str() then lists its items).
template <class T>
concept Printable = requires(std::ostream& os, const T& t) { os << t; };

}  // namespace detail

/// Coordinates producer and consumer coroutines: a FIFO queue whose `put` waits while the queue is
/// full and whose `get` waits while it is empty.
///
/// If `maxsize` is 0 (the default) the queue is unbounded. Waiting getters and waiting putters are
/// each served first come, first served; a put while getters wait hands its item straight to the
/// oldest one. A waiter whose timeout expired is skipped (and dropped, with its item for a putter)
/// the next time the queue is used. `task_done` and `join` track unfinished work: every item put
/// counts as one task until a consumer calls task_done for it.
///
/// Not thread-safe, like Tornado's: use the queue only on its IOLoop's thread (another thread
/// reaches it through IOLoop::add_callback).
///
/// Python's `async for item in q:` (which never ends by itself) is written as a loop over
/// `co_await q.get()`; `break` or `co_return` leave it as they leave Python's loop:
///
/// ```cpp
/// queues::Queue<int> q(2);
///
/// Future<void> consumer() {
///   for (;;) {                               // async for item in q:
///     int item = co_await q.get();
///     std::printf("Doing work on %d\n", item);
///     co_await gen::sleep(0.01);
///     q.task_done();
///   }
/// }
///
/// Future<void> producer() {
///   for (int item = 0; item < 5; ++item) {
///     co_await q.put(item);
///     std::printf("Put %d\n", item);
///   }
/// }
///
/// Future<void> main_coro() {
///   IOLoop::current().spawn_callback(consumer);  // runs until the queue is destroyed
///   co_await producer();                         // wait for the producer to put all tasks
///   co_await q.join();                           // wait for the consumer to finish them
///   std::printf("Done\n");
/// }
/// ```
///
/// Lifetimes: the queue holds the futures of its waiting getters and putters. A coroutine
/// suspended in `co_await q.get()` or `co_await q.put(x)` (on the returned temporary) while the
/// queue is destroyed is itself destroyed, and its own future cancelled (see
/// docs/concurrency.md); one waiting with a timeout is kept by its timer instead, and gets
/// TimeoutError at the deadline. Callbacks and coroutines that use a queue must not outlive it.
///
/// Subclasses change the order items come out in by overriding `_put` and `_get`, as in Tornado
/// (PriorityQueue, LifoQueue). Mirrors tornado.queues.Queue.
template <class T>
class Queue {
  static_assert(!std::is_void_v<T> && !std::is_reference_v<T>, "Queue<T> holds values");

 public:
  using value_type = T;

  /// @param maxsize  number of items allowed in the queue; 0: unbounded.
  /// @throws std::invalid_argument ("maxsize can't be negative") if maxsize < 0, as Tornado
  ///         raises ValueError.
  explicit Queue(int maxsize = 0) : maxsize_(maxsize) {
    if (maxsize < 0) throw std::invalid_argument("maxsize can't be negative");
  }
  virtual ~Queue() = default;
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  /// Number of items allowed in the queue (0: unbounded). Mirrors Queue.maxsize.
  int maxsize() const noexcept { return maxsize_; }
  /// Number of items in the queue. Mirrors Queue.qsize.
  std::size_t qsize() const noexcept { return _queue.size(); }
  /// Whether the queue holds no items. Mirrors Queue.empty.
  bool empty() const noexcept { return _queue.empty(); }
  /// Whether the queue holds maxsize() items (never, when unbounded). Mirrors Queue.full.
  bool full() const noexcept {
    return maxsize_ != 0 && qsize() >= static_cast<std::size_t>(maxsize_);
  }

  /// Puts `item` into the queue, waiting for room if it is full.
  ///
  /// @param timeout  when to give up: an absolute IOLoop::time() in seconds or a std::chrono
  ///                 duration from now; nullopt waits forever. Given up, the item is never put.
  /// @returns a future that completes once the item is in the queue (already done if there was
  ///          room), or fails with TimeoutError.
  /// Mirrors tornado.queues.Queue.put.
  Future<void> put(T item, std::optional<ioloop::Deadline> timeout = std::nullopt) {
    Future<void> future;
    if (try_put_nowait(item)) {
      future.set_result();
    } else {
      putters_.emplace_back(std::move(item), future);
      detail::set_timeout(future, timeout);
    }
    return future;
  }

  /// Puts `item` into the queue without waiting; if a getter is waiting, it receives the item
  /// (its coroutine resumes on a later IOLoop iteration).
  /// @throws QueueFull if there is no free slot. Mirrors tornado.queues.Queue.put_nowait.
  void put_nowait(T item) {
    if (!try_put_nowait(item)) throw QueueFull();
  }

  /// Removes and returns an item, waiting for one if the queue is empty.
  ///
  /// @param timeout  when to give up: an absolute IOLoop::time() in seconds (not a delay, unlike
  ///                 the standard library's queue.Queue.get) or a std::chrono duration from
  ///                 now; nullopt waits forever.
  /// @returns a future for the item (already done if one was available), or that fails with
  ///          TimeoutError. An item handed to a getter is removed from the queue even if nobody
  ///          awaits the future.
  /// Mirrors tornado.queues.Queue.get.
  Future<T> get(std::optional<ioloop::Deadline> timeout = std::nullopt) {
    Future<T> future;
    if (std::optional<T> item = try_get_nowait()) {
      future.set_result(std::move(*item));
    } else {
      getters_.push_back(future);
      detail::set_timeout(future, timeout);
    }
    return future;
  }

  /// Removes and returns an item without waiting; if a putter is waiting, its item takes the
  /// freed slot and its future completes.
  /// @throws QueueEmpty if no item is available. Mirrors tornado.queues.Queue.get_nowait.
  T get_nowait() {
    std::optional<T> item = try_get_nowait();
    if (!item) throw QueueEmpty();
    return std::move(*item);
  }

  /// Tells the queue that one formerly enqueued task is complete: consumers call it once for
  /// each item they got. When every put is matched by a task_done, join() futures complete.
  /// @throws std::invalid_argument ("task_done() called too many times") if called more times
  ///         than items were put, as Tornado raises ValueError. Mirrors Queue.task_done.
  void task_done() {
    if (unfinished_tasks_ == 0) throw std::invalid_argument("task_done() called too many times");
    if (--unfinished_tasks_ == 0) {
      // Event.set(): wake everyone waiting now; a join() made after the next put waits again.
      std::vector<Future<void>> waiters = std::move(join_waiters_);
      join_waiters_.clear();
      for (auto& waiter : waiters) {
        if (!waiter.done()) waiter.set_result();
      }
    }
  }

  /// Waits until every item put so far has been processed (matched by a task_done).
  ///
  /// @param timeout  when to give up: an absolute IOLoop::time() in seconds or a std::chrono
  ///                 duration from now; nullopt waits forever.
  /// @returns a future that completes when no task is unfinished (already done if none is), or
  ///          fails with TimeoutError. Mirrors tornado.queues.Queue.join.
  Future<void> join(std::optional<ioloop::Deadline> timeout = std::nullopt) {
    Future<void> future;
    if (unfinished_tasks_ == 0) {
      future.set_result();
      return future;
    }
    // Forget joins that already timed out, so that repeated timed joins do not pile up.
    std::erase_if(join_waiters_, [](const Future<void>& f) { return f.done(); });
    join_waiters_.push_back(future);
    detail::set_timeout(future, timeout);
    return future;
  }

  /// A description for logs and debugging, without the address: `<Queue maxsize=1 getters[1]>`,
  /// listing the items (`queue=[1, 2]`) when T can be written to a std::ostream, and the number
  /// of waiting getters, waiting putters (timed-out ones not yet dropped included) and
  /// unfinished tasks when not zero. Mirrors Queue.__str__.
  std::string str() const { return "<" + std::string(type_name()) + " " + format() + ">"; }
  /// As str(), with the queue's address: `<Queue at 0x7ffd... maxsize=1>`. Mirrors Queue.__repr__.
  std::string repr() const {
    std::ostringstream out;
    out << "<" << type_name() << " at " << static_cast<const void*>(this) << " " << format() << ">";
    return std::move(out).str();
  }
  /// Writes `q.str()`.
  friend std::ostream& operator<<(std::ostream& os, const Queue& q) { return os << q.str(); }

 protected:
  /// The class name str() and repr() show; subclasses return theirs (Python's type(self).__name__).
  virtual std::string_view type_name() const { return "Queue"; }

  /// Stores an item (it is counted as a task already). Overridable, as Tornado's Queue._put.
  virtual void _put(T item) { _queue.push_back(std::move(item)); }
  /// Takes the next item out; called only when `_queue` is not empty. Overridable, as
  /// Tornado's Queue._get.
  virtual T _get() {
    T item = std::move(_queue.front());
    _queue.pop_front();
    return item;
  }

  /// The items, in the order `_put` and `_get` keep them. Tornado's Queue._queue.
  std::deque<T> _queue;

 private:
  // put_nowait without the exception: on false (the queue is full) `item` is left untouched.
  bool try_put_nowait(T& item) {
    consume_expired();
    if (!getters_.empty()) {
      // Getters only wait on an empty queue; the item goes through the queue (and its subclass
      // order) to the oldest getter still waiting.
      Future<T> getter = std::move(getters_.front());
      getters_.pop_front();
      put_internal(std::move(item));
      future_set_result_unless_cancelled(getter, _get());
      return true;
    }
    if (full()) return false;
    put_internal(std::move(item));
    return true;
  }

  // get_nowait without the exception: nullopt when there is no item.
  std::optional<T> try_get_nowait() {
    consume_expired();
    if (!putters_.empty()) {
      // Putters only wait on a full queue: the oldest one's item takes the slot being freed.
      auto [item, putter] = std::move(putters_.front());
      putters_.pop_front();
      put_internal(std::move(item));
      future_set_result_unless_cancelled(putter);
      return std::optional<T>(_get());
    }
    if (!_queue.empty()) return std::optional<T>(_get());
    return std::nullopt;
  }

  void put_internal(T item) {
    ++unfinished_tasks_;
    _put(std::move(item));
  }

  // Drops the waiters at the front that are done (timed out or cancelled). Ones behind a live
  // waiter stay until they reach the front, as in Tornado.
  void consume_expired() {
    while (!putters_.empty() && putters_.front().second.done()) putters_.pop_front();
    while (!getters_.empty() && getters_.front().done()) getters_.pop_front();
  }

  std::string format() const {
    std::ostringstream out;
    out << "maxsize=" << maxsize_;
    if (!_queue.empty()) {
      out << " queue=";
      if constexpr (detail::Printable<T>) {
        out << '[';
        const char* sep = "";
        for (const T& item : _queue) {
          out << sep << item;
          sep = ", ";
        }
        out << ']';
      } else {
        out << '<' << _queue.size() << " items>";
      }
    }
    if (!getters_.empty()) out << " getters[" << getters_.size() << "]";
    if (!putters_.empty()) out << " putters[" << putters_.size() << "]";
    if (unfinished_tasks_ != 0) out << " tasks=" << unfinished_tasks_;
    return std::move(out).str();
  }

  int maxsize_;
  std::deque<Future<T>> getters_;
  std::deque<std::pair<T, Future<void>>> putters_;
  std::size_t unfinished_tasks_ = 0;
  std::vector<Future<void>> join_waiters_;  // futures of join() calls, while tasks are unfinished
};

namespace detail {

// Python's heapq, step for step (heappush = append + siftdown, heappop = siftup of the last
// item), so that equal-priority items come out in the same order as in Tornado.
template <class T, class Compare>
void heap_siftdown(std::deque<T>& heap, std::size_t startpos, std::size_t pos, Compare& less) {
  T newitem = std::move(heap[pos]);
  while (pos > startpos) {
    std::size_t parentpos = (pos - 1) >> 1;
    if (!std::invoke(less, newitem, heap[parentpos])) break;
    heap[pos] = std::move(heap[parentpos]);
    pos = parentpos;
  }
  heap[pos] = std::move(newitem);
}

template <class T, class Compare>
void heap_siftup(std::deque<T>& heap, std::size_t pos, Compare& less) {
  std::size_t endpos = heap.size();
  std::size_t startpos = pos;
  T newitem = std::move(heap[pos]);
  std::size_t childpos = 2 * pos + 1;
  while (childpos < endpos) {
    std::size_t rightpos = childpos + 1;
    if (rightpos < endpos && !std::invoke(less, heap[childpos], heap[rightpos])) childpos = rightpos;
    heap[pos] = std::move(heap[childpos]);
    pos = childpos;
    childpos = 2 * pos + 1;
  }
  heap[pos] = std::move(newitem);
  heap_siftdown(heap, startpos, pos, less);
}

}  // namespace detail

/// A Queue that hands out items in priority order, lowest first (as Python's heapq), by
/// `Compare` (default `std::less<T>`: `a < b`). Items are typically pairs such as
/// `std::pair<int, std::string>{priority, data}`.
///
/// ```cpp
/// queues::PriorityQueue<std::pair<int, std::string>> q;
/// q.put({1, "medium-priority item"});
/// q.put({0, "high-priority item"});
/// q.put({10, "low-priority item"});
/// co_await q.get();  // {0, "high-priority item"}, then 1, then 10
/// ```
/// Mirrors tornado.queues.PriorityQueue.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public Queue<T> {
 public:
  /// @param maxsize  number of items allowed; 0: unbounded.
  /// @param compare  strict weak order: `compare(a, b)` is true when `a` comes out before `b`.
  /// @throws std::invalid_argument if maxsize < 0.
  explicit PriorityQueue(int maxsize = 0, Compare compare = Compare())
      : Queue<T>(maxsize), compare_(std::move(compare)) {}

 protected:
  std::string_view type_name() const override { return "PriorityQueue"; }
  void _put(T item) override {
    this->_queue.push_back(std::move(item));
    detail::heap_siftdown(this->_queue, 0, this->_queue.size() - 1, compare_);
  }
  T _get() override {
    auto& heap = this->_queue;
    T last = std::move(heap.back());
    heap.pop_back();
    if (heap.empty()) return last;
    T item = std::move(heap.front());
    heap.front() = std::move(last);
    detail::heap_siftup(heap, 0, compare_);
    return item;
  }

 private:
  Compare compare_;
};

/// A Queue that hands out the most recently put item first.
///
/// ```cpp
/// queues::LifoQueue<int> q;
/// q.put(3); q.put(2); q.put(1);
/// co_await q.get();  // 1, then 2, then 3
/// ```
/// Mirrors tornado.queues.LifoQueue.
template <class T>
class LifoQueue : public Queue<T> {
 public:
  /// @param maxsize  number of items allowed; 0: unbounded. @throws std::invalid_argument if < 0.
  explicit LifoQueue(int maxsize = 0) : Queue<T>(maxsize) {}

 protected:
  std::string_view type_name() const override { return "LifoQueue"; }
  T _get() override {
    T item = std::move(this->_queue.back());
    this->_queue.pop_back();
    return item;
  }
};

}  // namespace tornado::queues
