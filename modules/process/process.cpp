module;
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>
module tornado.process;

import tornado.ioloop;
import tornado.log;
import tornado.iostream;

extern "C" char** environ;

namespace tornado::process {

namespace {

std::string join_command(const std::vector<std::string>& cmd) {
  std::string out;
  for (const auto& a : cmd) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

std::string called_process_message(int returncode, const std::vector<std::string>& cmd) {
  // Python's wording: "died with <Signals.SIGTERM: 15>." / "returned non-zero exit status 1."
  std::string m = "Command '" + join_command(cmd) + "' ";
  if (returncode < 0) m += "died with signal " + std::to_string(-returncode) + ".";
  else m += "returned non-zero exit status " + std::to_string(returncode) + ".";
  return m;
}

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

int returncode_from_status(int status) {
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return WEXITSTATUS(status);
}

// ---------------------------------------------------------------------------------------------
// fork_processes

std::optional<int> g_task_id;

void flush_standard_streams() {
  // Whatever sits in a user-space buffer at fork() would be written by parent and child alike.
  std::cout.flush();
  std::cerr.flush();
  std::clog.flush();
  std::fflush(nullptr);
}

void reseed_random() {
  // Children would otherwise draw the parent's sequence. std::rand is C++'s module-level
  // generator, the counterpart of Python's `random` that Tornado reseeds.
  std::random_device rd;
  std::srand(rd() ^ static_cast<unsigned>(::getpid()));
}

}  // namespace

CalledProcessError::CalledProcessError(int returncode, std::vector<std::string> cmd)
    : std::runtime_error(called_process_message(returncode, cmd)), returncode(returncode), cmd(std::move(cmd)) {}

int cpu_count() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = ::sysconf(_SC_NPROCESSORS_CONF);
  if (n >= 1) return static_cast<int>(n);
  log::gen_log().error("Could not detect number of processors; assuming 1");
  return 1;
}

std::optional<int> task_id() noexcept { return g_task_id; }

int fork_processes(int num_processes, std::optional<int> max_restarts) {
  const int allowed_restarts = max_restarts.value_or(100);
  if (g_task_id) throw std::logic_error("fork_processes called in a process it made");
  if (num_processes <= 0) num_processes = cpu_count();
  log::gen_log().info("Starting {} processes", num_processes);
  std::map<pid_t, int> children;

  auto start_child = [&](int i) -> std::optional<int> {
    flush_standard_streams();
    pid_t pid = ::fork();
    if (pid < 0) throw_errno(errno, "fork");
    if (pid == 0) {
      reseed_random();
      g_task_id = i;
      return i;
    }
    children[pid] = i;
    return std::nullopt;
  };

  for (int i = 0; i < num_processes; ++i) {
    if (auto id = start_child(i)) return *id;
  }
  int num_restarts = 0;
  while (!children.empty()) {
    int status = 0;
    pid_t pid = ::wait(&status);
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, "wait");
    }
    auto it = children.find(pid);
    if (it == children.end()) continue;
    int id = it->second;
    children.erase(it);
    if (WIFSIGNALED(status)) {
      log::gen_log().warning("child {} (pid {}) killed by signal {}, restarting", id, pid, WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0) {
      log::gen_log().warning("child {} (pid {}) exited with status {}, restarting", id, pid, WEXITSTATUS(status));
    } else {
      log::gen_log().info("child {} (pid {}) exited normally", id, pid);
      continue;
    }
    if (++num_restarts > allowed_restarts) throw std::runtime_error("Too many child restarts, giving up");
    if (auto new_id = start_child(id)) return *new_id;
  }
  // Every child exited cleanly: the parent exits too, rather than return to the caller as if it
  // were a child (which would go on to start a server of its own).
  flush_standard_streams();
  std::exit(0);
}

// ---------------------------------------------------------------------------------------------
// Subprocess

// Shared between a Subprocess (on its loop's thread) and whoever reaps the child (the loop
// watching SIGCHLD, maybe on another thread). It outlives the Subprocess while the child has not
// been reaped, so that the child is reaped anyway.
struct Subprocess::Impl {
  // Guarded by the registry's mutex.
  ioloop::IOLoop* loop = nullptr;  // the owner's loop; null once the Subprocess is destroyed
  bool reaped = false;
  int status = 0;  // the waitpid status, once reaped

