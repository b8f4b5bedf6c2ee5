// Tests of tornado.process: a port of Tornado 6.2's tornado/test/process_test.py (same suite and
// case names), plus cases for what the C++ Subprocess adds or must guard (environment and working
// directory, descriptor redirection, close_fds, reaping of destroyed Subprocesses, exits reported
// across threads, the watch surviving its IOLoop) and for fork_processes' edges.
//
// How the multi-process tests stay bounded: each runs its forked "master" (the process that calls
// fork_processes, which exits when its children are done) in a process group of its own, with an
// alarm(20) in every process of the group, as the Python test's signal.alarm(5); the test waits
// at most 30 s, then kills the whole group. This process is made a child subreaper meanwhile
// (Linux), so that the group's orphans become its children and are reaped here; whatever is
// left of the group at the end is reported as a failure (stray processes), killed and reaped.
// Children report through a pipe (lines) rather than Boost.Test assertions, which belong to the
// test process.
//
// Adapted from process_test.py:
//  - ProcessTest.test_multi_process: the children serve a line protocol on TCPServer instead of
//    HTTP (there is no HTTPClient/Application in this layer): "exit N", "signal N", or anything
//    else, answered with "<task id> <pid>". The signal cases that Python disables for macOS
//    (its crash-report prompt) are enabled, with SIGTERM and SIGKILL (SIGABRT would dump core),
//    so max_restarts is 5 rather than 3. The log lines Python's ExpectLog absorbs are checked.
//  - SubprocessTest runs `/usr/bin/python3` where Python runs sys.executable (scripts/setup
//    installs it); term_and_wait is the fixture's teardown for every Subprocess it made.
//  - test_sigchild: AsyncTestCase::stop takes no value; the callback stores the status.
#define BOOST_TEST_MODULE process
#include <tornado/testing.hpp>

#include "../support/support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

import tornado.process;
import tornado.tcpserver;
import tornado.iostream;
import tornado.netutil;
import tornado.ioloop;
import tornado.gen;
import tornado.log;

using namespace tornado;
using namespace std::chrono_literals;
using process::CalledProcessError;
using process::Subprocess;
using tornado::testing::AsyncTestCase;

namespace {

const std::string kPython = "/usr/bin/python3";
// What an unset std::optional<int> compares as (Boost.Test cannot print optionals).
constexpr int kNone = -12345;

// ---------------------------------------------------------------------------------------------
// Helpers for the tests that fork

// Writes one line to the report pipe (a single write(2): lines from several processes do not mix).
void report(int fd, const std::string& line) {
  std::string s = line + "\n";
  ssize_t n = ::write(fd, s.data(), s.size());
  (void)n;
}

// What a forked master and its children left behind.
struct ForkedRun {
  int status = -1;                 // the master's wait status
  std::vector<std::string> lines;  // what the processes wrote to the report pipe
  bool timed_out = false;          // the master had to be killed
  bool strays = false;             // processes of the group outlived the master
  bool exited(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
  bool has(const std::string& regex) const {
    std::regex re(regex);
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return std::regex_search(l, re); });
  }
  std::size_t count(const std::string& regex) const {
    std::regex re(regex);
    return static_cast<std::size_t>(
        std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return std::regex_search(l, re); }));
  }
  std::string dump() const {
    std::string out = "master status " + std::to_string(status) + "; report:\n";
    for (const auto& l : lines) out += "  " + l + "\n";
    return out;
  }
};

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Whatever runs in the forked master exits through here if fork_processes returns into std::exit:
// the status it was given is the master's, without running the test program's own static
// destructors and exit handlers (which belong to the test process).
void exit_master_now(int status, void*) {
  // Tornado's test: the parent's exit code is 0 and it has no task id.
  ::_exit(status == 0 && !process::task_id() ? 0 : 4);
}

