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

void Moment::Awaiter::await_suspend(std::coroutine_handle<> h) const {
  // Through a future so that a loop closed before it runs destroys the coroutine cleanly.
  Future<void> f;
  IOLoop::current().add_callback([f]() mutable { future_set_result_unless_cancelled(f); });
  f.state()->add_waiter(h);
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