  // Set at construction, then read-only.
  pid_t pid = -1;
  std::vector<std::string> args;

  // The owner's thread only.
  ioloop::IOLoop* io_loop = nullptr;  // the loop current at construction (owner's thread)
  bool alive = true;                  // false once the Subprocess is destroyed
  std::optional<int> returncode;
  util::UniqueFunction<void(int)> exit_callback;
  std::vector<std::pair<Future<int>, bool>> exit_futures;  // (future, raise_error)
  std::unique_ptr<iostream::PipeIOStream> stdin_stream, stdout_stream, stderr_stream;

  // Records the exit (the first report wins) and tells everyone waiting for it. Owner's thread.
  void set_returncode(int wait_status) {
    if (!alive) return;
    if (!returncode) returncode = returncode_from_status(wait_status);
    deliver();
  }

  // Completes the futures of wait_for_exit and calls the exit callback, with returncode.
  void deliver() {
    if (!alive || !returncode) return;
    int rc = *returncode;
    auto futures = std::exchange(exit_futures, {});
    for (auto& [future, raise_error] : futures) {
      if (rc != 0 && raise_error) {
        future_set_exception_unless_cancelled(future, std::make_exception_ptr(CalledProcessError(rc, args)));
      } else {
        future_set_result_unless_cancelled(future, rc);
      }
    }
    // Tornado clears the callback before calling it, so that it runs once.
    if (exit_callback) {
      auto cb = std::move(exit_callback);
      exit_callback = nullptr;
      cb(rc);
    }
  }
};

namespace {

// Where the SIGCHLD handler writes; -1 when there is no pipe. Lock-free, so the handler may load it.
std::atomic<int> g_wake_write_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void sigchld_handler(int) {
  // Only async-signal-safe calls here: write(2) to a non-blocking pipe, errno preserved.
  int saved = errno;
  int fd = g_wake_write_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    char byte = 0;
    ssize_t n = ::write(fd, &byte, 1);  // a full pipe (EAGAIN) already has a wake-up in it
    (void)n;
  }
  errno = saved;
}

// One watch of the pipe from an IOLoop. The loop's handler owns a WatchGuard; when the loop drops
// the handler (remove_handler, or close(), or its destruction) the guard marks the watch dead, so
// nothing ever calls into a loop that is gone.
struct Registration {
  ioloop::IOLoop* loop = nullptr;
  std::thread::id thread;
  int watch_fd = -1;  // a dup of the pipe's read end, registered with the loop
  bool alive = true;  // the loop still holds the handler
};

struct Registry {
  std::mutex mutex;
  pid_t owner_pid = 0;  // the process this state belongs to (a forked child starts afresh)
  std::map<pid_t, std::shared_ptr<Subprocess::Impl>> waiting;
  bool initialized = false;
  struct sigaction old_action {};
  int read_fd = -1;   // the pipe, made on first use and kept: the handler may write at any time
  int write_fd = -1;
  dev_t pipe_dev = 0;
  ino_t pipe_ino = 0;
  std::shared_ptr<Registration> reg;
};

// Never destroyed: a Subprocess or the handler may outlive static destruction order.
Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

bool is_our_pipe(const Registry& r, int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_dev == r.pipe_dev && st.st_ino == r.pipe_ino;
}

void make_pipe(int fds[2]) {
#if defined(__linux__)
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw_errno(errno, "pipe2");
#else
  if (::pipe(fds) != 0) throw_errno(errno, "pipe");
  for (int i = 0; i < 2; ++i) {
    ::fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    ::fcntl(fds[i], F_SETFL, ::fcntl(fds[i], F_GETFL) | O_NONBLOCK);
  }
#endif
}

