module;
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
module tornado.concurrent;

import tornado.util;
import tornado.log;

namespace tornado {
namespace detail {

namespace {

#if defined(__SANITIZE_ADDRESS__)
#define TORNADO_RECYCLE_STATES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TORNADO_RECYCLE_STATES 0
#endif
#endif
#ifndef TORNADO_RECYCLE_STATES
#define TORNADO_RECYCLE_STATES 1  // off under AddressSanitizer, which must see every free
#endif

// Freed future states and coroutine frames, kept per thread by size for the next block of that
// size: a future is created and dropped for nearly every asynchronous step, a coroutine frame for
// nearly every call of a coroutine (a server makes several per request), and malloc's own path
// costs several times this one (glibc's per-thread cache holds only 7 blocks of a size, after
// which frees take its slow path). Blocks are plain ::operator new memory, so one freed on another
// thread simply joins that thread's cache. Trivially destructible, so that it stays usable while
// other thread_local objects are destroyed; BlockCacheDrain empties it when the thread ends.
struct BlockCache {
  // Sizes up to 256 bytes in steps of 16 (future states, small frames), then up to 4 KiB in steps
  // of 128 (most coroutine frames).
  static constexpr std::size_t kSmallGranule = 16;
  static constexpr std::size_t kSmallLimit = 256;
  static constexpr std::size_t kLargeGranule = 128;
  static constexpr std::size_t kLargeLimit = 4096;
  static constexpr std::size_t kSmallClasses = kSmallLimit / kSmallGranule;
  static constexpr std::size_t kClasses = kSmallClasses + (kLargeLimit - kSmallLimit) / kLargeGranule;
  // What a thread keeps, in bytes, whatever the sizes: a server answering a burst of requests
  // frees the blocks of all of them in one loop iteration and takes them again in the next (one
  // frame, one request, one handler per connection), so a cache must hold a whole burst (hundreds
  // of blocks of one size) to be of use under load. Beyond this many bytes, blocks go back to
  // malloc.
  static constexpr std::size_t kMaxCachedBytes = 2 * 1024 * 1024;
  struct Node {
    Node* next;
  };
  Node* head[kClasses];
  std::uint32_t count[kClasses];
  std::size_t cached_bytes;
  bool draining;
  // BlockCacheDrain is armed: touching it (a thread_local with a destructor) goes through the
  // TLS initialization check, which this flag, in the trivially constructed cache, spares.
  bool drain_armed;

  static constexpr bool cached(std::size_t size) noexcept { return size <= kLargeLimit; }
  static constexpr std::size_t size_class(std::size_t size) noexcept {
    return size <= kSmallLimit ? (size + kSmallGranule - 1) / kSmallGranule - 1
                               : kSmallClasses + (size - kSmallLimit + kLargeGranule - 1) / kLargeGranule - 1;
  }
  static constexpr std::size_t class_size(std::size_t c) noexcept {
    return c < kSmallClasses ? (c + 1) * kSmallGranule : kSmallLimit + (c - kSmallClasses + 1) * kLargeGranule;
  }
  static constexpr std::size_t block_size(std::size_t size) noexcept {
    return cached(size) ? class_size(size_class(size)) : size;
  }
  void drain() noexcept {
    draining = true;
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (Node* n = head[c]) {
        head[c] = n->next;
        ::operator delete(static_cast<void*>(n), class_size(c));
      }
      count[c] = 0;
      cached_bytes = 0;
    }
  }
};
static_assert(BlockCache::size_class(1) == 0 && BlockCache::size_class(256) == 15);
static_assert(BlockCache::size_class(257) == 16 && BlockCache::class_size(16) == 384);
static_assert(BlockCache::size_class(4096) == BlockCache::kClasses - 1 && BlockCache::class_size(BlockCache::kClasses - 1) == 4096);
constinit thread_local BlockCache tls_blocks{};

struct BlockCacheDrain {
  bool armed = false;
  ~BlockCacheDrain() {
    if (armed) tls_blocks.drain();
  }
};
thread_local BlockCacheDrain tls_blocks_drain;
thread_local Scheduler* tls_scheduler = nullptr;

// Resumes a coroutine when run; destroys it if dropped unrun (its loop closed first), so that a
// coroutine waiting at shutdown is cleaned up rather than leaked. Holds a reference to the state
// it waited on, which await_resume reads.
class ResumeTask {
 public:
  ResumeTask(StateBase* s, std::coroutine_handle<> h) noexcept : s_(s), h_(h) { s_->add_ref(); }
  ResumeTask(ResumeTask&& o) noexcept : s_(std::exchange(o.s_, nullptr)), h_(std::exchange(o.h_, {})) {}
  ResumeTask& operator=(ResumeTask&&) = delete;
  ~ResumeTask() {
    if (h_) h_.destroy();
    if (s_) s_->release();
  }
  void operator()() { std::exchange(h_, {}).resume(); }

 private:
  StateBase* s_;
  std::coroutine_handle<> h_;
};

// Runs a done-callback with the state; holds a reference until it is destroyed, run or not.
class CallbackTask {
 public:
  CallbackTask(StateBase* s, StateBase::DoneCallback cb) noexcept : s_(s), cb_(std::move(cb)) { s_->add_ref(); }
  CallbackTask(CallbackTask&& o) noexcept : s_(std::exchange(o.s_, nullptr)), cb_(std::move(o.cb_)) {}
  CallbackTask& operator=(CallbackTask&&) = delete;
  ~CallbackTask() {
    cb_ = nullptr;  // the callback's captures go before the state they may refer to
    if (s_) s_->release();
  }
  void operator()() { cb_(*s_); }

