// Tests for tornado.queues, ported by name from Tornado 6.2's tornado/test/queues_test.py
// (QueueBasicTest, QueueGetTest, QueuePutTest, QueueJoinTest, PriorityQueueJoinTest,
// LifoQueueJoinTest, ProducerConsumerTest), then a few C++-only cases (QueueCppTest).
//
// As in Python, PriorityQueueJoinTest and LifoQueueJoinTest run every QueueJoinTest case on their
// queue class (QUEUE_JOIN_TESTS below), plus their own test_order.
//
// Differences from the Python file:
// - Python's tests count waiters with `len(q._putters)` / `len(q._getters)`; here they read the
//   same counts from str() ("putters[10]"), which prints them as Tornado's __str__ does.
// - QueueBasicTest.test_maxsize: `Queue(maxsize=None)` raising TypeError does not apply (maxsize
//   is an int; there is no None to pass). The rest of the test is ported.
// - QueuePutTest.test_float_maxsize does not apply: maxsize is an integer in C++, so a float
//   maxsize (Python's bugs.python.org/issue21723 rounding) cannot be passed.
//
// Queues that callbacks or never-ending coroutines still refer to after a test body returns are
// owned by the fixture (make_queue), as Python's garbage collector keeps them alive: the fixture
// is destroyed after the loop stopped, so nothing runs against a destroyed queue.
#define BOOST_TEST_MODULE queues
#include <tornado/testing.hpp>

#include <chrono>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

import tornado.queues;
import tornado.gen;
import tornado.ioloop;

using namespace tornado;
using namespace std::chrono_literals;
using queues::LifoQueue;
using queues::PriorityQueue;
using queues::Queue;
using tornado::testing::AsyncTestCase;

namespace {

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

/// AsyncTestCase that fails on any unexpected warning or error (a failed future nobody looked at
/// is logged, so it fails the test) and owns the test's queues.
struct QueueTest : AsyncTestCase {
  QueueTest() { fail_on_unexpected_logs = true; }

  template <class Q, class... A>
  Q& make_queue(A&&... args) {
    auto q = std::make_shared<Q>(std::forward<A>(args)...);
    queues_.push_back(q);
    return *q;
  }

 private:
  std::vector<std::shared_ptr<void>> queues_;
};

/// Awaits `f` and checks that it fails with an E (assertRaises). Another exception propagates.
template <class E, class T>
Future<void> assert_raises(Future<T> f) {
  bool raised = false;
  try {
    co_await std::move(f);
  } catch (const E&) {
    raised = true;
  }
  BOOST_TEST(raised, "expected " << typeid(E).name());
}

/// Checks that the (done) future failed with TimeoutError, retrieving its exception.
template <class T>
void check_timed_out(const Future<T>& f) {
  BOOST_REQUIRE(f.done());
  BOOST_CHECK_THROW(f.result(), TimeoutError);
}

}  // namespace

// --------------------------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(QueueBasicTest, QueueTest)

BOOST_AUTO_TEST_CASE(test_repr_and_str) {
  auto& q = make_queue<Queue<int>>(1);
  std::ostringstream address;
  address << static_cast<const void*>(&q);
  BOOST_TEST(contains(q.repr(), address.str()));
  BOOST_TEST(!contains(q.str(), address.str()));
  (void)q.get();

  for (const std::string& q_str : {q.repr(), q.str()}) {
    BOOST_TEST(q_str.starts_with("<Queue"));
    BOOST_TEST(contains(q_str, "maxsize=1"));
    BOOST_TEST(contains(q_str, "getters[1]"));
    BOOST_TEST(!contains(q_str, "putters"));
    BOOST_TEST(!contains(q_str, "tasks"));
  }

  (void)q.put(7);
  (void)q.put(8);
  // Now the queue is full, this putter blocks.
  (void)q.put(9);

  for (const std::string& q_str : {q.repr(), q.str()}) {
    BOOST_TEST(!contains(q_str, "getters"));
    BOOST_TEST(contains(q_str, "putters[1]"));
    BOOST_TEST(contains(q_str, "tasks=2"));
    BOOST_TEST(contains(q_str, "queue=[8]"));  // 7 went to the getter, 9 waits
  }
  std::ostringstream streamed;
  streamed << q;
  BOOST_TEST(streamed.str() == q.str());
}