// Makes the wake-up pipe (once per process). In a child forked after it was made, the pipe is
// shared with the parent, so it is replaced, under the same descriptor numbers (dup2 swaps them
// atomically, so the handler never writes to a closed descriptor).
void ensure_pipe_locked(Registry& r, bool replace) {
  if (r.read_fd >= 0 && !replace) return;
  int fds[2];
  make_pipe(fds);
  if (r.read_fd >= 0) {
    ::dup2(fds[0], r.read_fd);
    ::dup2(fds[1], r.write_fd);
    ::fcntl(r.read_fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(r.write_fd, F_SETFD, FD_CLOEXEC);
    ::close(fds[0]);
    ::close(fds[1]);
  } else {
    r.read_fd = fds[0];
    r.write_fd = fds[1];
  }
  struct stat st {};
  ::fstat(r.read_fd, &st);
  r.pipe_dev = st.st_dev;
  r.pipe_ino = st.st_ino;
  g_wake_write_fd.store(r.write_fd, std::memory_order_relaxed);
}

// The state of a parent process copied by fork() describes the parent's children and the
// parent's loop: a child starts afresh (keeping the SIGCHLD disposition it inherited).
void check_fork_locked(Registry& r) {
  pid_t self = ::getpid();
  if (r.owner_pid == self) return;
  bool had_pipe = r.owner_pid != 0 && r.read_fd >= 0;
  r.owner_pid = self;
  r.waiting.clear();
  r.reg = nullptr;
  if (had_pipe) ensure_pipe_locked(r, true);
}

// Reaps `pid` if it has exited and reports the exit to its Subprocess's loop. Registry locked.
void try_cleanup_process_locked(Registry& r, pid_t pid) {
  auto it = r.waiting.find(pid);
  if (it == r.waiting.end()) return;
  int status = 0;
  pid_t ret;
  do ret = ::waitpid(pid, &status, WNOHANG);
  while (ret < 0 && errno == EINTR);
  if (ret == 0) return;
  auto impl = std::move(it->second);
  r.waiting.erase(it);
  // ECHILD: someone else reaped it; its status is lost (Tornado gives up on it the same way).
  if (ret < 0) return;
  impl->reaped = true;
  impl->status = status;
  if (impl->loop) {
    impl->loop->add_callback([impl] { impl->set_returncode(impl->status); });
  }
}

void cleanup() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  check_fork_locked(r);
  std::vector<pid_t> pids;
  pids.reserve(r.waiting.size());
  for (const auto& entry : r.waiting) pids.push_back(entry.first);
  for (pid_t pid : pids) try_cleanup_process_locked(r, pid);
}

void drain(int fd) {
  char buf[256];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    return;  // empty (EAGAIN), or an error: either way nothing more to read now
  }
}

struct WatchGuard {
  std::shared_ptr<Registration> reg;
  ~WatchGuard() {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    reg->alive = false;
    if (reg->watch_fd < 0) return;
    // The loop may have closed the descriptor itself (close(all_fds=true)), and the number may
    // have been given to someone else since: close it only if it is still this pipe and no
    // newer watch uses the same number.
    bool reused = r.reg && r.reg != reg && r.reg->watch_fd == reg->watch_fd;
    if (!reused && r.owner_pid == ::getpid() && is_our_pipe(r, reg->watch_fd)) ::close(reg->watch_fd);
    reg->watch_fd = -1;
  }
};

}  // namespace

void Subprocess::initialize() {
  Registry& r = registry();
  std::shared_ptr<Registration> reg;
  ioloop::IOLoop* loop_ptr;
  {
    std::lock_guard lock(r.mutex);
    check_fork_locked(r);
    if (r.initialized && r.reg && r.reg->alive) return;
    loop_ptr = &ioloop::IOLoop::current();
    ensure_pipe_locked(r, false);
    reg = std::make_shared<Registration>();
    reg->loop = loop_ptr;
    reg->thread = std::this_thread::get_id();
    reg->watch_fd = ::fcntl(r.read_fd, F_DUPFD_CLOEXEC, 3);
    if (reg->watch_fd < 0) throw_errno(errno, "dup");
    if (!r.initialized) {
      struct sigaction sa {};
      sa.sa_handler = sigchld_handler;
      sigemptyset(&sa.sa_mask);
      // SA_RESTART: the handler should not make other threads' blocking calls fail with EINTR.
      sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
      if (::sigaction(SIGCHLD, &sa, &r.old_action) != 0) {
        int e = errno;
        ::close(reg->watch_fd);
        throw_errno(e, "sigaction(SIGCHLD)");
      }
      r.initialized = true;
    }
    r.reg = reg;
  }
  // Outside the lock: if add_handler refuses, it destroys the handler, whose guard locks.
  std::unique_ptr<WatchGuard> guard(new WatchGuard{reg});
  loop_ptr->add_handler(
      reg->watch_fd,
      [guard = std::move(guard)](int fd, std::uint32_t) {
        drain(fd);
        cleanup();
      },
      ioloop::IOLoop::READ);
  // Children may have exited while nothing watched (before, or between uninitialize and now).
  cleanup();
}