// Runs `master(report_fd)` in a forked process leading a new process group, and collects what
// it reports; see the comment at the top of the file. `master` returns the exit code, or exits.
ForkedRun run_forked(const std::function<int(int)>& master, double timeout = 30) {
#if defined(__linux__)
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  struct Unsubreaper {
    ~Unsubreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
  } unsubreaper;
#endif
  int fds[2];
  BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::setpgid(0, 0);
    // Boost.Test's handlers (SIGSEGV, SIGABRT...) would jump back into the test runner.
    for (int sig : {SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGABRT, SIGALRM, SIGTERM}) ::signal(sig, SIG_DFL);
    ::alarm(20);  // ensure that none of these processes live too long
#if defined(__GLIBC__)
    ::on_exit(exit_master_now, nullptr);
#endif
    int rc = 3;
    try {
      rc = master(fds[1]);
    } catch (const std::exception& e) {
      report(fds[1], std::string("exception: ") + e.what());
    } catch (...) {
      report(fds[1], "exception: unknown");
    }
    ::_exit(rc);
  }
  ::setpgid(pid, pid);  // also done in the child: whichever runs first
  ::close(fds[1]);

  ForkedRun run;
  double deadline = now_seconds() + timeout;
  std::string pending;
  for (;;) {
    double left = deadline - now_seconds();
    if (left <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min(left, 0.2) * 1000) + 1);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    char buf[4096];
    ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // every process of the tree has closed its end: all are gone
    pending.append(buf, static_cast<std::size_t>(got));
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
      run.lines.push_back(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
  }
  ::close(fds[0]);
  if (!pending.empty()) run.lines.push_back(pending);

  // The master itself.
  for (;;) {
    pid_t r = ::waitpid(pid, &run.status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (now_seconds() > deadline) {
      run.timed_out = true;
      ::kill(-pid, SIGKILL);
      while (::waitpid(pid, &run.status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  // The rest of the group: zombies handed to this subreaper are reaped; live ones are strays.
  double grace = now_seconds() + 2;
  while (::kill(-pid, 0) == 0) {
    while (::waitpid(-pid, nullptr, WNOHANG) > 0) {
    }
    if (::kill(-pid, 0) != 0) break;
    if (now_seconds() > grace) {
      run.strays = true;
      ::kill(-pid, SIGKILL);
      grace = now_seconds() + 5;
    }
    std::this_thread::sleep_for(10ms);
  }
  return run;
}

// A blocking request on a new connection to 127.0.0.1:port: sends `line`, returns the answer
// line, or nullopt if the connection ended without one.
std::optional<std::string> request(int port, const std::string& line) {
  int fd = test_support::connect_blocking(port);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string out = line + "\n";
  ssize_t sent = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
  std::string answer;
  if (sent == static_cast<ssize_t>(out.size())) {
    char buf[256];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      answer.append(buf, static_cast<std::size_t>(n));
      if (answer.find('\n') != std::string::npos) break;
    }
  }
  ::close(fd);
  auto nl = answer.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  return answer.substr(0, nl);
}

// The server the children of test_multi_process run: "exit N" exits with N at once, "signal N"
// sends itself signal N, anything else is answered with "<task id> <pid>".
struct TaskIdServer : tcpserver::TCPServer {
  Future<void> handle_stream(std::unique_ptr<iostream::IOStream> stream, netutil::SocketAddress) override {
    std::string line = co_await stream->read_until("\n");
    line.pop_back();
    if (line.starts_with("exit ")) ::_exit(std::stoi(line.substr(5)));
    if (line.starts_with("signal ")) ::kill(::getpid(), std::stoi(line.substr(7)));
    co_await stream->write(std::to_string(process::task_id().value_or(-1)) + " " + std::to_string(::getpid()) + "\n");
  }
};

// The client child of test_multi_process: Tornado's sequence of requests. Returns its exit code.
int run_client(int port, int report_fd) {
  auto fail = [&](const std::string& why) {
    report(report_fd, "client failed: " + why);
    return 1;
  };
  // An answer from a live server: "<task id> <pid>" with a server's task id.
  auto fetch_pid = [&](const std::string& what) -> std::optional<int> {
    auto answer = request(port, what);
    if (!answer) return std::nullopt;
    int tid = -1, pid = -1;
    std::istringstream in(*answer);
    in >> tid >> pid;
    if (!in || (tid != 0 && tid != 1) || pid <= 0) return std::nullopt;
    return pid;
  };

  // A process made by fork_processes cannot fork processes of its own (Tornado asserts).
  try {
    process::fork_processes(1);
    return fail("fork_processes in a child did not throw");
  } catch (const std::logic_error&) {
  }

  // Make two processes exit abnormally.
  request(port, "exit 2");
  request(port, "exit 3");
  // They've been restarted, so a new fetch will work.
  if (!fetch_pid("id")) return fail("no answer after the exits");
  // Now the same with signals.
  request(port, "signal " + std::to_string(SIGTERM));
  request(port, "signal " + std::to_string(SIGKILL));
  if (!fetch_pid("id")) return fail("no answer after the signals");
  // Now kill them normally so they won't be restarted.
  request(port, "exit 0");
  // One process left; watch its pid change.
  auto pid = fetch_pid("id");
  request(port, "exit 4");
  auto pid2 = fetch_pid("id");
  if (!pid || !pid2) return fail("no answer from the last server");
  if (*pid == *pid2) return fail("the pid did not change after a restart");
  report(report_fd, "client: pid " + std::to_string(*pid) + " then " + std::to_string(*pid2));
  // Kill the last one so we shut down cleanly.
  request(port, "exit 0");
  return 0;
}

// Descriptors open in this process (Linux: /proc/self/fd).
std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// True once `pid` no longer exists, not even as a zombie (it has been reaped).
bool reaped(int pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// True once `pid` has exited (it may still be an unreaped zombie); does not reap it.
bool exited(int pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

// AsyncTestCase whose Subprocesses are terminated and reaped at teardown, whatever happened, and
// which removes the SIGCHLD handler before its IOLoop closes. Callbacks of tests store results in
// members (they may run during teardown, from wait()).
struct SubprocessTest : AsyncTestCase {
  std::vector<std::unique_ptr<Subprocess>> procs;
  std::optional<int> exit_status;

  Subprocess& spawn(std::vector<std::string> args, process::SubprocessOptions options = {}) {
    procs.push_back(std::make_unique<Subprocess>(std::move(args), std::move(options)));
    return *procs.back();
  }
  void term_and_wait(Subprocess& p) {
    p.terminate();
    p.wait();
  }
  ~SubprocessTest() override {
    for (auto& p : procs) {
      try {
        term_and_wait(*p);
      } catch (const std::exception& e) {
        BOOST_ERROR("teardown: " << e.what());
      }
    }
    procs.clear();
    Subprocess::uninitialize();
  }
};

}  // namespace

// ProcessTest comes first: the forks happen before any test made an IOLoop or a thread here.
BOOST_AUTO_TEST_SUITE(ProcessTest)

BOOST_AUTO_TEST_CASE(test_multi_process) {
  auto [sock, port] = tornado::testing::bind_unused_port();
  auto run = run_forked([sock = sock, port = port](int report_fd) -> int {
    log::gen_log().set_level(log::Level::INFO);
    log::gen_log().propagate = false;
    log::gen_log().add_handler([report_fd](const log::LogRecord& r) { report(report_fd, "log: " + r.message); });
    int id = process::fork_processes(3, 5);
    // A child from here on.
    ::alarm(20);
    if (process::task_id() != id) {
      report(report_fd, "child " + std::to_string(id) + ": task_id() disagrees");
      return 1;
    }
    if (id == 0 || id == 1) {
      ioloop::IOLoop::clear_current();
      ioloop::IOLoop loop;
      TaskIdServer server;
      server.add_socket(sock);
      loop.start();
      return 1;  // not reached: the client makes every server exit
    }
    ::close(sock);
    try {
      return run_client(port, report_fd);
    } catch (const std::exception& e) {
      report(report_fd, std::string("client failed: ") + e.what());
      return 1;
    }
  });
  ::close(sock);
  BOOST_TEST_CONTEXT(run.dump()) {
    BOOST_TEST(!run.timed_out);
    BOOST_TEST(!run.strays);
    // If we exit cleanly from fork_processes, all the child processes finished with status 0.
    BOOST_TEST(run.exited(0));
    BOOST_TEST(run.has("^log: Starting 3 processes$"));
    BOOST_TEST(run.has(R"(^log: child [01] \(pid \d+\) exited with status 2, restarting$)"));
    BOOST_TEST(run.has(R"(^log: child [01] \(pid \d+\) exited with status 3, restarting$)"));
    BOOST_TEST(run.has(R"(^log: child [01] \(pid \d+\) killed by signal 15, restarting$)"));
    BOOST_TEST(run.has(R"(^log: child [01] \(pid \d+\) killed by signal 9, restarting$)"));
    BOOST_TEST(run.has(R"(^log: child [01] \(pid \d+\) exited with status 4, restarting$)"));
    BOOST_TEST(run.count(R"(^log: child [01] \(pid \d+\) exited normally$)") == 2u);
    BOOST_TEST(run.has(R"(^log: child 2 \(pid \d+\) exited normally$)"));
    BOOST_TEST(run.has("^client: pid "));
    BOOST_TEST(!run.has("failed|exception"));
  }
}

BOOST_AUTO_TEST_CASE(test_too_many_restarts) {
  // Not in process_test.py: past max_restarts the parent gives up with RuntimeError.
  auto run = run_forked([](int report_fd) -> int {
    log::gen_log().propagate = false;
    log::gen_log().add_handler([report_fd](const log::LogRecord& r) { report(report_fd, "log: " + r.message); });
    try {
      process::fork_processes(2, 1);
    } catch (const std::runtime_error& e) {
      report(report_fd, std::string("gave up: ") + e.what());
      return 7;
    }
    ::_exit(1);  // every child fails
  });
  BOOST_TEST_CONTEXT(run.dump()) {
    BOOST_TEST(!run.timed_out);
    BOOST_TEST(!run.strays);
    BOOST_TEST(run.exited(7));
    BOOST_TEST(run.has("^gave up: Too many child restarts, giving up$"));
    BOOST_TEST(run.count(R"(^log: child [01] \(pid \d+\) exited with status 1, restarting$)") == 2u);
  }
}

BOOST_AUTO_TEST_CASE(test_tcpserver_start) {
  // tcpserver_test.py's TestMultiprocess.test_bind_start: TCPServer.start(3) forks through
  // fork_processes; each child prints its task id and exits normally.
  auto run = run_forked([](int report_fd) -> int {
    tcpserver::TCPServer server;
    server.bind(0, "127.0.0.1");
    server.start(3);
    ioloop::IOLoop::current().run_sync([] {});
    report(report_fd, "task " + std::to_string(process::task_id().value_or(-1)));
    ::_exit(0);
  });
  BOOST_TEST_CONTEXT(run.dump()) {
    BOOST_TEST(run.exited(0));
    BOOST_TEST(!run.strays);
    std::vector<std::string> tasks;
    for (const auto& l : run.lines)
      if (l.starts_with("task ")) tasks.push_back(l.substr(5));
    std::sort(tasks.begin(), tasks.end());
    BOOST_TEST(tasks == (std::vector<std::string>{"0", "1", "2"}), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(test_cpu_count_and_task_id) {
  BOOST_TEST(process::cpu_count() >= 1);
  BOOST_TEST(process::cpu_count() == static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  // This process was not made by fork_processes.
  BOOST_TEST(!process::task_id().has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(SubprocessTests, SubprocessTest)

TORNADO_GEN_TEST(test_subprocess, SubprocessTest) {
  auto& subproc = spawn({kPython, "-u", "-i"},
                        {.std_in = Subprocess::STREAM, .std_out = Subprocess::STREAM, .std_err = Subprocess::STDOUT});
  BOOST_REQUIRE(subproc.stdin_stream());
  BOOST_REQUIRE(subproc.stdout_stream());
  BOOST_TEST(subproc.stderr_stream() == nullptr);
  co_await subproc.stdout_stream()->read_until(">>> ");
  subproc.stdin_stream()->write("print('hello')\n");
  std::string data = co_await subproc.stdout_stream()->read_until("\n");
  BOOST_TEST(data == "hello\n");

  co_await subproc.stdout_stream()->read_until(">>> ");
  subproc.stdin_stream()->write("raise SystemExit\n");
  data = co_await subproc.stdout_stream()->read_until_close();
  BOOST_TEST(data == "");
}

TORNADO_GEN_TEST(test_close_stdin, SubprocessTest) {
  // Close the parent's stdin handle and see that the child recognizes it.
  auto& subproc = spawn({kPython, "-u", "-i"},
                        {.std_in = Subprocess::STREAM, .std_out = Subprocess::STREAM, .std_err = Subprocess::STDOUT});
  co_await subproc.stdout_stream()->read_until(">>> ");
  subproc.stdin_stream()->close();
  std::string data = co_await subproc.stdout_stream()->read_until_close();
  BOOST_TEST(data == "\n");
}

TORNADO_GEN_TEST(test_stderr, SubprocessTest) {
  auto& subproc = spawn({kPython, "-u", "-c", R"(import sys; sys.stderr.write('hello\n'))"},
                        {.std_err = Subprocess::STREAM});
  BOOST_TEST(subproc.stdout_stream() == nullptr);
  std::string data = co_await subproc.stderr_stream()->read_until("\n");
  BOOST_TEST(data == "hello\n");
}

BOOST_AUTO_TEST_CASE(test_sigchild) {
  Subprocess::initialize();
  auto& subproc = spawn({kPython, "-c", "pass"});
  subproc.set_exit_callback([this](int ret) {
    exit_status = ret;
    stop();
  });
  wait();
  BOOST_REQUIRE(exit_status.has_value());
  BOOST_TEST(*exit_status == 0);
  BOOST_TEST(subproc.returncode().value_or(kNone) == exit_status.value_or(kNone - 1));
}

TORNADO_GEN_TEST(test_sigchild_future, SubprocessTest) {
  Subprocess::initialize();
  auto& subproc = spawn({kPython, "-c", "pass"});
  int ret = co_await subproc.wait_for_exit();
  BOOST_TEST(ret == 0);
  BOOST_TEST(subproc.returncode().value_or(kNone) == ret);
}

BOOST_AUTO_TEST_CASE(test_sigchild_signal) {
  Subprocess::initialize();
  auto& subproc = spawn({kPython, "-c", "import time; time.sleep(30)"}, {.std_out = Subprocess::STREAM});
  subproc.set_exit_callback([this](int ret) {
    exit_status = ret;
    stop();
  });
  // Python's test waits a little before the kill (macOS reported SIGKILL for an early one).
  std::this_thread::sleep_for(100ms);
  BOOST_REQUIRE(::kill(subproc.pid(), SIGTERM) == 0);
  try {
    wait();
  } catch (const TimeoutError&) {
    // Did the child close its stdout (the parent's signal handling failed) or not (the child
    // failed to terminate)?
    auto closed = std::make_shared<bool>(false);
    subproc.stdout_stream()->read_until_close().add_done_callback([this, closed](const Future<std::string>&) {
      *closed = true;
      stop();
    });
    try {
      wait();
    } catch (const TimeoutError&) {
    }
    BOOST_FAIL((*closed ? "subprocess closed stdout but failed to get termination signal"
                       : "subprocess failed to terminate"));
  }
  BOOST_REQUIRE(exit_status.has_value());
  BOOST_TEST(subproc.returncode().value_or(kNone) == exit_status.value_or(kNone - 1));
  BOOST_TEST(*exit_status == -SIGTERM);
}

TORNADO_GEN_TEST(test_wait_for_exit_raise, SubprocessTest) {
  Subprocess::initialize();
  auto& subproc = spawn({kPython, "-c", "import sys; sys.exit(1)"});
  std::optional<CalledProcessError> error;
  try {
    co_await subproc.wait_for_exit();
  } catch (const CalledProcessError& e) {
    error = e;
  }
  BOOST_REQUIRE(error.has_value());
  BOOST_TEST(error->returncode == 1);
  BOOST_TEST(error->cmd == subproc.args(), boost::test_tools::per_element());
  BOOST_TEST(std::string(error->what()) ==
             "Command '" + kPython + " -c import sys; sys.exit(1)' returned non-zero exit status 1.");
}

TORNADO_GEN_TEST(test_wait_for_exit_raise_disabled, SubprocessTest) {
  Subprocess::initialize();
  auto& subproc = spawn({kPython, "-c", "import sys; sys.exit(1)"});
  int ret = co_await subproc.wait_for_exit(false);
  BOOST_TEST(ret == 1);
}

// --- Not in process_test.py ---------------------------------------------------------------------

TORNADO_GEN_TEST(test_signal_termination_raises, SubprocessTest) {
  // A child killed by a signal has returncode -signal; wait_for_exit fails with it.
  auto& subproc = spawn({"sleep", "30"});
  auto exit_future = subproc.wait_for_exit();
  subproc.kill();
  try {
    co_await exit_future;
    BOOST_FAIL("no CalledProcessError");
  } catch (const CalledProcessError& e) {
    BOOST_TEST(e.returncode == -SIGKILL);
    BOOST_TEST(std::string(e.what()) == "Command 'sleep 30' died with signal 9.");
  }
  BOOST_TEST(subproc.returncode().value_or(kNone) == -SIGKILL);
  subproc.kill();  // reaped already: nothing is signalled, nothing thrown
}

TORNADO_GEN_TEST(test_env_and_cwd, SubprocessTest) {
  auto dir = std::filesystem::canonical(std::filesystem::temp_directory_path());
  auto& subproc = spawn({"/bin/sh", "-c", "echo \"$GREETING|$HOME\"; pwd"},
                        {.std_out = Subprocess::STREAM,
                         .env = std::map<std::string, std::string>{{"GREETING", "hello world"}},
                         .cwd = dir.string()});
  std::string out = co_await subproc.stdout_stream()->read_until_close();
  // The environment is exactly the one given: HOME is not inherited.
  BOOST_TEST(out == "hello world|\n" + dir.string() + "\n");
  BOOST_TEST(co_await subproc.wait_for_exit() == 0);
}

TORNADO_GEN_TEST(test_redirect_to_descriptors, SubprocessTest) {
  // stdout to a descriptor of ours, stderr to the same place as stdout, stdin from /dev/null.
  int fds[2];
  BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  auto& subproc = spawn({"/bin/sh", "-c", "cat; echo out; echo err >&2"},
                        {.std_in = Subprocess::DEVNULL, .std_out = fds[1], .std_err = Subprocess::STDOUT});
  ::close(fds[1]);  // the child has its copy; the descriptor stayed ours
  iostream::PipeIOStream reader(fds[0]);
  std::string out = co_await reader.read_until_close();
  BOOST_TEST(out == "out\nerr\n");
  BOOST_TEST(co_await subproc.wait_for_exit() == 0);
}

TORNADO_GEN_TEST(test_standard_descriptor_swap, SubprocessTest) {
  // stdout to our descriptor 2 and stderr to our descriptor 1 (a swap: each must reach the child
  // before the other's dup2 replaces it). Ours point at two pipes here, for the test's sake.
  int out_pipe[2], err_pipe[2];
  BOOST_REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
  BOOST_REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
  std::cout.flush();
  std::cerr.flush();
  int saved1 = ::dup(1), saved2 = ::dup(2);
  ::dup2(out_pipe[1], 2);  // our stderr -> out_pipe
  ::dup2(err_pipe[1], 1);  // our stdout -> err_pipe
  std::optional<std::string> spawn_error;
  try {
    spawn({"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2"}, {.std_out = 2, .std_err = 1});
  } catch (const std::exception& e) {
    spawn_error = e.what();
  }
  ::dup2(saved1, 1);
  ::dup2(saved2, 2);
  ::close(saved1);
  ::close(saved2);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  BOOST_REQUIRE(!spawn_error);
  iostream::PipeIOStream out(out_pipe[0]), err(err_pipe[0]);
  BOOST_TEST(co_await out.read_until_close() == "to-stdout\n");
  BOOST_TEST(co_await err.read_until_close() == "to-stderr\n");
}

#if defined(__linux__)
TORNADO_GEN_TEST(test_close_fds, SubprocessTest) {
  // Popen's close_fds: a descriptor of ours without close-on-exec does not reach the child.
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  std::string probe = "[ -e /proc/self/fd/" + std::to_string(fds[0]) + " ] && echo open || echo closed";
  auto& subproc = spawn({"/bin/sh", "-c", probe}, {.std_out = Subprocess::STREAM});
  std::string out = co_await subproc.stdout_stream()->read_until_close();
  ::close(fds[0]);
  ::close(fds[1]);
  BOOST_TEST(out == "closed\n");
}

BOOST_AUTO_TEST_CASE(test_spawn_failure_leaves_nothing_open) {
  std::size_t before = open_fd_count();
  try {
    Subprocess p({"/nonexistent/program"},
                 {.std_in = Subprocess::STREAM, .std_out = Subprocess::STREAM, .std_err = Subprocess::STREAM});
    BOOST_FAIL("no exception");
  } catch (const std::system_error& e) {
    BOOST_TEST(e.code().value() == ENOENT);
  }
  BOOST_TEST(open_fd_count() == before);
  BOOST_CHECK_THROW(Subprocess({}), std::invalid_argument);
  BOOST_CHECK_THROW(Subprocess({"true"}, {.std_out = Subprocess::STDOUT}), std::invalid_argument);
  BOOST_CHECK_THROW(Subprocess({"true"}, {.std_in = -3}), std::invalid_argument);
}
#endif

TORNADO_GEN_TEST(test_concurrent_exits, SubprocessTest) {
  // Exits close together may raise one SIGCHLD: every waiting Subprocess is checked on each.
  Subprocess::initialize();
  std::vector<Future<int>> futures;
  for (int i = 0; i < 6; ++i) futures.push_back(spawn({"/bin/sh", "-c", "exit " + std::to_string(i)}).wait_for_exit(false));
  std::vector<int> codes = co_await gen::multi(std::move(futures));
  BOOST_TEST(codes == (std::vector<int>{0, 1, 2, 3, 4, 5}), boost::test_tools::per_element());
}

TORNADO_GEN_TEST(test_every_waiter_is_told, SubprocessTest) {
  // Several wait_for_exit calls and an exit callback: all hear of the exit (each call of Tornado's
  // replaces the callback, so only its last future would).
  auto& subproc = spawn({"/bin/sh", "-c", "exit 3"});
  subproc.set_exit_callback([this](int ret) { exit_status = ret; });
  auto a = subproc.wait_for_exit(false);
  auto b = subproc.wait_for_exit(true);
  BOOST_TEST(co_await a == 3);
  BOOST_CHECK_THROW(co_await b, CalledProcessError);
  co_await gen::moment;
  BOOST_TEST(exit_status.value_or(kNone) == 3);
  // After the exit was reported, newcomers are told too.
  BOOST_TEST(co_await subproc.wait_for_exit(false) == 3);
  std::optional<int> late;
  subproc.set_exit_callback([&late](int ret) { late = ret; });
  for (int i = 0; i < 10 && !late; ++i) co_await gen::moment;
  BOOST_TEST(late.value_or(kNone) == 3);
}

TORNADO_GEN_TEST(test_blocking_wait, SubprocessTest) {
  // Popen.wait: blocks without the loop; the exit is reported at once, futures included.
  auto& subproc = spawn({"/bin/sh", "-c", "exit 7"});
  auto exit_future = subproc.wait_for_exit(false);
  subproc.set_exit_callback([this](int ret) { exit_status = ret; });
  BOOST_TEST(subproc.wait() == 7);
  BOOST_TEST(subproc.returncode().value_or(kNone) == 7);
  BOOST_TEST(exit_status.value_or(kNone) == 7);  // called from wait()
  BOOST_TEST(exit_future.done());
  BOOST_TEST(co_await exit_future == 7);
  BOOST_TEST(subproc.wait() == 7);  // again: the same status
  BOOST_TEST(reaped(subproc.pid()));
}

TORNADO_GEN_TEST(test_destroyed_subprocess_is_reaped, SubprocessTest) {
  // A Subprocess destroyed before its child exits does not leave a zombie behind.
  Subprocess::initialize();
  int pid;
  std::optional<Future<int>> pending;
  {
    Subprocess p({"/bin/sh", "-c", "sleep 0.2"}, {.std_out = Subprocess::STREAM});
    pid = p.pid();
    pending = p.wait_for_exit();
  }
  // Destruction cancels the waits still pending.
  BOOST_TEST(pending->cancelled());
  for (int i = 0; i < 500 && !reaped(pid); ++i) co_await gen::sleep(0.01);
  BOOST_TEST(reaped(pid));
}

BOOST_AUTO_TEST_CASE(test_destroyed_subprocess_reaped_without_handler) {
  // With no SIGCHLD handler, the next Subprocess reaps the exited children of destroyed ones, as
  // Popen's constructor does.
  int pid;
  {
    Subprocess p({"/bin/sh", "-c", "sleep 0.1"});
    pid = p.pid();
  }
  for (int i = 0; i < 500 && !exited(pid); ++i) std::this_thread::sleep_for(10ms);
  BOOST_REQUIRE(exited(pid));
  BOOST_TEST(!reaped(pid));  // a zombie: nothing watches SIGCHLD
  auto& next = spawn({"true"});
  BOOST_TEST(reaped(pid));
  BOOST_TEST(next.wait() == 0);
}

BOOST_AUTO_TEST_CASE(test_uninitialize_restores_handler) {
  struct sigaction before {}, during {}, after {};
  ::sigaction(SIGCHLD, nullptr, &before);
  Subprocess::initialize();
  Subprocess::initialize();  // twice: nothing more
  ::sigaction(SIGCHLD, nullptr, &during);
  BOOST_TEST(during.sa_handler != before.sa_handler);
  Subprocess::uninitialize();
  ::sigaction(SIGCHLD, nullptr, &after);
  BOOST_TEST(after.sa_handler == before.sa_handler);
  Subprocess::uninitialize();  // twice: nothing
}

TORNADO_GEN_TEST(test_watch_moves_from_a_closed_loop, SubprocessTest) {
  // initialize() on a loop that is then destroyed: the next wait watches from the current loop,
  // and the closed loop's watch left no descriptor behind.
  std::size_t fds_before = open_fd_count();
  {
    ioloop::IOLoop other(false);
    other.make_current();
    Subprocess::initialize();
    io_loop().make_current();
  }
  // The closed loop's descriptors, and its watch's duplicate of the pipe, are gone; the pipe
  // itself (two descriptors, kept for the life of the process) may be new.
  BOOST_TEST(open_fd_count() <= fds_before + 2);
  auto& subproc = spawn({"/bin/sh", "-c", "exit 5"});
  BOOST_TEST(co_await gen::with_timeout(3s, subproc.wait_for_exit(false)) == 5);
}

TORNADO_GEN_TEST(test_exit_reported_on_other_thread, SubprocessTest) {
  // The SIGCHLD watch is on this test's loop; a Subprocess of another thread's loop still hears
  // of its exit, on its own loop.
  Subprocess::initialize();
  std::atomic<int> result{-1000};
  std::atomic<bool> done{false};
  std::thread worker([&] {
    try {
      ioloop::IOLoop loop(false);
      result = loop.run_sync([]() -> Future<int> {
        Subprocess p({"/bin/sh", "-c", "exit 6"});
        co_return co_await p.wait_for_exit(false);
      }, 5.0);
    } catch (...) {
      result = -2000;
    }
    done = true;
  });
  for (int i = 0; i < 500 && !done; ++i) co_await gen::sleep(0.01);
  worker.join();
  BOOST_TEST(result.load() == 6);
}

BOOST_AUTO_TEST_SUITE_END()
