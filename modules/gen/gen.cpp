module;
#include <coroutine>
#include <exception>
#include <utility>
module tornado.gen;

import tornado.concurrent;
import tornado.ioloop;
import tornado.log;

namespace tornado::gen {

Future<void> sleep(double duration) {
  Future<void> f;
  IOLoop::current().call_later(duration, [f]() mutable { future_set_result_unless_cancelled(f); });
  return f;
}

namespace {
// Resumes the coroutine when run, one loop iteration later. Dropped unrun (the loop closed
// first), it destroys the coroutine instead, so that nothing is left suspended forever.
class ResumeNext {
 public:
  explicit ResumeNext(std::coroutine_handle<> h) noexcept : h_(h) {}
  ResumeNext(ResumeNext&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  ResumeNext& operator=(ResumeNext&&) = delete;
  ~ResumeNext() {
    if (h_) h_.destroy();
  }
  void operator()() { std::exchange(h_, {}).resume(); }

 private:
  std::coroutine_handle<> h_;
};
}  // namespace

void Moment::Awaiter::await_suspend(std::coroutine_handle<> h) const {
  // Straight onto the loop's queue: one iteration, as Tornado's moment, and no allocation.
  IOLoop::current().add_callback(ResumeNext(h));
}

namespace detail {
void log_abandoned(std::exception_ptr e) {
  log::app_log().log_exception(log::Level::ERROR, e, "Exception in Future after timeout");
}
void log_multi_exception(std::exception_ptr e) {
  log::app_log().log_exception(log::Level::ERROR, e, "Multiple exceptions in yield list");
}
}  // namespace detail

}  // namespace tornado::gen