void Subprocess::uninitialize() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  check_fork_locked(r);
  if (!r.initialized) return;
  if (r.reg && r.reg->alive) {
    if (r.reg->thread != std::this_thread::get_id())
      throw std::logic_error("Subprocess::uninitialize called on another thread than the watching IOLoop's");
    // remove_handler only moves the handler aside (the guard is destroyed later, on this thread,
    // and takes this lock then), so holding the lock here is safe.
    r.reg->loop->remove_handler(r.reg->watch_fd);
    r.reg->alive = false;
  }
  r.reg = nullptr;
  ::sigaction(SIGCHLD, &r.old_action, nullptr);
  r.initialized = false;
}

namespace {

// The descriptors made for one spawn, closed on every exit path unless released.
struct FdCloser {
  std::vector<int> fds;
  ~FdCloser() {
    for (int fd : fds) ::close(fd);
  }
  void release(int fd) {
    for (auto& f : fds)
      if (f == fd) f = -1;
    std::erase(fds, -1);
  }
};

struct SpawnActions {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnActions() {
    if (int e = posix_spawn_file_actions_init(&actions)) throw_errno(e, "posix_spawn_file_actions_init");
    if (int e = posix_spawnattr_init(&attr)) {
      posix_spawn_file_actions_destroy(&actions);
      throw_errno(e, "posix_spawnattr_init");
    }
  }
  ~SpawnActions() {
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
  }
};

void check(int err, const char* what) {
  if (err) throw_errno(err, what);
}

}  // namespace

