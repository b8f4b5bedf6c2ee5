// tornado.log: the three loggers Tornado logs to, levels, handlers and filters, and Tornado's
// LogFormatter line format. Mirrors tornado.log plus the parts of Python's logging it relies on.
module;
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <source_location>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
export module tornado.log;

export namespace tornado::log {

/// Severity of a record; the numbers are Python logging's, so thresholds read the same.
enum class Level : int { NOTSET = 0, DEBUG = 10, INFO = 20, WARNING = 30, ERROR = 40, CRITICAL = 50 };

/// "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL" (or "NOTSET").
std::string_view level_name(Level level) noexcept;

/// Writes level_name(level), so that levels print by name in messages and test reports.
std::ostream& operator<<(std::ostream& out, Level level);

/// Parses a level name as `--logging=` takes it ("debug", "INFO", "warning", "none"...).
/// Sets `ok` to false, and returns Level::NOTSET, when it is not one. "none" gives NOTSET with
/// `ok` true: Tornado's way of saying "leave logging alone" (see enable_pretty_logging).
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
  std::exception_ptr exc;     ///< the exception being logged itself, or null (logging's exc_info)
};

/// A filter returns false to drop a record before it reaches any handler.
using Filter = std::function<bool(const LogRecord&)>;
/// A handler writes a record somewhere (stderr, a file, a test's capture).
using Handler = std::function<void(const LogRecord&)>;

/// A format string that remembers where it was written, so records carry `file:line`.
///
/// With arguments, each `{}` in the text is replaced by the next argument (written with
/// `operator<<`; `bool` as true/false, a null `const char*` as "(null)"), and `{{` and `}}` stand
/// for literal braces; arguments left over are appended, separated by spaces, and `{}` left over
/// stay as they are. Without arguments the text is used as it is, braces included, as Python's
/// logging leaves `%` alone when a call has no arguments.
struct FormatString {
  std::string_view text;
  std::source_location location;
  template <class S, class = std::enable_if_t<std::is_convertible_v<const S&, std::string_view>>>
  FormatString(const S& s,  // NOLINT: implicit by design
               std::source_location loc = std::source_location::current())
      : text(s), location(loc) {}
};

namespace detail {
/// Copies `text` from `pos` to `out` up to the next `{}` (turning `{{`/`}}` into braces) and
/// moves `pos` past it. @returns false (having copied the rest) if there is no `{}` left.
bool copy_until_field(std::ostringstream& out, std::string_view text, std::size_t& pos);

template <class A>
void append_arg(std::ostringstream& out, const A& a) {
  if constexpr (std::is_same_v<A, bool>) {
    out << (a ? "true" : "false");
  } else if constexpr (std::is_convertible_v<const A&, const char*> && !std::is_array_v<A>) {
    const char* p = a;
    out << (p ? p : "(null)");
  } else {
    out << a;
  }
}

/// Formats a log message as FormatString describes.
template <class... A>
std::string format(std::string_view text, const A&... args) {
  if constexpr (sizeof...(A) == 0) {
    return std::string(text);
  } else {
    std::ostringstream out;
    std::size_t pos = 0;
    bool first = true;
    auto next = [&](const auto& a) {
      if (pos < text.size() && copy_until_field(out, text, pos)) {
        // a `{}` took it
      } else if (!first || !text.empty()) {
        out << ' ';
      }
      first = false;
      append_arg(out, a);
    };
    (next(args), ...);
    while (pos < text.size()) {
      if (copy_until_field(out, text, pos)) out << "{}";
    }
    return std::move(out).str();
  }
}
}  // namespace detail

/// A named logger. Loggers form a tree by dotted name ("tornado.application" is a child of
/// "tornado", itself a child of the root logger ""); a record is offered to its logger's handlers
/// and then, while `propagate` is true, to each ancestor's. Only the level of the logger a record
/// is logged on matters: ancestors' levels do not stop propagated records (as in Python).
/// Every method is thread-safe; handlers are called one record at a time, under a lock, so
/// lines from several threads never interleave. Mirrors logging.Logger.
/// Loggers live for the whole program; get one with get_logger().
class Logger {
 public:
  std::string_view name() const noexcept { return name_; }

  /// This logger's own threshold; NOTSET defers to the parent's. Mirrors Logger.level.
  Level level() const noexcept;
  /// Mirrors Logger.setLevel.
  void set_level(Level level) noexcept;
  /// The threshold in force: the first level that is not NOTSET up the tree (root: WARNING).
  /// Mirrors Logger.getEffectiveLevel.
  Level effective_level() const noexcept;
  /// Whether a record of `level` logged here would be emitted. Mirrors Logger.isEnabledFor.
  bool is_enabled_for(Level level) const noexcept { return level >= effective_level(); }

