// tornado.process: forking the server into several processes, and child processes watched from the
// IOLoop. Mirrors tornado.process. POSIX only, as Tornado's (fork, SIGCHLD).
module;
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>
export module tornado.process;

export import tornado.concurrent;
export import tornado.iostream;

export namespace tornado::process {

/// A child process exited with a non-zero status: what Subprocess::wait_for_exit fails with.
/// Mirrors subprocess.CalledProcessError (which tornado.process re-exports).
class CalledProcessError : public std::runtime_error {
 public:
  /// @param returncode  the exit status, or minus the signal number that killed the process.
  /// @param cmd         the program and its arguments.
  CalledProcessError(int returncode, std::vector<std::string> cmd);
  /// The exit status, or -N if signal N killed the process. Mirrors CalledProcessError.returncode.
  int returncode;
  /// The command that ran, program first. Mirrors CalledProcessError.cmd (Tornado passes
  /// "unknown"; the arguments are known here).
  std::vector<std::string> cmd;
};

/// The number of processors online, at least 1 (an error is logged on gen_log if it cannot be
/// found out, and 1 returned). Mirrors tornado.process.cpu_count.
int cpu_count();

/// Forks `num_processes` worker processes, and supervises them from this one.
///
/// In each child, returns its task id, a number from 0 to num_processes - 1 (task_id() gives it
/// too). The parent never returns: it waits for its children, restarts (with the same task id)
/// each one that exits abnormally, by a signal or with a non-zero status, and calls
/// `std::exit(0)` once every child has exited with status 0 (Tornado calls sys.exit(0): C++
/// runs atexit functions and static destructors then, but does not unwind the stack).
/// Standard streams (stdio and std::cout/cerr) are flushed before each fork, so buffered output
/// is not written twice.
///
/// Call it early, before any IOLoop exists or any thread starts (a child gets only the calling
/// thread, and would share an existing loop's poller with its parent); bind the listening
/// sockets first (netutil::bind_sockets) so that every child accepts on them.
///
/// @param num_processes  how many children; 0 or less: one per CPU (cpu_count()), as Tornado's
///                       None or <= 0.
/// @param max_restarts   how many abnormal exits, in all, are answered with a restart (unset:
///                       100). One more makes the parent give up.
/// @returns the task id, in a child.
/// @throws std::runtime_error("Too many child restarts, giving up") in the parent past
///         max_restarts (the children still running are left running, as in Tornado);
///         std::logic_error if this process was itself made by fork_processes (Tornado asserts);
///         std::system_error if fork() or wait() fails.
/// Mirrors tornado.process.fork_processes.
int fork_processes(int num_processes, std::optional<int> max_restarts = std::nullopt);

/// The task id fork_processes gave this process, or nullopt if fork_processes did not make it.
/// Mirrors tornado.process.task_id.
std::optional<int> task_id() noexcept;

/// Where a Subprocess's standard input, output or error goes: inherited from this process (the
/// default, Python's None), a new pipe read or written through a PipeIOStream
/// (Subprocess::STREAM), the child's standard output (Subprocess::STDOUT, for stderr only),
/// /dev/null (Subprocess::DEVNULL), or a descriptor of this process (any int >= 0; it is
/// duplicated into the child and stays open, and owned by the caller, here).
/// Mirrors the values Popen's stdin, stdout and stderr arguments take.
class Redirect {
 public:
  enum class Kind : std::uint8_t { inherit, stream, to_stdout, devnull, fd };

  /// Inherit the parent's descriptor.
  constexpr Redirect() noexcept = default;
  /// Connect the child's descriptor to this process's descriptor `fd` (which must be >= 0).
  constexpr Redirect(int fd) noexcept : kind_(Kind::fd), fd_(fd) {}  // NOLINT: implicit, as Popen's stdout=fd
  /// One of the other kinds (`fd` needs the int constructor).
  constexpr explicit Redirect(Kind kind) noexcept : kind_(kind) {}