Subprocess::Subprocess(std::vector<std::string> args, SubprocessOptions options)
    : impl_(std::make_shared<Impl>()) {
  if (args.empty()) throw std::invalid_argument("Subprocess: args is empty");
  if (options.std_in.kind() == Redirect::Kind::to_stdout || options.std_out.kind() == Redirect::Kind::to_stdout)
    throw std::invalid_argument("Subprocess: STDOUT is for std_err only");
  for (const Redirect* rd : {&options.std_in, &options.std_out, &options.std_err}) {
    if (rd->kind() == Redirect::Kind::fd && rd->fd() < 0)
      throw std::invalid_argument("Subprocess: negative descriptor");
  }
  auto& loop = ioloop::IOLoop::current();
  impl_->args = std::move(args);

  {
    // Reap finished children whose Subprocess is gone, as Popen's constructor does
    // (subprocess._cleanup), in case no SIGCHLD handler is installed to do it.
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    check_fork_locked(r);
    std::vector<pid_t> orphans;
    for (const auto& [pid, impl] : r.waiting)
      if (!impl->loop) orphans.push_back(pid);
    for (pid_t pid : orphans) try_cleanup_process_locked(r, pid);
  }

  FdCloser closer;
  SpawnActions sp;
  // The parent ends of STREAM pipes, turned into PipeIOStreams once the child runs.
  int parent_in = -1, parent_out = -1, parent_err = -1;

  auto plan = [&](const Redirect& rd, int target, int* parent_end) {
    switch (rd.kind()) {
      case Redirect::Kind::inherit:
        return;
      case Redirect::Kind::stream: {
        int fds[2];
        make_pipe(fds);
        closer.fds.push_back(fds[0]);
        closer.fds.push_back(fds[1]);
        // Standard input: the child reads fds[0]; output: it writes fds[1].
        int child_end = target == 0 ? fds[0] : fds[1];
        *parent_end = target == 0 ? fds[1] : fds[0];
        // The child's end must block, as a standard stream normally does; the flag belongs to
        // that end's open file description, not to the parent's end.
        ::fcntl(child_end, F_SETFL, ::fcntl(child_end, F_GETFL) & ~O_NONBLOCK);
        check(posix_spawn_file_actions_adddup2(&sp.actions, child_end, target), "posix_spawn_file_actions_adddup2");
        return;
      }
      case Redirect::Kind::to_stdout:
        check(posix_spawn_file_actions_adddup2(&sp.actions, 1, target), "posix_spawn_file_actions_adddup2");
        return;
      case Redirect::Kind::devnull:
        check(posix_spawn_file_actions_addopen(&sp.actions, target, "/dev/null", O_RDWR, 0),
              "posix_spawn_file_actions_addopen");
        return;
      case Redirect::Kind::fd: {
        int fd = rd.fd();
        if (fd == target) return;  // already there (and not close-on-exec, being 0, 1 or 2)
        if (fd <= 2) {
          // An earlier dup2 may have replaced descriptor `fd` in the child by then: pass a copy
          // above the standard three (close-on-exec, so only the dup2'ed one survives exec).
          int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
          if (copy < 0) throw_errno(errno, "dup");
          closer.fds.push_back(copy);
          fd = copy;
        }
        check(posix_spawn_file_actions_adddup2(&sp.actions, fd, target), "posix_spawn_file_actions_adddup2");
        return;
      }
    }
  };
  plan(options.std_in, 0, &parent_in);
  plan(options.std_out, 1, &parent_out);
  plan(options.std_err, 2, &parent_err);

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Popen's close_fds=True: the child gets the standard three and nothing else.
  check(posix_spawn_file_actions_addclosefrom_np(&sp.actions, 3), "posix_spawn_file_actions_addclosefrom_np");
#endif
  if (options.cwd) {
#if (defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))) || defined(__APPLE__)
    check(posix_spawn_file_actions_addchdir_np(&sp.actions, options.cwd->c_str()),
          "posix_spawn_file_actions_addchdir_np");
#else
    throw std::invalid_argument("Subprocess: cwd is not supported on this platform");
#endif
  }

  // Popen's restore_signals: this process ignores SIGPIPE (PipeIOStream sees to it), which the
  // child would otherwise inherit; and no signal stays blocked in the child.
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
#ifdef SIGXFSZ
  sigaddset(&defaults, SIGXFSZ);
#endif
  sigemptyset(&empty);
  check(posix_spawnattr_setsigdefault(&sp.attr, &defaults), "posix_spawnattr_setsigdefault");
  check(posix_spawnattr_setsigmask(&sp.attr, &empty), "posix_spawnattr_setsigmask");
  check(posix_spawnattr_setflags(&sp.attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK), "posix_spawnattr_setflags");

  std::vector<char*> argv;
  argv.reserve(impl_->args.size() + 1);
  for (auto& a : impl_->args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  char** env = environ;
  if (options.env) {
    env_strings.reserve(options.env->size());
    for (const auto& [name, value] : *options.env) env_strings.push_back(name + "=" + value);
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    env = envp.data();
  }

  pid_t pid = -1;
  if (int e = posix_spawnp(&pid, argv[0], &sp.actions, &sp.attr, argv.data(), env))
    throw_errno(e, "posix_spawn " + impl_->args[0]);
  impl_->pid = pid;
  impl_->loop = &loop;
  impl_->io_loop = &loop;

  // The parent keeps its ends; `closer` closes the child's ends and the copies.
  for (int fd : {parent_in, parent_out, parent_err})
    if (fd >= 0) closer.release(fd);
  try {
    if (parent_in >= 0) impl_->stdin_stream = std::make_unique<iostream::PipeIOStream>(std::exchange(parent_in, -1));
    if (parent_out >= 0) impl_->stdout_stream = std::make_unique<iostream::PipeIOStream>(std::exchange(parent_out, -1));
    if (parent_err >= 0) impl_->stderr_stream = std::make_unique<iostream::PipeIOStream>(std::exchange(parent_err, -1));
  } catch (...) {
    for (int fd : {parent_in, parent_out, parent_err})
      if (fd >= 0) ::close(fd);
    // The child runs; it is reaped as any Subprocess destroyed before it exits.
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    impl_->loop = nullptr;
    impl_->alive = false;
    r.waiting[pid] = impl_;
    try_cleanup_process_locked(r, pid);
    throw;
  }
}

Subprocess::~Subprocess() {
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    check_fork_locked(r);
    // From now on the reaper reports nothing to this object or its loop; it still reaps.
    impl_->loop = nullptr;
    if (!impl_->reaped) {
      r.waiting[impl_->pid] = impl_;
      try_cleanup_process_locked(r, impl_->pid);
    }
  }
  impl_->alive = false;
  for (auto& [future, raise_error] : std::exchange(impl_->exit_futures, {})) future.cancel();
  impl_->exit_callback = nullptr;
  impl_->stdin_stream.reset();
  impl_->stdout_stream.reset();
  impl_->stderr_stream.reset();
}