BOOST_AUTO_TEST_CASE(test_order) {
  Queue<int> q;
  for (int i : {1, 3, 2}) q.put_nowait(i);

  std::vector<int> items;
  for (int n = 0; n < 3; ++n) items.push_back(q.get_nowait());
  BOOST_TEST(items == (std::vector<int>{1, 3, 2}), boost::test_tools::per_element());
}

TORNADO_GEN_TEST(test_maxsize, QueueTest) {
  BOOST_CHECK_THROW(Queue<int>(-1), std::invalid_argument);

  auto& q = make_queue<Queue<int>>(2);
  BOOST_TEST(q.empty());
  BOOST_TEST(!q.full());
  BOOST_TEST(q.maxsize() == 2);
  BOOST_TEST(q.put(0).done());
  BOOST_TEST(q.put(1).done());
  BOOST_TEST(!q.empty());
  BOOST_TEST(q.full());
  Future<void> put2 = q.put(2);
  BOOST_TEST(!put2.done());
  int got = co_await q.get();  // Make room.
  BOOST_TEST(got == 0);
  BOOST_TEST(put2.done());
  BOOST_TEST(!q.empty());
  BOOST_TEST(q.full());
}

BOOST_AUTO_TEST_SUITE_END()

// --------------------------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(QueueGetTest, QueueTest)

TORNADO_GEN_TEST(test_blocking_get, QueueTest) {
  auto& q = make_queue<Queue<int>>();
  q.put_nowait(0);
  int got = co_await q.get();
  BOOST_TEST(got == 0);
}

BOOST_AUTO_TEST_CASE(test_nonblocking_get) {
  Queue<int> q;
  q.put_nowait(0);
  BOOST_TEST(q.get_nowait() == 0);
}

BOOST_AUTO_TEST_CASE(test_nonblocking_get_exception) {
  Queue<int> q;
  BOOST_CHECK_THROW(q.get_nowait(), queues::QueueEmpty);
}

TORNADO_GEN_TEST(test_get_with_putters, QueueTest) {
  auto& q = make_queue<Queue<int>>(1);
  q.put_nowait(0);
  Future<void> put = q.put(1);
  int got = co_await q.get();
  BOOST_TEST(got == 0);
  co_await put;  // completes, with no value (Python: assertIsNone)
  BOOST_TEST(q.get_nowait() == 1);
}

TORNADO_GEN_TEST(test_blocking_get_wait, QueueTest) {
  auto& q = make_queue<Queue<int>>();
  (void)q.put(0);
  io_loop().call_later(0.01, [&q] { q.put_nowait(1); });
  io_loop().call_later(0.02, [&q] { q.put_nowait(2); });
  int first = co_await q.get(1s);
  BOOST_TEST(first == 0);
  int second = co_await q.get(1s);
  BOOST_TEST(second == 1);
}

TORNADO_GEN_TEST(test_get_timeout, QueueTest) {
  auto& q = make_queue<Queue<int>>();
  Future<int> get_timeout = q.get(10ms);
  Future<int> get = q.get();
  co_await assert_raises<TimeoutError>(get_timeout);

  q.put_nowait(0);
  int got = co_await get;
  BOOST_TEST(got == 0);
}

TORNADO_GEN_TEST(test_get_timeout_preempted, QueueTest) {
  auto& q = make_queue<Queue<int>>();
  Future<int> get = q.get(10ms);
  (void)q.put(0);
  co_await gen::sleep(0.02);
  int got = co_await get;
  BOOST_TEST(got == 0);
}

