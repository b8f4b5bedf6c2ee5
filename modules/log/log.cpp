module;
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <source_location>
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
// and it keeps lines from two threads from interleaving.
std::recursive_mutex& tree_mutex() {
  static std::recursive_mutex m;
  return m;
}
}  // namespace

struct Logger::Impl {
  std::atomic<int> level{0};
  Logger* parent = nullptr;
  std::vector<std::pair<std::size_t, Filter>> filters;
  std::vector<std::pair<std::size_t, Handler>> handlers;
  std::size_t next_id = 1;
};

Logger::Logger(std::string name, std::unique_ptr<Impl> impl)
    : name_(std::move(name)), impl_(std::move(impl)) {}
Logger::~Logger() = default;

Level Logger::level() const noexcept { return static_cast<Level>(impl_->level.load(std::memory_order_relaxed)); }
void Logger::set_level(Level level) noexcept { impl_->level.store(static_cast<int>(level), std::memory_order_relaxed); }

Level Logger::effective_level() const noexcept {
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
}
void Logger::remove_all_handlers() {
  std::lock_guard lock(tree_mutex());
  impl_->handlers.clear();
}

namespace {
// Python's "last resort": with no handler anywhere on the path, WARNING and above still reach
// stderr rather than vanishing.
void last_resort(const LogRecord& r) {
  if (r.level < Level::WARNING) return;
  auto line = LogFormatter(false).format(r);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
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
  if (exc) r.exc_text = describe_exception(exc);

  std::lock_guard lock(tree_mutex());
  for (auto& [id, f] : impl_->filters) {
    if (!f(r)) return;
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
        // A failing handler must never take the program down with it.
      }
    }
    if (!l->propagate) break;
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

std::string LogFormatter::format(const LogRecord& r) const {
  // Tornado's default: "%(color)s[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d]%(end_color)s %(message)s"
  // with datefmt "%y%m%d %H:%M:%S".
  std::string_view module = r.file;
  if (auto slash = module.find_last_of("/\\"); slash != std::string_view::npos) module.remove_prefix(slash + 1);
  if (auto dot = module.find('.'); dot != std::string_view::npos) module = module.substr(0, dot);

  std::time_t secs = static_cast<std::time_t>(r.created);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%y%m%d %H:%M:%S", &tm);

  std::string out;
  out.reserve(48 + r.message.size());
  const char* color = nullptr;
  if (color_) {
    switch (r.level) {
      case Level::DEBUG: color = "\033[2;34m"; break;     // blue
      case Level::INFO: color = "\033[2;32m"; break;      // green
      case Level::WARNING: color = "\033[2;33m"; break;   // yellow
      case Level::ERROR:
      case Level::CRITICAL: color = "\033[2;31m"; break;  // red
      default: break;
    }
  }
  if (color) out += color;
  out += '[';
  out += level_name(r.level).front();
  out += ' ';
  out += date;
  out += ' ';
  out += module;
  out += ':';
  out += std::to_string(r.line);
  out += ']';
  if (color) out += "\033[0m";
  out += ' ';
  out += r.message;
  if (!r.exc_text.empty()) {
    out += '\n';
    out += r.exc_text;
  }
  return out;
}

bool stream_supports_color(int fd) noexcept {
  if (!::isatty(fd)) return false;
  const char* term = std::getenv("TERM");
  return term && std::string_view(term) != "dumb";
}

void enable_pretty_logging(Level level) {
  auto& root = get_logger();
  root.set_level(level);
  root.remove_all_handlers();
  bool color = stream_supports_color(2);
  root.add_handler([color](const LogRecord& r) {
    auto line = LogFormatter(color).format(r);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
  });
}

}  // namespace tornado::log