  constexpr Kind kind() const noexcept { return kind_; }
  /// The descriptor, for Kind::fd; -1 otherwise.
  constexpr int fd() const noexcept { return fd_; }

 private:
  Kind kind_ = Kind::inherit;
  int fd_ = -1;
};

/// What Subprocess takes besides its arguments: Popen's keyword arguments that apply.
/// (The C library defines stdin, stdout and stderr as macros, hence the field names.)
struct SubprocessOptions {
  /// The child's standard input. Mirrors Popen(stdin=).
  Redirect std_in;
  /// The child's standard output. Mirrors Popen(stdout=).
  Redirect std_out;
  /// The child's standard error; Subprocess::STDOUT sends it wherever std_out goes.
  /// Mirrors Popen(stderr=).
  Redirect std_err;
  /// The child's whole environment, as names and values; unset: this process's environment.
  /// Mirrors Popen(env=).
  std::optional<std::map<std::string, std::string>> env;
  /// The directory the child runs in (a relative program path is looked up from there); unset:
  /// this process's. Mirrors Popen(cwd=).
  std::optional<std::string> cwd;
};

/// A child process running a program, with its standard streams available as PipeIOStreams and
/// its exit reported on the IOLoop. Mirrors tornado.process.Subprocess (which wraps
/// subprocess.Popen).
///
///     process::Subprocess proc({"ls", "-l"}, {.std_out = process::Subprocess::STREAM});
///     std::string listing = co_await proc.stdout_stream()->read_until_close();
///     int status = co_await proc.wait_for_exit();   // throws CalledProcessError if non-zero
///
/// The program is started with posix_spawnp (searched on PATH when it has no '/'), with the
/// descriptors of this process other than the three standard ones closed (Popen's close_fds; on
/// glibc 2.34 and later: elsewhere only the close-on-exec ones, which are all this library opens),
/// no signal blocked, and SIGPIPE and SIGXFSZ back to their default action (Popen's
/// restore_signals). Exits are learnt through a SIGCHLD handler (see initialize()): the process
/// must not also reap its children some other way (SIGCHLD ignored, wait(-1) elsewhere).
///
/// A Subprocess belongs to the IOLoop current where it was made, which must outlive it, and is
/// used on that loop's thread. Destroying it closes its streams, cancels the futures of
/// wait_for_exit still pending, and drops the exit callback; the child is not killed (as with
/// Popen), but it is still reaped when it exits, so it never lingers as a zombie once the
/// SIGCHLD handler is installed (or, without one, once another Subprocess is made).
class Subprocess {
 public:
  /// A new pipe, available as stdin_stream(), stdout_stream() or stderr_stream().
  /// Mirrors Subprocess.STREAM.
  static constexpr Redirect STREAM{Redirect::Kind::stream};
  /// For std_err: the same place as the child's standard output. Mirrors subprocess.STDOUT.
  static constexpr Redirect STDOUT{Redirect::Kind::to_stdout};
  /// /dev/null. Mirrors subprocess.DEVNULL.
  static constexpr Redirect DEVNULL{Redirect::Kind::devnull};
  /// The parent's own descriptor (the default). Mirrors Popen's None.
  static constexpr Redirect INHERIT{};

  /// Starts `args[0]` with arguments `args`.
  /// @throws std::invalid_argument if `args` is empty, a Redirect descriptor is negative, or
  ///         std_in is STDOUT; std::system_error if the program cannot be started (ENOENT when
  ///         it does not exist, EACCES...) or pipes cannot be made. Nothing is left open then.
  /// Mirrors Subprocess(args, stdin=, stdout=, stderr=, env=, cwd=).
  explicit Subprocess(std::vector<std::string> args, SubprocessOptions options = {});
  /// See the class comment: closes the streams, cancels pending waits; does not kill the child.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  /// The child's process id. Mirrors Subprocess.pid.
  int pid() const noexcept;
  /// The program and its arguments, as given.
  const std::vector<std::string>& args() const noexcept;
  /// The exit status once the exit has been reported (by the exit callback's time, or wait()),
  /// -N if signal N killed the child; nullopt before. Mirrors Subprocess.returncode.
  std::optional<int> returncode() const noexcept;