TORNADO_GEN_TEST(test_get_clears_timed_out_putters, QueueTest) {
  auto& q = make_queue<Queue<int>>(1);
  // First putter succeeds, remainder block.
  std::vector<Future<void>> putters;
  for (int i = 0; i < 10; ++i) putters.push_back(q.put(i, 10ms));
  Future<void> put = q.put(10);
  BOOST_TEST(contains(q.str(), "putters[10]"));
  co_await gen::sleep(0.02);
  BOOST_TEST(contains(q.str(), "putters[10]"));
  BOOST_TEST(!put.done());  // Final waiter is still active.
  (void)q.put(11);
  int got = co_await q.get();  // get() clears the waiters.
  BOOST_TEST(got == 0);
  BOOST_TEST(contains(q.str(), "putters[1]"));
  for (std::size_t i = 1; i < putters.size(); ++i) check_timed_out(putters[i]);
}

TORNADO_GEN_TEST(test_get_clears_timed_out_getters, QueueTest) {
  auto& q = make_queue<Queue<int>>();
  std::vector<Future<int>> getters;
  for (int i = 0; i < 10; ++i) getters.push_back(q.get(10ms));
  Future<int> get = q.get();
  BOOST_TEST(contains(q.str(), "getters[11]"));
  co_await gen::sleep(0.02);
  BOOST_TEST(contains(q.str(), "getters[11]"));
  BOOST_TEST(!get.done());  // Final waiter is still active.
  (void)q.get();            // get() clears the waiters.
  BOOST_TEST(contains(q.str(), "getters[2]"));
  for (auto& getter : getters) check_timed_out(getter);
}

namespace {
// Python's `async for i in q:` is a loop over `co_await q.get()`.
Future<std::vector<int>> collect_until_4(Queue<int>& q) {
  std::vector<int> results;
  for (;;) {
    int i = co_await q.get();
    results.push_back(i);
    if (i == 4) co_return results;
  }
}
}  // namespace

