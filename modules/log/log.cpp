module;
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <source_location>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
module tornado.log;

import tornado.util;

namespace tornado::log {

namespace {
// One lock for the logger tree, the filter and handler lists, and emitting: logging is rare
// enough on hot paths (they check is_enabled_for first) that one mutex costs nothing measurable,
// and it keeps lines from two threads from interleaving. Recursive, since a handler or filter
// may itself log (ExpectLog warns about a record at the wrong level).
std::recursive_mutex& tree_mutex() {
  static std::recursive_mutex m;
  return m;
}
}  // namespace

namespace detail {
bool copy_until_field(std::ostringstream& out, std::string_view text, std::size_t& pos) {
  while (pos < text.size()) {
    char c = text[pos];
    if (c == '{' && pos + 1 < text.size()) {
      if (text[pos + 1] == '}') {
        pos += 2;
        return true;
      }
      if (text[pos + 1] == '{') {
        out << '{';
        pos += 2;
        continue;
      }
    } else if (c == '}' && pos + 1 < text.size() && text[pos + 1] == '}') {
      out << '}';
      pos += 2;
      continue;
    }
    out << c;
    ++pos;
  }
  return false;
}
}  // namespace detail

struct Logger::Impl {
  std::atomic<int> level{0};
  Logger* parent = nullptr;
  std::vector<std::pair<std::size_t, Filter>> filters;
  std::vector<std::pair<std::size_t, Handler>> handlers;
  std::size_t next_id = 1;
  std::size_t pretty_handler = 0;  // the handler enable_pretty_logging installed, or 0
};

Logger::Logger(std::string name, std::unique_ptr<Impl> impl)
    : name_(std::move(name)), impl_(std::move(impl)) {}
Logger::~Logger() = default;

Level Logger::level() const noexcept { return static_cast<Level>(impl_->level.load(std::memory_order_relaxed)); }
void Logger::set_level(Level level) noexcept { impl_->level.store(static_cast<int>(level), std::memory_order_relaxed); }

Level Logger::effective_level() const noexcept {
  // Parents are fixed when a logger is made, so the walk needs no lock.
  for (const Logger* l = this; l; l = l->impl_->parent) {
    int v = l->impl_->level.load(std::memory_order_relaxed);
    if (v != 0) return static_cast<Level>(v);
  }
  return Level::WARNING;
}

std::size_t Logger::add_filter(Filter filter) {
  std::lock_guard lock(tree_mutex());
  auto id = impl_->next_id++;
  impl_->filters.emplace_back(id, std::move(filter));
  return id;
}
void Logger::remove_filter(std::size_t id) {
  std::lock_guard lock(tree_mutex());
  std::erase_if(impl_->filters, [id](auto& f) { return f.first == id; });
}
std::size_t Logger::add_handler(Handler handler) {
  std::lock_guard lock(tree_mutex());
  auto id = impl_->next_id++;
  impl_->handlers.emplace_back(id, std::move(handler));
  return id;
}
void Logger::remove_handler(std::size_t id) {
  std::lock_guard lock(tree_mutex());
  std::erase_if(impl_->handlers, [id](auto& h) { return h.first == id; });
  if (impl_->pretty_handler == id) impl_->pretty_handler = 0;
}
void Logger::remove_all_handlers() {
  std::lock_guard lock(tree_mutex());
  impl_->handlers.clear();
  impl_->pretty_handler = 0;
}
std::size_t Logger::handler_count() const {
  std::lock_guard lock(tree_mutex());
  return impl_->handlers.size();
}
bool Logger::has_handlers() const {
  std::lock_guard lock(tree_mutex());
  for (const Logger* l = this; l; l = l->impl_->parent) {
    if (!l->impl_->handlers.empty()) return true;
    if (!l->propagate.load(std::memory_order_relaxed)) break;
  }
  return false;
}

namespace {
void write_stderr(std::string line) {
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// Python's "last resort": with no handler anywhere on the path, WARNING and above still reach
// stderr rather than vanishing.
void last_resort(const LogRecord& r) {
  if (r.level < Level::WARNING) return;
  write_stderr(LogFormatter(false).format(r));
}
}  // namespace

void Logger::emit(Level level, std::string message, std::source_location loc, std::exception_ptr exc) {
  LogRecord r;
  r.name = name_;
  r.level = level;
  r.message = std::move(message);
  r.file = loc.file_name();
  r.line = loc.line();
  r.created = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (exc) {
    r.exc_text = describe_exception(exc);
    r.exc = std::move(exc);
  }

  std::lock_guard lock(tree_mutex());
  {
    // Copy: a filter may remove itself (an ExpectLog going out of scope in a nested call).
    auto filters = impl_->filters;
    for (auto& [id, f] : filters) {
      if (!f(r)) return;
    }
  }
  bool handled = false;
  for (Logger* l = this; l; l = l->impl_->parent) {
    // Copy: a handler may add or remove handlers (a test capturing output, say).
    auto handlers = l->impl_->handlers;
    for (auto& [id, h] : handlers) {
      handled = true;
      try {
        h(r);
      } catch (...) {
        // A failing handler must never take the program down with it, nor hide the record
        // from the other handlers; say so, as Python's logging does.
        try {
          write_stderr("--- Logging error ---\n" + describe_exception(std::current_exception()));
        } catch (...) {
        }
      }
    }
    if (!l->propagate.load(std::memory_order_relaxed)) break;
  }
  if (!handled) last_resort(r);
}

Logger& get_logger(std::string_view name) {
  static std::map<std::string, std::unique_ptr<Logger>, std::less<>> loggers;
  std::lock_guard lock(tree_mutex());
  auto it = loggers.find(name);
  if (it != loggers.end()) return *it->second;
  Logger* parent = nullptr;
  if (!name.empty()) {
    auto dot = name.rfind('.');
    parent = &get_logger(dot == std::string_view::npos ? std::string_view{} : name.substr(0, dot));
  }
  auto impl = std::make_unique<Logger::Impl>();
  impl->parent = parent;
  if (name.empty()) impl->level = static_cast<int>(Level::WARNING);
  auto logger = std::make_unique<Logger>(std::string(name), std::move(impl));
  auto& ref = *logger;
  loggers.emplace(std::string(name), std::move(logger));
  return ref;
}

Logger& access_log() {
  static Logger& l = get_logger("tornado.access");
  return l;
}
Logger& app_log() {
  static Logger& l = get_logger("tornado.application");
  return l;
}
Logger& gen_log() {
  static Logger& l = get_logger("tornado.general");
  return l;
}

std::string_view level_name(Level level) noexcept {
  switch (level) {
    case Level::DEBUG: return "DEBUG";
    case Level::INFO: return "INFO";
    case Level::WARNING: return "WARNING";
    case Level::ERROR: return "ERROR";
    case Level::CRITICAL: return "CRITICAL";
    default: return "NOTSET";
  }
}

std::ostream& operator<<(std::ostream& out, Level level) { return out << level_name(level); }

Level parse_level(std::string_view name, bool& ok) noexcept {
  std::string lower;
  for (char c : name) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  ok = true;
  if (lower == "debug") return Level::DEBUG;
  if (lower == "info") return Level::INFO;
  if (lower == "warning" || lower == "warn") return Level::WARNING;
  if (lower == "error") return Level::ERROR;
  if (lower == "critical") return Level::CRITICAL;
  if (lower == "none" || lower == "notset") return Level::NOTSET;
  ok = false;
  return Level::NOTSET;
}

// ---------------------------------------------------------------------------------------------
// LogFormatter

std::string safe_unicode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0, min = 0;
    if ((c >> 5) == 0x6) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c >> 4) == 0xe) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c >> 3) == 0x1e) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool valid = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) valid = false;
      cp = (cp << 6) | (b & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8 either.
    if (valid && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) valid = false;
    if (valid) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
      ++i;
    }
  }
  return out;
}