  /// The stream writing to the child's standard input, if it was STREAM; null otherwise. The
  /// Subprocess owns it; close it (stdin_stream()->close()) to give the child end of file.
  /// Mirrors Subprocess.stdin.
  iostream::PipeIOStream* stdin_stream() const noexcept;
  /// The stream reading the child's standard output, if it was STREAM; null otherwise.
  /// Mirrors Subprocess.stdout.
  iostream::PipeIOStream* stdout_stream() const noexcept;
  /// The stream reading the child's standard error, if it was STREAM; null otherwise.
  /// Mirrors Subprocess.stderr.
  iostream::PipeIOStream* stderr_stream() const noexcept;

  /// Calls `callback(returncode)` on this Subprocess's IOLoop when the child exits (on a later
  /// iteration; also when it had already exited). Replaces a callback set before. Installs the
  /// SIGCHLD handler on the current loop if it is not installed (initialize()). An exception the
  /// callback throws is logged by the IOLoop. Mirrors Subprocess.set_exit_callback.
  void set_exit_callback(util::UniqueFunction<void(int)> callback);
  /// A future for the child's exit status. With `raise_error`, a non-zero status fails it with
  /// CalledProcessError instead. Each call gives its own future, and none disturbs the exit
  /// callback (in Tornado each call replaces the callback, so only the last future completes).
  /// Installs the SIGCHLD handler as set_exit_callback does. Mirrors Subprocess.wait_for_exit.
  Future<int> wait_for_exit(bool raise_error = true);

  /// Sends signal `sig` to the child, unless it has already been reaped (its pid may belong to
  /// another process by then). @throws std::system_error if kill() fails.
  /// Mirrors Popen.send_signal.
  void send_signal(int sig);
  /// Sends SIGTERM. Mirrors Popen.terminate.
  void terminate();
  /// Sends SIGKILL. Mirrors Popen.kill.
  void kill();
  /// Blocks until the child exits (without running the IOLoop), then reports the exit as the
  /// SIGCHLD handler would, at once: returncode() is set, the futures of wait_for_exit complete
  /// (their waiters run later, on the loop), and the exit callback is called from here.
  /// @returns returncode(). If the child was reaped elsewhere, behind this process's back,
  /// its status is lost and 0 is returned, as Python does. Mirrors Popen.wait.
  int wait();

  /// Installs the SIGCHLD handler, watched from the current IOLoop: the handler only writes a
  /// byte to a non-blocking pipe (all a signal handler may safely do); the loop reads it and
  /// reaps, with waitpid(WNOHANG), every Subprocess waiting for its exit (whatever loop or
  /// thread they belong to: each exit is reported on its Subprocess's own loop). Children not
  /// made by Subprocess are left alone. Does nothing if already installed; if the loop it was
  /// watched from has been closed since, the current loop takes over the watch.
  /// Call uninitialize() (on this thread) before this loop is closed to leave no trace in it.
  /// @throws std::system_error if the pipe or the handler cannot be made.
  /// Mirrors Subprocess.initialize.
  static void initialize();
  /// Restores the SIGCHLD disposition found by initialize() and stops watching. Does nothing
  /// if not installed. Exits that happen meanwhile are reported once initialize() (or
  /// set_exit_callback, or wait_for_exit) is called again.
  /// @throws std::logic_error if called on another thread than the loop watching.
  /// Mirrors Subprocess.uninitialize.
  static void uninitialize();

  struct Impl;

 private:
  void watch_exit();
  std::shared_ptr<Impl> impl_;
};

}  // namespace tornado::process