  /// Adds a filter checked for records logged on this logger (not for propagated ones).
  /// @returns an id for remove_filter. Mirrors Logger.addFilter.
  std::size_t add_filter(Filter filter);
  /// Removes a filter; an unknown id is ignored. Mirrors Logger.removeFilter.
  void remove_filter(std::size_t id);
  /// Adds a handler that receives this logger's records and its descendants' propagated ones.
  /// A handler that throws is skipped; the others still run.
  /// @returns an id for remove_handler. Mirrors Logger.addHandler.
  std::size_t add_handler(Handler handler);
  /// Removes a handler; an unknown id is ignored. Mirrors Logger.removeHandler.
  void remove_handler(std::size_t id);
  /// Removes every handler of this logger (not its ancestors').
  void remove_all_handlers();
  /// How many handlers this logger itself has. Mirrors len(Logger.handlers).
  std::size_t handler_count() const;
  /// Whether a record logged here would reach any handler: this logger's or, following
  /// `propagate`, an ancestor's. Mirrors Logger.hasHandlers.
  bool has_handlers() const;
  /// When false, records stop at this logger's handlers. Default true. Mirrors Logger.propagate.
  std::atomic<bool> propagate{true};

  /// Builds a record and dispatches it, whatever the level. `exc` (may be null) is kept in the
  /// record and described into `exc_text`. Mirrors Logger.handle(makeRecord(...)).
  void emit(Level level, std::string message, std::source_location loc,
            std::exception_ptr exc = nullptr);

  /// Logs `fmt` formatted with `args` at `level`, if enabled (the arguments are not formatted
  /// otherwise). Mirrors Logger.log.
  template <class... A>
  void log(Level level, FormatString fmt, const A&... args) {
    if (is_enabled_for(level)) emit(level, detail::format(fmt.text, args...), fmt.location);
  }
  /// Mirrors Logger.debug.
  template <class... A>
  void debug(FormatString fmt, const A&... args) { log(Level::DEBUG, fmt, args...); }
  /// Mirrors Logger.info.
  template <class... A>
  void info(FormatString fmt, const A&... args) { log(Level::INFO, fmt, args...); }
  /// Mirrors Logger.warning.
  template <class... A>
  void warning(FormatString fmt, const A&... args) { log(Level::WARNING, fmt, args...); }
  /// Mirrors Logger.error.
  template <class... A>
  void error(FormatString fmt, const A&... args) { log(Level::ERROR, fmt, args...); }
  /// Mirrors Logger.critical.
  template <class... A>
  void critical(FormatString fmt, const A&... args) { log(Level::CRITICAL, fmt, args...); }
  /// Logs at ERROR with the exception currently being handled (inside a `catch`) attached;
  /// outside a `catch` no exception is attached. Mirrors logging.Logger.exception.
  template <class... A>
  void exception(FormatString fmt, const A&... args) {
    auto exc = std::current_exception();
    if (is_enabled_for(Level::ERROR))
      emit(Level::ERROR, detail::format(fmt.text, args...), fmt.location, exc);
  }
  /// Logs at `level` with the given exception attached (Python's `exc_info=`).
  template <class... A>
  void log_exception(Level level, std::exception_ptr exc, FormatString fmt, const A&... args) {
    if (is_enabled_for(level)) emit(level, detail::format(fmt.text, args...), fmt.location, exc);
  }

  struct Impl;
  Logger(std::string name, std::unique_ptr<Impl> impl);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  friend void enable_pretty_logging(Level level, Logger& logger);