namespace {
enum Field : int {
  kColor, kEndColor, kLevelname, kLevelno, kAsctime, kModule, kFilename, kPathname, kLineno,
  kName, kMessage, kCreated, kMsecs, kProcess,
};
constexpr std::pair<std::string_view, Field> kFields[] = {
    {"color", kColor},       {"end_color", kEndColor}, {"levelname", kLevelname},
    {"levelno", kLevelno},   {"asctime", kAsctime},    {"module", kModule},
    {"filename", kFilename}, {"pathname", kPathname},  {"lineno", kLineno},
    {"name", kName},         {"message", kMessage},    {"created", kCreated},
    {"msecs", kMsecs},       {"process", kProcess},
};
bool is_numeric(int f) { return f == kLevelno || f == kLineno || f == kCreated || f == kMsecs || f == kProcess; }

std::string_view basename(std::string_view path) {
  if (auto slash = path.find_last_of("/\\"); slash != std::string_view::npos) path.remove_prefix(slash + 1);
  return path;
}

// Python's str(float): the shortest text that reads back as the same number, with ".0" on
// integral values.
std::string float_str(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, end);
  if (std::isfinite(v) && s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::size_t utf8_length(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

// The first `n` code points of `s`.
std::string_view utf8_prefix(std::string_view s, std::size_t n) {
  std::size_t i = 0;
  for (std::size_t seen = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80 && seen++ == n) break;
  }
  return s.substr(0, i);
}
}  // namespace

std::map<Level, int> LogFormatter::default_colors() {
  return {{Level::DEBUG, 4}, {Level::INFO, 2}, {Level::WARNING, 3}, {Level::ERROR, 1}, {Level::CRITICAL, 5}};
}

LogFormatter::LogFormatter(bool color) : LogFormatter(DEFAULT_FORMAT, DEFAULT_DATE_FORMAT, color) {}

LogFormatter::LogFormatter(std::string_view fmt, std::string_view datefmt, bool color,
                           const std::map<Level, int>& colors)
    : datefmt_(datefmt) {
  if (color) {
    // Tornado's ANSI fallback ("\033[2;3%dm"), which is what it writes when curses is absent.
    for (auto [level, code] : colors) colors_[level] = "\033[2;3" + std::to_string(code) + "m";
    normal_ = "\033[0m";
  }
  auto bad = [&](std::size_t at, std::string_view why) {
    throw std::invalid_argument("LogFormatter: " + std::string(why) + " at position " + std::to_string(at) +
                                " of format \"" + std::string(fmt) + "\"");
  };
  std::string literal;
  std::size_t i = 0;
  while (i < fmt.size()) {
    if (fmt[i] != '%') {
      literal += fmt[i++];
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '%') {
      literal += '%';
      i += 2;
      continue;
    }
    if (i + 1 >= fmt.size() || fmt[i + 1] != '(') bad(i, "expected %(name) or %%");
    auto close = fmt.find(')', i + 2);
    if (close == std::string_view::npos) bad(i, "unclosed %(");
    auto name = fmt.substr(i + 2, close - i - 2);
    Part p;
    for (auto [n, f] : kFields) {
      if (n == name) p.field = f;
    }
    if (p.field < 0) bad(i, "unknown field \"" + std::string(name) + "\"");
    std::size_t j = close + 1;
    for (; j < fmt.size() && (fmt[j] == '-' || fmt[j] == '0'); ++j) (fmt[j] == '-' ? p.left : p.zero) = true;
    auto number = [&]() {
      int v = 0;
      for (; j < fmt.size() && fmt[j] >= '0' && fmt[j] <= '9'; ++j) v = v * 10 + (fmt[j] - '0');
      return v;
    };
    if (j < fmt.size() && fmt[j] >= '1' && fmt[j] <= '9') p.width = number();
    if (j < fmt.size() && fmt[j] == '.') {
      ++j;
      p.precision = number();
    }
    if (j >= fmt.size()) bad(j, "missing conversion");
    p.conversion = fmt[j];
    if (p.conversion == 'i') p.conversion = 'd';
    if (p.conversion != 's' && p.conversion != 'd' && p.conversion != 'f') bad(j, "unsupported conversion");
    if (p.conversion != 's' && !is_numeric(p.field)) bad(j, "numeric conversion of a text field");
    if (!literal.empty()) {
      Part lit;
      lit.text = std::move(literal);
      parts_.push_back(std::move(lit));
      literal.clear();
    }
    parts_.push_back(std::move(p));
    i = j + 1;
  }
  if (!literal.empty()) {
    Part lit;
    lit.text = std::move(literal);
    parts_.push_back(std::move(lit));
  }
}

std::string LogFormatter::format_time(const LogRecord& r) const {
  std::time_t secs = static_cast<std::time_t>(std::floor(r.created));
  std::tm tm{};
  localtime_r(&secs, &tm);
  char date[256];
  std::size_t n = std::strftime(date, sizeof date, datefmt_.c_str(), &tm);
  return std::string(date, n);
}

std::string LogFormatter::format(const LogRecord& r) const {
  std::string message = safe_unicode(r.message);
  std::string asctime;
  const std::string* color = nullptr;
  if (auto it = colors_.find(r.level); it != colors_.end()) color = &it->second;

  std::string out;
  out.reserve(48 + message.size());
  for (const Part& p : parts_) {
    if (p.field < 0) {
      out += p.text;
      continue;
    }
    if (p.conversion != 's') {
      double v = 0;
      switch (p.field) {
        case kLevelno: v = static_cast<int>(r.level); break;
        case kLineno: v = r.line; break;
        case kCreated: v = r.created; break;
        case kMsecs: v = (r.created - std::floor(r.created)) * 1000; break;
        case kProcess: v = ::getpid(); break;
        default: break;
      }
      // The spec was checked when parsed: flags, width and precision only.
      std::string spec = "%";
      if (p.left) spec += '-';
      if (p.zero) spec += '0';
      if (p.width >= 0) spec += std::to_string(p.width);
      if (p.precision >= 0) spec += '.' + std::to_string(p.precision);
      char buf[128];
      int n = p.conversion == 'd' ? std::snprintf(buf, sizeof buf, (spec + "lld").c_str(), static_cast<long long>(v))
                                  : std::snprintf(buf, sizeof buf, (spec + "f").c_str(), v);
      out.append(buf, static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(sizeof buf) - 1)));
      continue;
    }
    std::string owned;
    std::string_view text;
    switch (p.field) {
      case kColor: text = color ? std::string_view(*color) : std::string_view(); break;
      case kEndColor: text = color ? std::string_view(normal_) : std::string_view(); break;
      case kLevelname: text = level_name(r.level); break;
      case kLevelno: owned = std::to_string(static_cast<int>(r.level)); break;
      case kAsctime:
        if (asctime.empty()) asctime = format_time(r);
        text = asctime;
        break;
      case kModule: {
        // os.path.splitext(filename)[0]
        text = basename(r.file);
        if (auto dot = text.rfind('.'); dot != std::string_view::npos && dot != 0) text = text.substr(0, dot);
        break;
      }
      case kFilename: text = basename(r.file); break;
      case kPathname: text = r.file; break;
      case kLineno: owned = std::to_string(r.line); break;
      case kName: text = r.name; break;
      case kMessage: text = message; break;
      case kCreated: owned = float_str(r.created); break;
      case kMsecs: owned = float_str((r.created - std::floor(r.created)) * 1000); break;
      case kProcess: owned = std::to_string(::getpid()); break;
      default: break;
    }
    if (!owned.empty()) text = owned;
    if (p.precision >= 0) text = utf8_prefix(text, static_cast<std::size_t>(p.precision));
    std::size_t len = p.width > 0 ? utf8_length(text) : 0;
    std::size_t pad = p.width > 0 && len < static_cast<std::size_t>(p.width) ? p.width - len : 0;
    if (!p.left) out.append(pad, ' ');
    out += text;
    if (p.left) out.append(pad, ' ');
  }

  if (!r.exc_text.empty()) {
    // Each line of the exception on its own line, as Tornado joins the traceback's lines.
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t' || out.back() == '\n' || out.back() == '\r'))
      out.pop_back();
    out += '\n';
    out += safe_unicode(r.exc_text);
  }
  // Continuation lines are indented, so that a reader (or grep) can tell where a record begins.
  if (out.find('\n') != std::string::npos) {
    std::string indented;
    indented.reserve(out.size() + 16);
    for (char c : out) {
      indented += c;
      if (c == '\n') indented += "    ";
    }
    out = std::move(indented);
  }
  return out;
}

bool stream_supports_color(int fd) noexcept {
  if (!::isatty(fd)) return false;
  const char* term = std::getenv("TERM");
  return term && *term && std::string_view(term) != "dumb";
}

void enable_pretty_logging(Level level, Logger& logger) {
  if (level == Level::NOTSET) return;
  logger.set_level(level);
  bool color = stream_supports_color(2);
  std::lock_guard lock(tree_mutex());
  if (logger.impl_->pretty_handler) logger.remove_handler(logger.impl_->pretty_handler);
  logger.impl_->pretty_handler = logger.add_handler(
      [formatter = LogFormatter(color)](const LogRecord& r) { write_stderr(formatter.format(r)); });
}

void enable_pretty_logging(Level level) { enable_pretty_logging(level, get_logger()); }

}  // namespace tornado::log
