// tornado.log: the three loggers Tornado logs to, levels, handlers and filters, and Tornado's
// LogFormatter line format. Mirrors tornado.log plus the parts of Python's logging it relies on.
module;
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <source_location>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
export module tornado.log;

export namespace tornado::log {

/// Severity of a record; the numbers are Python logging's, so thresholds read the same.
enum class Level : int { NOTSET = 0, DEBUG = 10, INFO = 20, WARNING = 30, ERROR = 40, CRITICAL = 50 };

/// "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL" (or "NOTSET").
std::string_view level_name(Level level) noexcept;

/// Parses a level name as `--logging=` takes it ("debug", "INFO", "warning", "none"...).
/// Sets `ok` to false, and returns Level::NOTSET, when it is not one.
Level parse_level(std::string_view name, bool& ok) noexcept;

/// One log event, as handed to handlers and filters. Mirrors logging.LogRecord.
struct LogRecord {
  std::string_view name;      ///< the logger's dotted name, e.g. "tornado.application"
  Level level = Level::INFO;
  std::string message;        ///< the formatted message
  std::string_view file;      ///< source file of the call
  std::uint32_t line = 0;     ///< source line of the call
  double created = 0;         ///< wall-clock time, seconds since the Unix epoch
  std::string exc_text;       ///< the exception being logged, described, or empty
};

/// A filter returns false to drop a record before it reaches any handler.
using Filter = std::function<bool(const LogRecord&)>;
/// A handler writes a record somewhere (stderr, a file, a test's capture).
using Handler = std::function<void(const LogRecord&)>;

/// A format string that remembers where it was written, so records carry `file:line`.
/// `{}` in the text is replaced by the next argument (written with `operator<<`).
struct FormatString {
  std::string_view text;
  std::source_location location;
  template <class S, class = std::enable_if_t<std::is_convertible_v<const S&, std::string_view>>>
  FormatString(const S& s,  // NOLINT: implicit by design
               std::source_location loc = std::source_location::current())
      : text(s), location(loc) {}
};

namespace detail {
inline void append_arg(std::ostringstream& out, const auto& a) { out << a; }
template <class... A>
std::string format(std::string_view text, const A&... args) {
  if constexpr (sizeof...(A) == 0) {
    return std::string(text);
  } else {
    std::ostringstream out;
    std::size_t pos = 0;
    auto next = [&](const auto& a) {
      auto brace = text.find("{}", pos);
      if (brace == std::string_view::npos) {
        out << text.substr(pos);
        pos = text.size();
        out << ' ';
      } else {
        out << text.substr(pos, brace - pos);
        pos = brace + 2;
      }
      append_arg(out, a);
    };
    (next(args), ...);
    out << text.substr(pos);
    return std::move(out).str();
  }
}
}  // namespace detail

/// A named logger. Loggers form a tree by dotted name ("tornado.application" is a child of
/// "tornado", itself a child of the root logger ""); a record is offered to its logger's handlers
/// and then, while `propagate` is true, to each ancestor's. Mirrors logging.Logger.
/// Loggers live for the whole program; get one with get_logger().
class Logger {
 public:
  std::string_view name() const noexcept { return name_; }

  /// This logger's own threshold; NOTSET defers to the parent's.
  Level level() const noexcept;
  void set_level(Level level) noexcept;
  /// The threshold in force: the first level that is not NOTSET up the tree (root: WARNING).
  Level effective_level() const noexcept;
  bool is_enabled_for(Level level) const noexcept { return level >= effective_level(); }

  /// Adds a filter checked for records logged on this logger (not for propagated ones).
  /// @returns an id for remove_filter.
  std::size_t add_filter(Filter filter);
  void remove_filter(std::size_t id);
  /// Adds a handler that receives this logger's records and its descendants' propagated ones.
  /// @returns an id for remove_handler.
  std::size_t add_handler(Handler handler);
  void remove_handler(std::size_t id);
  void remove_all_handlers();
  /// When false, records stop at this logger's handlers. Default true.
  bool propagate = true;

  /// Builds a record and dispatches it. `exc` (may be null) is described into `exc_text`.
  void emit(Level level, std::string message, std::source_location loc,
            std::exception_ptr exc = nullptr);

  template <class... A>
  void log(Level level, FormatString fmt, const A&... args) {
    if (is_enabled_for(level)) emit(level, detail::format(fmt.text, args...), fmt.location);
  }
  template <class... A>
  void debug(FormatString fmt, const A&... args) { log(Level::DEBUG, fmt, args...); }
  template <class... A>
  void info(FormatString fmt, const A&... args) { log(Level::INFO, fmt, args...); }
  template <class... A>
  void warning(FormatString fmt, const A&... args) { log(Level::WARNING, fmt, args...); }
  template <class... A>
  void error(FormatString fmt, const A&... args) { log(Level::ERROR, fmt, args...); }
  template <class... A>
  void critical(FormatString fmt, const A&... args) { log(Level::CRITICAL, fmt, args...); }
  /// Logs at ERROR with the exception currently being handled (inside a `catch`) attached.
  /// Mirrors logging.Logger.exception.
  template <class... A>
  void exception(FormatString fmt, const A&... args) {
    auto exc = std::current_exception();
    if (is_enabled_for(Level::ERROR))
      emit(Level::ERROR, detail::format(fmt.text, args...), fmt.location, exc);
  }
  /// Logs at `level` with the given exception attached.
  template <class... A>
  void log_exception(Level level, std::exception_ptr exc, FormatString fmt, const A&... args) {
    if (is_enabled_for(level)) emit(level, detail::format(fmt.text, args...), fmt.location, exc);
  }

  struct Impl;
  Logger(std::string name, std::unique_ptr<Impl> impl);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

 private:
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

/// Returns the logger with this dotted name, creating it on first use; "" is the root logger.
/// Thread-safe. Mirrors logging.getLogger.
Logger& get_logger(std::string_view name = "");

/// "tornado.access": one line per completed HTTP request. Mirrors tornado.log.access_log.
Logger& access_log();
/// "tornado.application": errors from application code (uncaught exceptions in callbacks and
/// handlers). Mirrors tornado.log.app_log.
Logger& app_log();
/// "tornado.general": everything else Tornado itself reports (bad requests, I/O errors).
/// Mirrors tornado.log.gen_log.
Logger& gen_log();

/// Formats records as Tornado does: `[I 261121 12:00:00 module:line] message`, the bracketed
/// prefix coloured by level when `color` is true (blue debug, green info, yellow warning, red
/// error), and the exception, if any, on the following lines. Mirrors tornado.log.LogFormatter.
class LogFormatter {
 public:
  /// @param color  colour the prefix with ANSI escapes.
  explicit LogFormatter(bool color = false) : color_(color) {}
  std::string format(const LogRecord& record) const;

 private:
  bool color_;
};

/// Whether file descriptor `fd` is a terminal that understands colours (isatty and TERM set).
bool stream_supports_color(int fd) noexcept;

/// Sends records of `level` and above to standard error through a LogFormatter (coloured on a
/// terminal), replacing the root logger's handlers. Mirrors tornado.log.enable_pretty_logging.
void enable_pretty_logging(Level level = Level::INFO);

}  // namespace tornado::log