TORNADO_GEN_TEST(test_async_for, QueueTest) {
  auto& q = make_queue<Queue<int>>();
  for (int i = 0; i < 5; ++i) (void)q.put(i);

  std::vector<int> results = co_await collect_until_4(q);
  BOOST_TEST(results == (std::vector<int>{0, 1, 2, 3, 4}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// --------------------------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(QueuePutTest, QueueTest)

BOOST_AUTO_TEST_CASE(test_blocking_put) {
  Queue<int> q;
  BOOST_TEST(q.put(0).done());
  BOOST_TEST(q.get_nowait() == 0);
}

BOOST_AUTO_TEST_CASE(test_nonblocking_put_exception) {
  Queue<int> q(1);
  (void)q.put(0);
  BOOST_CHECK_THROW(q.put_nowait(1), queues::QueueFull);
}

TORNADO_GEN_TEST(test_put_with_getters, QueueTest) {
  auto& q = make_queue<Queue<int>>();
  Future<int> get0 = q.get();
  Future<int> get1 = q.get();
  co_await q.put(0);
  int got0 = co_await get0;
  BOOST_TEST(got0 == 0);
  co_await q.put(1);
  int got1 = co_await get1;
  BOOST_TEST(got1 == 1);
}

TORNADO_GEN_TEST(test_nonblocking_put_with_getters, QueueTest) {
  auto& q = make_queue<Queue<int>>();
  Future<int> get0 = q.get();
  Future<int> get1 = q.get();
  q.put_nowait(0);
  // put_nowait does *not* immediately unblock getters.
  co_await gen::moment;
  int got0 = co_await get0;
  BOOST_TEST(got0 == 0);
  q.put_nowait(1);
  co_await gen::moment;
  int got1 = co_await get1;
  BOOST_TEST(got1 == 1);
}

TORNADO_GEN_TEST(test_blocking_put_wait, QueueTest) {
  auto& q = make_queue<Queue<int>>(1);
  q.put_nowait(0);

  auto get_and_discard = [&q] { (void)q.get(); };
  io_loop().call_later(0.01, get_and_discard);
  io_loop().call_later(0.02, get_and_discard);
  std::vector<Future<void>> futures{q.put(0), q.put(1)};
  for (auto& f : futures) BOOST_TEST(!f.done());
  for (auto& f : futures) co_await f;
}

TORNADO_GEN_TEST(test_put_timeout, QueueTest) {
  auto& q = make_queue<Queue<int>>(1);
  q.put_nowait(0);  // Now it's full.
  Future<void> put_timeout = q.put(1, 10ms);
  Future<void> put = q.put(2);
  co_await assert_raises<TimeoutError>(put_timeout);

  BOOST_TEST(q.get_nowait() == 0);
  // 1 was never put in the queue.
  int got = co_await q.get();
  BOOST_TEST(got == 2);

  // Final get() unblocked this putter.
  co_await put;
}

TORNADO_GEN_TEST(test_put_timeout_preempted, QueueTest) {
  auto& q = make_queue<Queue<int>>(1);
  q.put_nowait(0);
  Future<void> put = q.put(1, 10ms);
  (void)q.get();
  co_await gen::sleep(0.02);
  co_await put;  // No TimeoutError.
  BOOST_TEST(q.get_nowait() == 1);
}

TORNADO_GEN_TEST(test_put_clears_timed_out_putters, QueueTest) {
  auto& q = make_queue<Queue<int>>(1);
  // First putter succeeds, remainder block.
  std::vector<Future<void>> putters;
  for (int i = 0; i < 10; ++i) putters.push_back(q.put(i, 10ms));
  Future<void> put = q.put(10);
  BOOST_TEST(contains(q.str(), "putters[10]"));
  co_await gen::sleep(0.02);
  BOOST_TEST(contains(q.str(), "putters[10]"));
  BOOST_TEST(!put.done());  // Final waiter is still active.
  (void)q.put(11);           // put() clears the waiters.
  BOOST_TEST(contains(q.str(), "putters[2]"));
  for (std::size_t i = 1; i < putters.size(); ++i) check_timed_out(putters[i]);
}

TORNADO_GEN_TEST(test_put_clears_timed_out_getters, QueueTest) {
  auto& q = make_queue<Queue<int>>();
  std::vector<Future<int>> getters;
  for (int i = 0; i < 10; ++i) getters.push_back(q.get(10ms));
  Future<int> get = q.get();
  (void)q.get();
  BOOST_TEST(contains(q.str(), "getters[12]"));
  co_await gen::sleep(0.02);
  BOOST_TEST(contains(q.str(), "getters[12]"));
  BOOST_TEST(!get.done());  // Final waiters still active.
  (void)q.put(0);           // put() clears the waiters.
  BOOST_TEST(contains(q.str(), "getters[1]"));
  int got = co_await get;
  BOOST_TEST(got == 0);
  for (auto& getter : getters) check_timed_out(getter);
}

BOOST_AUTO_TEST_SUITE_END()

// --------------------------------------------------------------------------------------------
// QueueJoinTest and its subclasses: the same cases on each queue class.
namespace {

template <class Q>
struct JoinTest : QueueTest {
  // Python's self.accumulator; here on the fixture because the workers outlive the test body.
  int accumulator = 0;
  std::mt19937 rng{12345};
};

namespace join_tests {

template <class Q>
void task_done_underflow(JoinTest<Q>& t) {
  Q q;
  BOOST_CHECK_THROW(q.task_done(), std::invalid_argument);
  try {
    q.task_done();
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string_view(e.what()) == "task_done() called too many times");
  }
}

template <class Q>
Future<void> worker(Q& q, JoinTest<Q>& t) {
  std::uniform_real_distribution<double> random(0.0, 1.0);
  for (;;) {
    int item = co_await q.get();
    t.accumulator += item;
    q.task_done();
    co_await gen::sleep(random(t.rng) * 0.01);
  }
}

template <class Q>
Future<void> task_done(JoinTest<Q>& t) {
  auto& q = t.template make_queue<Q>();
  for (int i = 0; i < 100; ++i) q.put_nowait(i);

  t.accumulator = 0;
  // Two coroutines share work.
  (void)worker(q, t);
  (void)worker(q, t);
  co_await q.join();
  BOOST_TEST(t.accumulator == 99 * 100 / 2);
}

template <class Q>
Future<void> task_done_delay(JoinTest<Q>& t) {
  // Verify it is task_done(), not get(), that unblocks join().
  auto& q = t.template make_queue<Q>();
  q.put_nowait(0);
  Future<void> join = q.join();
  BOOST_TEST(!join.done());
  co_await q.get();
  BOOST_TEST(!join.done());
  co_await gen::moment;
  BOOST_TEST(!join.done());
  q.task_done();
  BOOST_TEST(join.done());
}

template <class Q>
Future<void> join_empty_queue(JoinTest<Q>& t) {
  auto& q = t.template make_queue<Q>();
  Future<void> join = q.join();
  BOOST_TEST(join.done());  // nothing to wait for
  co_await join;
  co_await q.join();
}

template <class Q>
Future<void> join_timeout(JoinTest<Q>& t) {
  auto& q = t.template make_queue<Q>();
  (void)q.put(0);
  co_await assert_raises<TimeoutError>(q.join(10ms));
}

}  // namespace join_tests
}  // namespace

// QueueJoinTest's cases, on the fixture JoinTest<Q> (Python: a subclass setting queue_class).
#define QUEUE_JOIN_TESTS(Fixture)                                                                 \
  BOOST_FIXTURE_TEST_CASE(test_task_done_underflow, Fixture) { join_tests::task_done_underflow(*this); } \
  TORNADO_GEN_TEST(test_task_done, Fixture) { co_await join_tests::task_done(*this); }            \
  TORNADO_GEN_TEST(test_task_done_delay, Fixture) { co_await join_tests::task_done_delay(*this); } \
  TORNADO_GEN_TEST(test_join_empty_queue, Fixture) { co_await join_tests::join_empty_queue(*this); } \
  TORNADO_GEN_TEST(test_join_timeout, Fixture) { co_await join_tests::join_timeout(*this); }

using QueueJoinFixture = JoinTest<Queue<int>>;
using PriorityQueueJoinFixture = JoinTest<PriorityQueue<int>>;
using LifoQueueJoinFixture = JoinTest<LifoQueue<int>>;

BOOST_AUTO_TEST_SUITE(QueueJoinTest)
QUEUE_JOIN_TESTS(QueueJoinFixture)
BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(PriorityQueueJoinTest)
QUEUE_JOIN_TESTS(PriorityQueueJoinFixture)

TORNADO_GEN_TEST(test_order, QueueTest) {
  using Item = std::pair<int, std::string>;
  auto& q = make_queue<PriorityQueue<Item>>(2);
  q.put_nowait({1, "a"});
  q.put_nowait({0, "b"});
  BOOST_TEST(q.full());
  (void)q.put({3, "c"});
  (void)q.put({2, "d"});
  BOOST_TEST((q.get_nowait() == Item{0, "b"}));
  Item second = co_await q.get();
  BOOST_TEST((second == Item{1, "a"}));
  BOOST_TEST((q.get_nowait() == Item{2, "d"}));
  Item fourth = co_await q.get();
  BOOST_TEST((fourth == Item{3, "c"}));
  BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(LifoQueueJoinTest)
QUEUE_JOIN_TESTS(LifoQueueJoinFixture)

TORNADO_GEN_TEST(test_order, QueueTest) {
  auto& q = make_queue<LifoQueue<int>>(2);
  q.put_nowait(1);
  q.put_nowait(0);
  BOOST_TEST(q.full());
  (void)q.put(3);
  (void)q.put(2);
  BOOST_TEST(q.get_nowait() == 3);
  int second = co_await q.get();
  BOOST_TEST(second == 2);
  BOOST_TEST(q.get_nowait() == 0);
  int fourth = co_await q.get();
  BOOST_TEST(fourth == 1);
  BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_SUITE_END()

// --------------------------------------------------------------------------------------------
namespace {
// We don't yield between get() and task_done(), so get() must wait for the next tick. Otherwise
// we'd immediately call task_done and unblock join() before q.put() resumes, and we'd only
// process the first four items. (The consumer ends waiting in get(), which nothing completes
// once the test body has returned; the fixture's queue then destroys it.)
Future<void> consumer(Queue<int>& q, std::vector<int>& history) {
  for (;;) {
    history.push_back(co_await q.get());
    q.task_done();
  }
}

Future<void> producer(Queue<int>& q) {
  for (int item = 0; item < 10; ++item) co_await q.put(item);
}
}  // namespace

BOOST_FIXTURE_TEST_SUITE(ProducerConsumerTest, QueueTest)

TORNADO_GEN_TEST(test_producer_consumer, QueueTest) {
  std::vector<int> history;
  auto& q = make_queue<Queue<int>>(3);

  (void)consumer(q, history);
  co_await producer(q);
  co_await q.join();
  BOOST_TEST(history == (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

// --------------------------------------------------------------------------------------------
// C++-only cases: what Python's suite cannot ask (deadlines as absolute times, move-only items,
// custom orders, lifetimes).
BOOST_FIXTURE_TEST_SUITE(QueueCppTest, QueueTest)

TORNADO_GEN_TEST(test_absolute_deadline, QueueTest) {
  // A double is an absolute IOLoop::time(), as Tornado's numeric timeouts are.
  auto& q = make_queue<Queue<int>>(1);
  double start = io_loop().time();
  co_await assert_raises<TimeoutError>(q.get(io_loop().time() + 0.01));
  BOOST_TEST(io_loop().time() - start >= 0.01);
  q.put_nowait(0);
  co_await assert_raises<TimeoutError>(q.put(1, io_loop().time() + 0.01));
  q.task_done();
  BOOST_TEST(q.join(io_loop().time() + 0.01).done());
  BOOST_TEST(q.get_nowait() == 0);  // 1 was never put
  BOOST_TEST(q.empty());
}

TORNADO_GEN_TEST(test_move_only_items, QueueTest) {
  auto& q = make_queue<Queue<std::unique_ptr<int>>>(1);
  Future<std::unique_ptr<int>> get = q.get();
  q.put_nowait(std::make_unique<int>(1));  // handed straight to the getter
  std::unique_ptr<int> one = co_await get;
  BOOST_TEST(*one == 1);

  q.put_nowait(std::make_unique<int>(2));
  Future<void> put = q.put(std::make_unique<int>(3));  // waits, holding its item
  BOOST_TEST(*q.get_nowait() == 2);
  co_await put;
  std::unique_ptr<int> three = co_await q.get();
  BOOST_TEST(*three == 3);
}

TORNADO_GEN_TEST(test_priority_custom_compare, QueueTest) {
  // Compare gives the order: std::greater hands out the highest first.
  auto& q = make_queue<PriorityQueue<int, std::greater<int>>>();
  for (int i : {2, 9, 4, 7}) q.put_nowait(i);
  std::vector<int> items;
  for (int n = 0; n < 4; ++n) items.push_back(co_await q.get());
  BOOST_TEST(items == (std::vector<int>{9, 7, 4, 2}), boost::test_tools::per_element());
  BOOST_TEST(contains(q.str(), "<PriorityQueue maxsize=0"));
}

BOOST_AUTO_TEST_CASE(test_str_of_unprintable_items) {
  // Items without an operator<< are counted rather than listed.
  struct Job {
    int id;
  };
  Queue<Job> q;
  q.put_nowait(Job{1});
  q.put_nowait(Job{2});
  BOOST_TEST(q.str() == "<Queue maxsize=0 queue=<2 items> tasks=2>");
  LifoQueue<int> lifo(3);
  lifo.put_nowait(1);
  lifo.put_nowait(2);
  BOOST_TEST(lifo.str() == "<LifoQueue maxsize=3 queue=[1, 2] tasks=2>");
}

BOOST_AUTO_TEST_CASE(test_equal_priorities_come_out_as_in_heapq) {
  // Items equal under the order come out as Python's heapq gives them (computed with heapq and a
  // class whose __lt__ compares priorities only), not in a std::priority_queue's order.
  using Item = std::pair<int, char>;
  struct ByPriority {
    bool operator()(const Item& a, const Item& b) const { return a.first < b.first; }
  };
  PriorityQueue<Item, ByPriority> q;
  for (Item item : {Item{1, 'a'}, Item{1, 'b'}, Item{1, 'c'}, Item{0, 'd'}, Item{1, 'e'},
                    Item{2, 'f'}, Item{1, 'g'}, Item{0, 'h'}}) {
    q.put_nowait(item);
  }
  std::string order;
  while (!q.empty()) order += q.get_nowait().second;
  BOOST_TEST(order == "dhcgeabf");
}

TORNADO_GEN_TEST(test_join_waits_for_all_waiters, QueueTest) {
  // Every join() waiting when the last task_done() comes completes; a timed-out one stays failed.
  auto& q = make_queue<Queue<int>>();
  q.put_nowait(0);
  Future<void> timed = q.join(10ms);
  Future<void> join1 = q.join();
  Future<void> join2 = q.join(5s);
  co_await assert_raises<TimeoutError>(timed);
  (void)q.get_nowait();
  q.task_done();
  BOOST_TEST(join1.done());
  BOOST_TEST(join2.done());
  co_await join1;
  co_await join2;
  // A new put makes join() wait again.
  q.put_nowait(1);
  BOOST_TEST(!q.join().done());
}

BOOST_AUTO_TEST_CASE(test_destroyed_queue_destroys_waiting_coroutines) {
  // A coroutine suspended in `co_await q.get()` / `co_await q.put(x)` is destroyed with the queue
  // (its locals' destructors run) and its future is cancelled: nothing leaks or dangles.
  struct Flag {
    bool& destroyed;
    ~Flag() { destroyed = true; }
  };
  auto empty = std::make_unique<Queue<int>>();
  auto full = std::make_unique<Queue<int>>(1);
  full->put_nowait(0);
  bool getter_destroyed = false, putter_destroyed = false;
  Future<int> get = [](Queue<int>& q, bool& destroyed) -> Future<int> {
    Flag flag{destroyed};
    co_return co_await q.get();
  }(*empty, getter_destroyed);
  Future<void> put = [](Queue<int>& q, bool& destroyed) -> Future<void> {
    Flag flag{destroyed};
    co_await q.put(1);
  }(*full, putter_destroyed);
  BOOST_TEST(!get.done());
  BOOST_TEST(!put.done());
  BOOST_TEST(!getter_destroyed);
  BOOST_TEST(!putter_destroyed);

  empty.reset();
  full.reset();
  BOOST_TEST(getter_destroyed);
  BOOST_TEST(putter_destroyed);
  BOOST_TEST(get.cancelled());
  BOOST_TEST(put.cancelled());
}

TORNADO_GEN_TEST(test_destroyed_queue_waiter_with_timeout_times_out, QueueTest) {
  // With a timeout, the timer still holds the waiter's future: the coroutine outlives the queue
  // and gets TimeoutError at the deadline.
  auto q = std::make_unique<Queue<int>>();
  Future<bool> waiter = [](Queue<int>& q) -> Future<bool> {
    try {
      co_await q.get(10ms);
    } catch (const TimeoutError&) {
      co_return true;
    }
    co_return false;
  }(*q);
  q.reset();
  bool timed_out = co_await waiter;
  BOOST_TEST(timed_out);
}

BOOST_AUTO_TEST_SUITE_END()