 private:
  StateBase* s_;
  StateBase::DoneCallback cb_;
};
}  // namespace

void* allocate_block(std::size_t size) {
#if TORNADO_RECYCLE_STATES
  if (BlockCache::cached(size)) {
    BlockCache& cache = tls_blocks;
    std::size_t c = BlockCache::size_class(size);
    if (BlockCache::Node* n = cache.head[c]) {
      cache.head[c] = n->next;
      --cache.count[c];
      cache.cached_bytes -= BlockCache::class_size(c);
      return n;
    }
  }
#endif
  return ::operator new(BlockCache::block_size(size));
}

void deallocate_block(void* p, std::size_t size) noexcept {
#if TORNADO_RECYCLE_STATES
  BlockCache& cache = tls_blocks;
  if (BlockCache::cached(size) && !cache.draining) {
    std::size_t c = BlockCache::size_class(size);
    std::size_t bytes = BlockCache::class_size(c);
    if (cache.cached_bytes + bytes <= BlockCache::kMaxCachedBytes) {
      if (!cache.drain_armed) {
        tls_blocks_drain.armed = true;  // registers the drain at thread exit
        cache.drain_armed = true;
      }
      cache.head[c] = ::new (p) BlockCache::Node{cache.head[c]};
      ++cache.count[c];
      cache.cached_bytes += bytes;
      return;
    }
  }
#endif
  ::operator delete(p, BlockCache::block_size(size));
}

void* StateBase::operator new(std::size_t size) { return allocate_block(size); }
void StateBase::operator delete(void* p, std::size_t size) noexcept { deallocate_block(p, size); }

Scheduler* current_scheduler() noexcept { return tls_scheduler; }
Scheduler* set_current_scheduler(Scheduler* s) noexcept { return std::exchange(tls_scheduler, s); }

void schedule(util::Callback cb) {
  if (tls_scheduler) {
    tls_scheduler->call_soon(std::move(cb));
    return;
  }
  try {
    cb();
  } catch (...) {
    log_callback_exception(std::current_exception());
  }
}

void log_callback_exception(std::exception_ptr e) noexcept {
  try {
    log::app_log().log_exception(log::Level::ERROR, e, "Exception in callback");
  } catch (...) {
  }
}

StateBase::~StateBase() {
  // Coroutines still registered here wait for a result that can no longer come: destroy them
  // (their own futures are cancelled in turn), rather than leaving them suspended forever.
  if (first_.handle) std::exchange(first_.handle, {}).destroy();
  for (auto& w : more_) {
    if (w.handle) std::exchange(w.handle, {}).destroy();
  }
  if (status_ == Status::failed && !retrieved_) {
    log::app_log().log_exception(log::Level::ERROR, exception_, "Future exception was never retrieved");
  }
}

bool StateBase::try_set_exception(std::exception_ptr e) noexcept {
  if (done()) return false;
  exception_ = std::move(e);
  finish(Status::failed);
  return true;
}

bool StateBase::cancel() noexcept {
  if (done()) return false;
  exception_ = std::make_exception_ptr(CancelledError());
  finish(Status::cancelled);
  return true;
}

void StateBase::add_waiter(std::coroutine_handle<> h) {
  Waiter w{h, nullptr};
  if (done()) {
    schedule_waiter(w);
  } else if (!first_.handle && !first_.callback) {
    first_ = std::move(w);
  } else {
    more_.push_back(std::move(w));
  }
}

void StateBase::add_callback(DoneCallback cb) {
  Waiter w{{}, std::move(cb)};
  if (done()) {
    schedule_waiter(w);
  } else if (!first_.handle && !first_.callback) {
    first_ = std::move(w);
  } else {
    more_.push_back(std::move(w));
  }
}

void StateBase::schedule_waiter(Waiter& w) noexcept {
  try {
    if (w.handle) {
      schedule(ResumeTask(this, std::exchange(w.handle, {})));
    } else if (w.callback) {
      schedule(CallbackTask(this, std::move(w.callback)));
    }
  } catch (...) {
    // Out of memory while scheduling: nothing sane is left to do for this waiter.
    log_callback_exception(std::current_exception());
  }
}

void StateBase::finish(Status s) noexcept {
  status_ = s;
  // Hold a reference while scheduling: a waiter scheduled inline (no IOLoop) may drop the last
  // handle to this state.
  add_ref();
  schedule_waiter(first_);
  if (!more_.empty()) {
    auto more = std::move(more_);
    for (auto& w : more) schedule_waiter(w);
  }
  release();
}

void throw_if_not_result(StateBase& s) {
  switch (s.status()) {
    case StateBase::Status::result: return;
    case StateBase::Status::pending: throw InvalidStateError("result of a future that is not done");
    default: std::rethrow_exception(s.exception_ptr());
  }
}

}  // namespace detail

struct ThreadPoolExecutor::Impl {
  explicit Impl(std::size_t n) : pool(n) {}
  boost::asio::thread_pool pool;
  std::once_flag joined;
};

ThreadPoolExecutor::ThreadPoolExecutor(std::size_t max_workers) {
  if (max_workers == 0) max_workers = std::max(1u, std::thread::hardware_concurrency()) + 4;
  impl_ = std::make_unique<Impl>(max_workers);
}

ThreadPoolExecutor::~ThreadPoolExecutor() { shutdown(); }

void ThreadPoolExecutor::submit(util::Callback fn) {
  // Asio wants copyable handlers; carry the move-only callback through a shared_ptr.
  auto task = std::make_shared<util::Callback>(std::move(fn));
  boost::asio::post(impl_->pool, [task] {
    try {
      (*task)();
    } catch (...) {
      detail::log_callback_exception(std::current_exception());
    }
  });
}

void ThreadPoolExecutor::shutdown() {
  std::call_once(impl_->joined, [this] { impl_->pool.join(); });
}

}  // namespace tornado