 private:
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

/// Returns the logger with this dotted name, creating it (and its missing ancestors) on first
/// use; "" is the root logger. Thread-safe. Mirrors logging.getLogger.
Logger& get_logger(std::string_view name = "");

/// "tornado.access": one line per completed HTTP request. Mirrors tornado.log.access_log.
Logger& access_log();
/// "tornado.application": errors from application code (uncaught exceptions in callbacks and
/// handlers). Mirrors tornado.log.app_log.
Logger& app_log();
/// "tornado.general": everything else Tornado itself reports (bad requests, I/O errors).
/// Mirrors tornado.log.gen_log.
Logger& gen_log();

/// Formats records as Tornado does: by default `[I 261121 12:00:00 module:line] message`, the
/// bracketed prefix coloured by level when colours are on (blue debug, green info, yellow
/// warning, red error, magenta critical), and the exception, if any, on the following lines.
/// Every line after the first is indented by four spaces. Bytes of the message that are not
/// valid UTF-8 are written as `\xNN` escapes, so the output is always valid UTF-8 (Tornado's
/// "robust against str/bytes encoding problems"). Thread-safe. Mirrors tornado.log.LogFormatter.
class LogFormatter {
 public:
  /// Tornado's line format, in Python's `%`-style: `%(name)s` fields with optional `-` flag,
  /// width and `.precision`, conversions `s`, `d`, `i` and `f`, and `%%` for a percent sign.
  /// Fields: color, end_color, levelname, levelno, asctime, module, filename, pathname, lineno,
  /// name, message, created, msecs, process.
  static constexpr std::string_view DEFAULT_FORMAT =
      "%(color)s[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d]%(end_color)s %(message)s";
  /// strftime format of `%(asctime)s`, in local time.
  static constexpr std::string_view DEFAULT_DATE_FORMAT = "%y%m%d %H:%M:%S";
  /// Terminal colour numbers by level (ANSI `3N` foreground): Tornado's DEFAULT_COLORS.
  static std::map<Level, int> default_colors();

  /// The default format, coloured (with ANSI escapes) when `color` is true. Unlike Tornado,
  /// which also checks that stderr is a terminal, `color` here is obeyed as given: the caller
  /// decides from where the lines go (see stream_supports_color).
  explicit LogFormatter(bool color = false);
  /// A formatter with its own format. Mirrors LogFormatter(fmt, datefmt, color=, colors=).
  /// @param fmt      the line format (see DEFAULT_FORMAT for its syntax).
  /// @param datefmt  strftime format of `%(asctime)s`.
  /// @param color    fill `%(color)s` and `%(end_color)s` with ANSI escapes.
  /// @param colors   terminal colour numbers by level; levels missing here are not coloured.
  /// @throws std::invalid_argument if `fmt` is malformed or names an unknown field.
  LogFormatter(std::string_view fmt, std::string_view datefmt = DEFAULT_DATE_FORMAT,
               bool color = false, const std::map<Level, int>& colors = default_colors());
  /// As above; spelled out so that a string literal picks this constructor, not LogFormatter(bool).
  LogFormatter(const char* fmt, std::string_view datefmt = DEFAULT_DATE_FORMAT, bool color = false,
               const std::map<Level, int>& colors = default_colors())
      : LogFormatter(std::string_view(fmt), datefmt, color, colors) {}

  /// The record as one string (several lines if it carries an exception), without a final
  /// newline. Mirrors LogFormatter.format.
  std::string format(const LogRecord& record) const;
  /// The record's time formatted with the date format, in local time. Mirrors formatTime.
  std::string format_time(const LogRecord& record) const;

  /// Internal: one piece of a parsed format, literal text or a field.
  struct Part {
    int field = -1;     // -1: literal `text`
    std::string text;
    bool left = false;  // the `-` flag
    bool zero = false;  // the `0` flag
    int width = -1;
    int precision = -1;
    char conversion = 's';
  };

 private:
  std::vector<Part> parts_;
  std::string datefmt_;
  std::map<Level, std::string> colors_;
  std::string normal_;
};

/// Replaces each byte of `text` that is not part of valid UTF-8 by a `\xNN` escape (Python's
/// "backslashreplace"); valid text comes back unchanged.
std::string safe_unicode(std::string_view text);

/// Whether file descriptor `fd` is a terminal that understands colours (isatty, and TERM set and
/// not "dumb"). Mirrors tornado.log._stderr_supports_color for any descriptor.
bool stream_supports_color(int fd) noexcept;

/// Sends records of `level` and above logged on `logger` (and its descendants) to standard error
/// through a LogFormatter, coloured when stderr is a terminal: sets the logger's level and
/// installs one stderr handler. Calling it again replaces the handler it installed before
/// (so lines are never doubled); other handlers are left alone. `Level::NOTSET` (what
/// parse_level makes of "none") leaves logging untouched, as `--logging=none` does in Tornado.
/// Mirrors tornado.log.enable_pretty_logging(options, logger) without file output.
void enable_pretty_logging(Level level, Logger& logger);
/// enable_pretty_logging on the root logger. Mirrors tornado.log.enable_pretty_logging().
void enable_pretty_logging(Level level = Level::INFO);

}  // namespace tornado::log