int Subprocess::pid() const noexcept { return impl_->pid; }
const std::vector<std::string>& Subprocess::args() const noexcept { return impl_->args; }
std::optional<int> Subprocess::returncode() const noexcept { return impl_->returncode; }
iostream::PipeIOStream* Subprocess::stdin_stream() const noexcept { return impl_->stdin_stream.get(); }
iostream::PipeIOStream* Subprocess::stdout_stream() const noexcept { return impl_->stdout_stream.get(); }
iostream::PipeIOStream* Subprocess::stderr_stream() const noexcept { return impl_->stderr_stream.get(); }

void Subprocess::watch_exit() {
  initialize();
  Registry& r = registry();
  {
    std::lock_guard lock(r.mutex);
    check_fork_locked(r);
    if (!impl_->reaped) {
      r.waiting[impl_->pid] = impl_;
      try_cleanup_process_locked(r, impl_->pid);
      return;
    }
  }
  // Already reaped. If the exit was reported already, report it again for whoever came since;
  // otherwise the report is on its way (queued on the loop) and will find them.
  if (impl_->returncode) {
    impl_->io_loop->add_callback([impl = impl_] { impl->deliver(); });
  }
}

void Subprocess::set_exit_callback(util::UniqueFunction<void(int)> callback) {
  impl_->exit_callback = std::move(callback);
  watch_exit();
}

Future<int> Subprocess::wait_for_exit(bool raise_error) {
  Future<int> future;
  impl_->exit_futures.emplace_back(future, raise_error);
  watch_exit();
  return future;
}

void Subprocess::send_signal(int sig) {
  Registry& r = registry();
  // Under the lock nobody reaps the child meanwhile, so its pid cannot be reused before kill().
  std::lock_guard lock(r.mutex);
  check_fork_locked(r);
  if (impl_->reaped) return;
  if (::kill(impl_->pid, sig) != 0 && errno != ESRCH) throw_errno(errno, "kill");
}

void Subprocess::terminate() { send_signal(SIGTERM); }
void Subprocess::kill() { send_signal(SIGKILL); }

int Subprocess::wait() {
  if (impl_->returncode) return *impl_->returncode;
  Registry& r = registry();
  int status = 0;
  bool known = false;
  {
    std::lock_guard lock(r.mutex);
    check_fork_locked(r);
    // Taken out of the reaper's hands: this thread reaps it now.
    r.waiting.erase(impl_->pid);
    if (impl_->reaped) {
      status = impl_->status;
      known = true;
    }
  }
  if (!known) {
    pid_t ret;
    do ret = ::waitpid(impl_->pid, &status, 0);
    while (ret < 0 && errno == EINTR);
    if (ret < 0) {
      if (errno != ECHILD) throw_errno(errno, "waitpid");
      // Reaped behind our back (SIGCHLD ignored, say): the status is lost; Popen.wait says 0.
      status = 0;
    }
    std::lock_guard lock(r.mutex);
    impl_->reaped = true;
    impl_->status = status;
  }
  impl_->set_returncode(status);
  return *impl_->returncode;
}

}  // namespace tornado::process
