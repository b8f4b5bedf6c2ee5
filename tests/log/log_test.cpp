// Tests of tornado.log. Ported from tornado/test/log_test.py where it applies, plus the parts of
// Python's logging that tornado.log reimplements (the logger tree, levels, filters, handlers,
// thread safety) and the `{}` message formatting that replaces Python's `%` arguments.
//
// Not ported, and why:
// - LogFormatterTest.test_bytes_logging / test_utf8_logging are about Python 3 bytes objects
//   being repr()'d. C++ strings are bytes that hold UTF-8, so the C++ versions check instead that
//   valid UTF-8 passes through and invalid bytes come out as `\xNN` (test_bytes_logging,
//   test_utf8_logging below).
// - UnicodeLogFormatterTest exists to run LogFormatterTest with a UTF-8 FileHandler; there is one
//   kind of output here, so its test_unicode_logging is a case of LogFormatterTest.
// - EnablePrettyLoggingTest.test_log_file, test_log_file_with_timed_rotating and
//   test_wrong_rotate_mode_value: tornado.log has no file output yet (log_file_prefix and log
//   rotation come with the options module); the stderr half of enable_pretty_logging is tested.
// - LoggingOptionTest (all seven cases) runs Python subprocesses that call
//   tornado.options.parse_command_line with --logging=...; there is no options module yet. What
//   it checks of tornado.log itself, that "none" leaves logging alone, is
//   EnablePrettyLoggingTest.test_none_leaves_logging_alone.
#define BOOST_TEST_MODULE log
#include <tornado/testing.hpp>

#include "../support/support.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <regex>
#include <source_location>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

import tornado.log;

using namespace tornado;
using log::Level;
using log::LogRecord;

namespace {

using test_support::CaptureStderr;

// Sets (or, with nullopt, unsets) an environment variable while alive.
class SetEnv {
 public:
  SetEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
    ::tzset();
  }
  ~SetEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
    ::tzset();
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A pseudo-terminal: `slave` is a terminal; what is written to it is read from `master`.
struct Pty {
  int master = -1;
  int slave = -1;
  Pty() {
    master = ::posix_openpt(O_RDWR | O_NOCTTY);
    BOOST_REQUIRE(master >= 0);
    BOOST_REQUIRE(::grantpt(master) == 0);
    BOOST_REQUIRE(::unlockpt(master) == 0);
    slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    BOOST_REQUIRE(slave >= 0);
  }
  ~Pty() {
    ::close(slave);
    ::close(master);
  }
  std::string read_available() {
    ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(master, buf, sizeof buf)) > 0) out.append(buf, n);
    return out;
  }
};

// Records every record that reaches `logger`'s handlers while alive.
struct Recorder {
  log::Logger& logger;
  std::vector<LogRecord> records;
  std::size_t id;
  explicit Recorder(log::Logger& l) : logger(l) {
    id = logger.add_handler([this](const LogRecord& r) { records.push_back(r); });
  }
  ~Recorder() { logger.remove_handler(id); }
  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    for (auto& r : records) out.push_back(r.message);
    return out;
  }
};

// A logger of its own for one test: not propagating, no handlers, no level, no filters.
log::Logger& fresh_logger(std::string_view name) {
  auto& l = log::get_logger(name);
  l.remove_all_handlers();
  l.set_level(Level::NOTSET);
  l.propagate = false;
  return l;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// tornado/test/log_test.py: LogFormatterTest (and UnicodeLogFormatterTest)

struct LogFormatterFixture {
  // Python fakes colour support with its own control characters; here the formatter is told to
  // colour ERROR only, with the ANSI escape for colour 1 (red).
  log::LogFormatter formatter{log::LogFormatter::DEFAULT_FORMAT, log::LogFormatter::DEFAULT_DATE_FORMAT, true,
                              {{Level::ERROR, 1}}};
  log::Logger& logger = fresh_logger("LogFormatterTest");
  std::vector<std::string> lines;
  std::size_t handler = logger.add_handler([this](const LogRecord& r) { lines.push_back(formatter.format(r)); });
  ~LogFormatterFixture() { logger.remove_all_handlers(); }

  // The message part of the single line logged; fails the test if the line has the wrong shape.
  std::string get_output() {
    static const std::regex line_re(
        "\x1b\\[2;31m\\[E [0-9]{6} [0-9]{2}:[0-9]{2}:[0-9]{2} log_test:[0-9]+\\]\x1b\\[0m ([\\s\\S]*)");
    BOOST_REQUIRE_EQUAL(lines.size(), 1u);
    std::smatch m;
    if (!std::regex_match(lines[0], m, line_re)) {
      BOOST_ERROR("output didn't match regex: " + lines[0]);
      return {};
    }
    return m[1];
  }
};

BOOST_FIXTURE_TEST_SUITE(LogFormatterTest, LogFormatterFixture)

BOOST_AUTO_TEST_CASE(test_basic_logging) {
  logger.error("foo");
  BOOST_TEST(get_output() == "foo");
}

// Python: bytes are repr()'d. Here a byte that is not UTF-8 is escaped as Python escapes it.
BOOST_AUTO_TEST_CASE(test_bytes_logging) {
  logger.error("\xe9");
  BOOST_TEST(get_output() == "\\xe9");
}

// Python 2's behaviour, which is the one that applies to C++ strings: UTF-8 passes through.
BOOST_AUTO_TEST_CASE(test_utf8_logging) {
  logger.error("\xc3\xa9");
  BOOST_TEST(get_output() == "\xc3\xa9");
}

BOOST_AUTO_TEST_CASE(test_bytes_exception_logging) {
  try {
    throw std::runtime_error("\xe9");
  } catch (...) {
    logger.exception("caught exception");
  }
  auto output = get_output();
  BOOST_TEST(std::regex_search(output, std::regex(R"(runtime_error.*\\xe9)")));
  // The exception's lines are real lines, not escaped newlines.
  BOOST_TEST(output.find("\\n") == std::string::npos);
  BOOST_TEST(output == "caught exception\n    std::runtime_error: \\xe9");
}

// UnicodeLogFormatterTest.test_unicode_logging, with more than one script and a 4-byte character.
BOOST_AUTO_TEST_CASE(test_unicode_logging) {
  logger.error("\u00e9 \u65e5\u672c\u8a9e \U0001F40D");
  BOOST_TEST(get_output() == "\u00e9 \u65e5\u672c\u8a9e \U0001F40D");
}

// Levels without a colour get none, and no reset either.
BOOST_AUTO_TEST_CASE(test_uncoloured_level) {
  logger.warning("careful");
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].find('\x1b') == std::string::npos);
  BOOST_TEST(lines[0].starts_with("[W "));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// The line format in detail (C++ additions).

namespace {
// 2021-11-21 12:00:00 UTC, a quarter second in.
constexpr double kNoonCreated = 1637496000.25;

LogRecord make_record(Level level, std::string message, std::uint32_t line = 42) {
  LogRecord r;
  r.name = "tornado.application";
  r.level = level;
  r.message = std::move(message);
  r.file = "/src/web/handlers.cpp";
  r.line = line;
  r.created = kNoonCreated;
  return r;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(LogFormatTest)

BOOST_AUTO_TEST_CASE(test_default_format) {
  SetEnv tz("TZ", "UTC");
  log::LogFormatter f(false);
  BOOST_TEST(f.format(make_record(Level::INFO, "hello")) == "[I 211121 12:00:00 handlers:42] hello");
  BOOST_TEST(f.format(make_record(Level::DEBUG, "x")).starts_with("[D "));
  BOOST_TEST(f.format(make_record(Level::WARNING, "x")).starts_with("[W "));
  BOOST_TEST(f.format(make_record(Level::ERROR, "x")).starts_with("[E "));
  BOOST_TEST(f.format(make_record(Level::CRITICAL, "x")).starts_with("[C "));
}

BOOST_AUTO_TEST_CASE(test_asctime_is_local_time) {
  SetEnv tz("TZ", "UTC-2");  // POSIX: two hours east of UTC
  log::LogFormatter f(false);
  BOOST_TEST(f.format(make_record(Level::INFO, "hello")) == "[I 211121 14:00:00 handlers:42] hello");
}

BOOST_AUTO_TEST_CASE(test_module_and_line_of_the_call) {
  auto& logger = fresh_logger("LogFormatTest.module");
  logger.set_level(Level::INFO);
  Recorder rec(logger);
  // clang-format off
  logger.info("here"); auto line = std::source_location::current().line();
  // clang-format on
  BOOST_REQUIRE_EQUAL(rec.records.size(), 1u);
  auto text = log::LogFormatter(false).format(rec.records[0]);
  BOOST_TEST(text.find(" log_test:" + std::to_string(line) + "] here") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(test_color_codes_by_level) {
  log::LogFormatter f(true);
  std::map<Level, std::string> expected = {{Level::DEBUG, "\x1b[2;34m"},
                                           {Level::INFO, "\x1b[2;32m"},
                                           {Level::WARNING, "\x1b[2;33m"},
                                           {Level::ERROR, "\x1b[2;31m"},
                                           {Level::CRITICAL, "\x1b[2;35m"}};
  for (auto& [level, code] : expected) {
    auto text = f.format(make_record(level, "msg"));
    BOOST_TEST(text.starts_with(code + "["), text);
    BOOST_TEST(text.ends_with("]\x1b[0m msg"), text);
  }
}

BOOST_AUTO_TEST_CASE(test_no_color_codes) {
  log::LogFormatter f(false);
  for (Level level : {Level::DEBUG, Level::INFO, Level::WARNING, Level::ERROR, Level::CRITICAL}) {
    BOOST_TEST(f.format(make_record(level, "msg")).find('\x1b') == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(test_exception_appended_and_indented) {
  SetEnv tz("TZ", "UTC");
  auto r = make_record(Level::ERROR, "Uncaught exception   ");
  r.exc_text = "std::runtime_error: boom\nsecond line";
  BOOST_TEST(log::LogFormatter(false).format(r) ==
             "[E 211121 12:00:00 handlers:42] Uncaught exception\n    std::runtime_error: boom\n    second line");
}

BOOST_AUTO_TEST_CASE(test_multiline_message_indented) {
  SetEnv tz("TZ", "UTC");
  BOOST_TEST(log::LogFormatter(false).format(make_record(Level::INFO, "one\ntwo")) ==
             "[I 211121 12:00:00 handlers:42] one\n    two");
}

BOOST_AUTO_TEST_CASE(test_custom_format) {
  SetEnv tz("TZ", "UTC");
  auto r = make_record(Level::WARNING, "msg", 7);
  BOOST_TEST(log::LogFormatter("%(levelname)s:%(name)s:%(message)s").format(r) == "WARNING:tornado.application:msg");
  BOOST_TEST(log::LogFormatter("%(levelname)-8s|%(lineno)05d|%(levelno)d|%%").format(r) == "WARNING |00007|30|%");
  BOOST_TEST(log::LogFormatter("%(levelname)8.4s|").format(r) == "    WARN|");
  BOOST_TEST(log::LogFormatter("%(filename)s %(pathname)s %(module)s").format(r) ==
             "handlers.cpp /src/web/handlers.cpp handlers");
  BOOST_TEST(log::LogFormatter("%(created)f %(msecs)03d %(msecs)s").format(r) == "1637496000.250000 250 250.0");
  BOOST_TEST(log::LogFormatter("%(process)d").format(r) == std::to_string(::getpid()));
  BOOST_TEST(log::LogFormatter("%(asctime)s", "%Y-%m-%d %H:%M").format(r) == "2021-11-21 12:00");
  BOOST_TEST(log::LogFormatter("%(asctime)s", "%Y").format_time(r) == "2021");
  // Width and precision count characters, not bytes.
  BOOST_TEST(log::LogFormatter("[%(message)4.2s]").format(make_record(Level::INFO, "\u00e9\u00e9\u00e9")) ==
             "[  \u00e9\u00e9]");
}

BOOST_AUTO_TEST_CASE(test_custom_colors) {
  log::LogFormatter f("%(color)s%(levelname)s%(end_color)s", log::LogFormatter::DEFAULT_DATE_FORMAT, true,
                      {{Level::INFO, 6}});
  BOOST_TEST(f.format(make_record(Level::INFO, "")) == "\x1b[2;36mINFO\x1b[0m");
  BOOST_TEST(f.format(make_record(Level::ERROR, "")) == "ERROR");
}

BOOST_AUTO_TEST_CASE(test_bad_formats_throw) {
  for (const char* bad : {"%(nope)s", "%(message)d", "%(message)", "%q", "%(message", "%(lineno)x", "100%"}) {
    BOOST_CHECK_THROW(log::LogFormatter{bad}, std::invalid_argument);
  }
}

BOOST_AUTO_TEST_CASE(test_safe_unicode) {
  BOOST_TEST(log::safe_unicode("plain ascii") == "plain ascii");
  BOOST_TEST(log::safe_unicode("\xf0\x9f\x90\x8d") == "\xf0\x9f\x90\x8d");  // U+1F40D
  BOOST_TEST(log::safe_unicode("\xc0\xaf") == "\\xc0\\xaf");                // overlong '/'
  BOOST_TEST(log::safe_unicode("\xed\xa0\x80") == "\\xed\\xa0\\x80");       // a UTF-16 surrogate
  BOOST_TEST(log::safe_unicode("a\xe6\x97") == "a\\xe6\\x97");              // cut short
  BOOST_TEST(log::safe_unicode("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  BOOST_TEST(log::safe_unicode("\xff\xc3\xa9") == "\\xff\xc3\xa9");
}

BOOST_AUTO_TEST_CASE(test_exception_text_made_safe) {
  auto r = make_record(Level::ERROR, "m");
  r.exc_text = "bad \xff";
  BOOST_TEST(log::LogFormatter(false).format(r).ends_with("\n    bad \\xff"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// tornado/test/log_test.py: EnablePrettyLoggingTest, for the stderr output it has here.

BOOST_AUTO_TEST_SUITE(EnablePrettyLoggingTest)

// test_log_file, with standard error standing in for the file.
BOOST_AUTO_TEST_CASE(test_log_to_stderr) {
  auto& logger = fresh_logger("tornado.test.log_test.EnablePrettyLoggingTest");
  CaptureStderr capture;
  log::enable_pretty_logging(Level::INFO, logger);
  BOOST_TEST(logger.handler_count() == 1u);
  BOOST_TEST(logger.level() == Level::INFO);
  logger.error("hello");
  logger.debug("not shown");
  auto text = capture.text();
  capture.restore();
  logger.remove_all_handlers();
  BOOST_TEST(std::regex_match(text, std::regex(R"(\[E [^\]]*\] hello\n)")), text);
}

BOOST_AUTO_TEST_CASE(test_called_twice_does_not_double) {
  auto& logger = fresh_logger("EnablePrettyLoggingTest.twice");
  Recorder rec(logger);
  CaptureStderr capture;
  log::enable_pretty_logging(Level::INFO, logger);
  log::enable_pretty_logging(Level::WARNING, logger);
  BOOST_TEST(logger.handler_count() == 2u);  // the recorder and one pretty handler
  BOOST_TEST(logger.level() == Level::WARNING);
  logger.warning("once");
  auto text = capture.text();
  capture.restore();
  BOOST_TEST(rec.records.size() == 1u);  // other handlers are kept
  BOOST_TEST(std::regex_match(text, std::regex(R"(\[W [^\]]*\] once\n)")), text);
  logger.remove_all_handlers();
}

// What LoggingOptionTest checks of tornado.log: --logging=none leaves logging as it was.
BOOST_AUTO_TEST_CASE(test_none_leaves_logging_alone) {
  auto& logger = fresh_logger("EnablePrettyLoggingTest.none");
  bool ok = false;
  Level none = log::parse_level("None", ok);
  BOOST_TEST(ok);
  log::enable_pretty_logging(none, logger);
  BOOST_TEST(logger.handler_count() == 0u);
  BOOST_TEST(logger.level() == Level::NOTSET);
}

BOOST_AUTO_TEST_CASE(test_root_logger_by_default) {
  auto& root = log::get_logger();
  Level saved = root.level();
  CaptureStderr capture;
  log::enable_pretty_logging();
  BOOST_TEST(root.level() == Level::INFO);
  BOOST_TEST(root.handler_count() == 1u);
  fresh_logger("EnablePrettyLoggingTest.child").propagate = true;
  log::get_logger("EnablePrettyLoggingTest.child").info("from a child");
  auto text = capture.text();
  capture.restore();
  root.remove_all_handlers();
  root.set_level(saved);
  BOOST_TEST(std::regex_match(text, std::regex(R"(\[I [^\]]*log_test:[0-9]+\] from a child\n)")), text);
}

// Colour codes on a terminal, none elsewhere.
BOOST_AUTO_TEST_CASE(test_colour_on_a_terminal) {
  auto& logger = fresh_logger("EnablePrettyLoggingTest.tty");
  SetEnv term("TERM", "xterm");
  Pty pty;
  std::fflush(stderr);
  int saved = ::dup(2);
  ::dup2(pty.slave, 2);
  log::enable_pretty_logging(Level::INFO, logger);
  logger.error("red");
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  logger.remove_all_handlers();
  auto text = pty.read_available();
  BOOST_TEST(text.find("\x1b[2;31m[E ") != std::string::npos, text);
  BOOST_TEST(text.find("]\x1b[0m red") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(test_no_colour_elsewhere) {
  auto& logger = fresh_logger("EnablePrettyLoggingTest.file");
  SetEnv term("TERM", "xterm");
  CaptureStderr capture;  // a regular file
  log::enable_pretty_logging(Level::INFO, logger);
  logger.error("plain");
  auto text = capture.text();
  capture.restore();
  logger.remove_all_handlers();
  BOOST_TEST(text.find('\x1b') == std::string::npos, text);
  BOOST_TEST(text.find("] plain") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(test_stream_supports_color) {
  Pty pty;
  {
    SetEnv term("TERM", "xterm-256color");
    BOOST_TEST(log::stream_supports_color(pty.slave));
  }
  {
    SetEnv term("TERM", "dumb");
    BOOST_TEST(!log::stream_supports_color(pty.slave));
  }
  {
    SetEnv term("TERM", std::nullopt);
    BOOST_TEST(!log::stream_supports_color(pty.slave));
  }
  SetEnv term("TERM", "xterm");
  int pipefd[2];
  BOOST_REQUIRE(::pipe(pipefd) == 0);
  BOOST_TEST(!log::stream_supports_color(pipefd[1]));
  ::close(pipefd[0]);
  ::close(pipefd[1]);
  BOOST_TEST(!log::stream_supports_color(-1));
}

BOOST_AUTO_TEST_CASE(test_parse_level) {
  bool ok = false;
  BOOST_TEST((log::parse_level("debug", ok) == Level::DEBUG && ok));
  BOOST_TEST((log::parse_level("INFO", ok) == Level::INFO && ok));
  BOOST_TEST((log::parse_level("Warning", ok) == Level::WARNING && ok));
  BOOST_TEST((log::parse_level("warn", ok) == Level::WARNING && ok));
  BOOST_TEST((log::parse_level("error", ok) == Level::ERROR && ok));
  BOOST_TEST((log::parse_level("critical", ok) == Level::CRITICAL && ok));
  BOOST_TEST((log::parse_level("none", ok) == Level::NOTSET && ok));
  log::parse_level("loud", ok);
  BOOST_TEST(!ok);
  BOOST_TEST(log::level_name(Level::WARNING) == "WARNING");
  BOOST_TEST(log::level_name(Level::NOTSET) == "NOTSET");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// The logger tree: what tornado.log takes from Python's logging (C++ additions).

BOOST_AUTO_TEST_SUITE(LoggerTreeTest)

BOOST_AUTO_TEST_CASE(test_get_logger_returns_one_logger_per_name) {
  auto& a = log::get_logger("tree.names.a");
  BOOST_TEST(&a == &log::get_logger("tree.names.a"));
  BOOST_TEST(&a != &log::get_logger("tree.names.b"));
  BOOST_TEST(a.name() == "tree.names.a");
  BOOST_TEST(log::get_logger().name() == "");
  BOOST_TEST(log::app_log().name() == "tornado.application");
  BOOST_TEST(log::gen_log().name() == "tornado.general");
  BOOST_TEST(log::access_log().name() == "tornado.access");
  BOOST_TEST(&log::app_log() == &log::get_logger("tornado.application"));
}

BOOST_AUTO_TEST_CASE(test_levels_and_effective_level) {
  auto& root = log::get_logger();
  BOOST_TEST(root.level() == Level::WARNING);  // Python's default
  auto& parent = log::get_logger("tree.levels");
  auto& child = log::get_logger("tree.levels.child.grandchild");  // "tree.levels.child" made on the way
  BOOST_TEST(child.level() == Level::NOTSET);
  BOOST_TEST(child.effective_level() == Level::WARNING);
  BOOST_TEST(!child.is_enabled_for(Level::INFO));
  parent.set_level(Level::DEBUG);
  BOOST_TEST(child.effective_level() == Level::DEBUG);
  BOOST_TEST(child.is_enabled_for(Level::DEBUG));
  log::get_logger("tree.levels.child").set_level(Level::ERROR);
  BOOST_TEST(child.effective_level() == Level::ERROR);
  BOOST_TEST(!child.is_enabled_for(Level::WARNING));
  BOOST_TEST(child.is_enabled_for(Level::CRITICAL));
  child.set_level(Level::INFO);
  BOOST_TEST(child.effective_level() == Level::INFO);
  child.set_level(Level::NOTSET);
  BOOST_TEST(child.effective_level() == Level::ERROR);
}

BOOST_AUTO_TEST_CASE(test_level_filters_records) {
  auto& logger = fresh_logger("tree.threshold");
  Recorder rec(logger);
  logger.set_level(Level::WARNING);
  logger.debug("d");
  logger.info("i");
  logger.warning("w");
  logger.error("e");
  logger.critical("c");
  logger.log(Level::INFO, "li");
  logger.log(Level::ERROR, "le");
  BOOST_TEST(rec.messages() == (std::vector<std::string>{"w", "e", "c", "le"}), boost::test_tools::per_element());
  BOOST_TEST(rec.records[0].level == Level::WARNING);
  BOOST_TEST(rec.records[2].level == Level::CRITICAL);
}

BOOST_AUTO_TEST_CASE(test_propagation) {
  auto& top = fresh_logger("tree.prop");
  auto& mid = fresh_logger("tree.prop.mid");
  auto& leaf = fresh_logger("tree.prop.mid.leaf");
  mid.propagate = true;
  leaf.propagate = true;
  std::vector<std::string> order;
  top.add_handler([&](const LogRecord& r) { order.push_back("top:" + r.message); });
  mid.add_handler([&](const LogRecord& r) { order.push_back("mid:" + r.message); });
  leaf.add_handler([&](const LogRecord& r) { order.push_back("leaf:" + r.message); });

  // Only the level of the logger logged on counts: an ancestor's level stops nothing.
  leaf.set_level(Level::DEBUG);
  top.set_level(Level::CRITICAL);
  leaf.debug("a");
  BOOST_TEST(order == (std::vector<std::string>{"leaf:a", "mid:a", "top:a"}), boost::test_tools::per_element());

  order.clear();
  mid.propagate = false;
  leaf.debug("b");
  BOOST_TEST(order == (std::vector<std::string>{"leaf:b", "mid:b"}), boost::test_tools::per_element());

  order.clear();
  mid.propagate = true;
  leaf.propagate = false;
  leaf.debug("c");
  BOOST_TEST(order == (std::vector<std::string>{"leaf:c"}), boost::test_tools::per_element());

  // The record keeps the name of the logger it was logged on.
  std::string name;
  top.add_handler([&](const LogRecord& r) { name = r.name; });
  leaf.propagate = true;
  leaf.error("d");
  BOOST_TEST(name == "tree.prop.mid.leaf");
  for (auto* l : {&top, &mid, &leaf}) l->remove_all_handlers();
}

BOOST_AUTO_TEST_CASE(test_tornado_loggers_propagate_to_tornado) {
  auto& tornado_logger = log::get_logger("tornado");
  Recorder rec(tornado_logger);
  log::app_log().error("app");
  log::gen_log().error("gen");
  log::access_log().error("access");
  BOOST_TEST(rec.messages() == (std::vector<std::string>{"app", "gen", "access"}), boost::test_tools::per_element());
  BOOST_TEST(rec.records[0].name == "tornado.application");
  BOOST_TEST(rec.records[2].name == "tornado.access");
}

BOOST_AUTO_TEST_CASE(test_filters) {
  auto& parent = fresh_logger("tree.filter");
  auto& child = fresh_logger("tree.filter.child");
  child.propagate = true;
  parent.set_level(Level::DEBUG);
  Recorder rec(parent);

  auto id = parent.add_filter([](const LogRecord& r) { return r.message.find("secret") == std::string::npos; });
  parent.info("public");
  parent.info("a secret");
  // A logger's filters see only records logged on that logger, not its children's.
  child.info("child secret");
  BOOST_TEST(rec.messages() == (std::vector<std::string>{"public", "child secret"}), boost::test_tools::per_element());

  // Every filter must pass; the first to refuse stops the record before any handler.
  int second_calls = 0;
  auto id2 = parent.add_filter([&](const LogRecord&) {
    ++second_calls;
    return true;
  });
  parent.info("another secret");
  BOOST_TEST(second_calls == 0);
  parent.info("fine");
  BOOST_TEST(second_calls == 1);

  parent.remove_filter(id);
  parent.info("secret again");
  BOOST_TEST(rec.messages().back() == "secret again");
  parent.remove_filter(id2);
  parent.remove_filter(12345);  // unknown: ignored
}

BOOST_AUTO_TEST_CASE(test_handlers_added_and_removed) {
  auto& parent = fresh_logger("tree.handlers");
  auto& child = fresh_logger("tree.handlers.child");
  child.propagate = true;
  BOOST_TEST(!child.has_handlers());
  int a = 0, b = 0;
  auto ida = parent.add_handler([&](const LogRecord&) { ++a; });
  auto idb = parent.add_handler([&](const LogRecord&) { ++b; });
  BOOST_TEST(ida != idb);
  BOOST_TEST(parent.handler_count() == 2u);
  BOOST_TEST(child.handler_count() == 0u);
  BOOST_TEST(child.has_handlers());
  child.warning("1");
  BOOST_TEST((a == 1 && b == 1));
  parent.remove_handler(ida);
  child.warning("2");
  BOOST_TEST((a == 1 && b == 2));
  BOOST_TEST(parent.handler_count() == 1u);
  child.propagate = false;
  BOOST_TEST(!child.has_handlers());
  child.propagate = true;
  parent.remove_all_handlers();
  BOOST_TEST(parent.handler_count() == 0u);
  BOOST_TEST(!child.has_handlers());
}

BOOST_AUTO_TEST_CASE(test_handler_changes_during_emit) {
  auto& logger = fresh_logger("tree.reentrant");
  int added_calls = 0, self_calls = 0;
  std::size_t self_id = 0;
  self_id = logger.add_handler([&](const LogRecord&) {
    ++self_calls;
    logger.remove_handler(self_id);  // removes itself
    logger.add_handler([&](const LogRecord&) { ++added_calls; });
  });
  logger.warning("first");
  // The handler list was taken when the record started: the new handler waits for the next one.
  BOOST_TEST(self_calls == 1);
  BOOST_TEST(added_calls == 0);
  logger.warning("second");
  BOOST_TEST(self_calls == 1);
  BOOST_TEST(added_calls == 1);
  logger.remove_all_handlers();
}

BOOST_AUTO_TEST_CASE(test_handler_may_log) {
  auto& logger = fresh_logger("tree.nested");
  auto& other = fresh_logger("tree.nested_other");
  Recorder rec(other);
  logger.add_handler([&](const LogRecord& r) { other.warning("saw {}", r.message); });
  logger.warning("x");
  BOOST_TEST(rec.messages() == (std::vector<std::string>{"saw x"}), boost::test_tools::per_element());
  logger.remove_all_handlers();
}

BOOST_AUTO_TEST_CASE(test_failing_handler_does_not_stop_others) {
  auto& logger = fresh_logger("tree.failing");
  logger.add_handler([](const LogRecord&) { throw std::runtime_error("handler broke"); });
  Recorder rec(logger);
  CaptureStderr capture;
  logger.warning("still delivered");
  auto text = capture.text();
  capture.restore();
  BOOST_TEST(rec.messages() == (std::vector<std::string>{"still delivered"}), boost::test_tools::per_element());
  BOOST_TEST(text.find("--- Logging error ---") != std::string::npos, text);
  BOOST_TEST(text.find("handler broke") != std::string::npos, text);
  logger.remove_all_handlers();
}

// Python's lastResort: with no handler on the way, WARNING and above still reach stderr.
BOOST_AUTO_TEST_CASE(test_last_resort) {
  auto& logger = fresh_logger("tree.lastresort");
  logger.set_level(Level::DEBUG);
  CaptureStderr capture;
  logger.info("quiet");
  logger.warning("loud");
  auto text = capture.text();
  capture.restore();
  BOOST_TEST(std::regex_match(text, std::regex(R"(\[W [^\]]*\] loud\n)")), text);
}

BOOST_AUTO_TEST_CASE(test_record_fields) {
  auto& logger = fresh_logger("tree.fields");
  Recorder rec(logger);
  double before = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // clang-format off
  logger.warning("plain"); auto line = std::source_location::current().line();
  // clang-format on
  double after = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  try {
    throw std::runtime_error("boom");
  } catch (...) {
    logger.exception("caught");
  }
  logger.exception("outside a catch");
  logger.log_exception(Level::WARNING, std::make_exception_ptr(std::logic_error("given")), "with {}", "exc");

  BOOST_REQUIRE_EQUAL(rec.records.size(), 4u);
  const auto& r = rec.records[0];
  BOOST_TEST(r.name == "tree.fields");
  BOOST_TEST(r.level == Level::WARNING);
  BOOST_TEST(r.message == "plain");
  BOOST_TEST(std::string_view(r.file).ends_with("log_test.cpp"));
  BOOST_TEST(r.line == line);
  BOOST_TEST((r.created >= before && r.created <= after));
  BOOST_TEST(!r.exc);
  BOOST_TEST(r.exc_text.empty());

  BOOST_TEST(rec.records[1].level == Level::ERROR);
  BOOST_TEST(rec.records[1].exc_text == "std::runtime_error: boom");
  BOOST_CHECK_THROW(std::rethrow_exception(rec.records[1].exc), std::runtime_error);
  BOOST_TEST(!rec.records[2].exc);
  BOOST_TEST(rec.records[3].level == Level::WARNING);
  BOOST_TEST(rec.records[3].message == "with exc");
  BOOST_TEST(rec.records[3].exc_text == "std::logic_error: given");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// `{}` formatting of arguments (C++'s stand-in for logging's `%` arguments).

namespace {
struct Streamed {
  int* calls;
  friend std::ostream& operator<<(std::ostream& o, const Streamed& s) {
    ++*s.calls;
    return o << "<streamed>";
  }
};

std::string fmt_of(auto&&... args) { return log::detail::format(args...); }
}  // namespace

BOOST_AUTO_TEST_SUITE(FormatTest)

BOOST_AUTO_TEST_CASE(test_placeholders) {
  BOOST_TEST(fmt_of("{} + {} = {}", 1, 2, 3) == "1 + 2 = 3");
  BOOST_TEST(fmt_of("{}{}", "a", "b") == "ab");
  BOOST_TEST(fmt_of("at start {}", 1.5) == "at start 1.5");
}

BOOST_AUTO_TEST_CASE(test_extra_arguments_appended) {
  BOOST_TEST(fmt_of("x", 1, 2) == "x 1 2");
  BOOST_TEST(fmt_of("x {}", 1, 2) == "x 1 2");
  BOOST_TEST(fmt_of("", 5) == "5");
}

BOOST_AUTO_TEST_CASE(test_missing_arguments_leave_braces) {
  BOOST_TEST(fmt_of("{} and {}", 1) == "1 and {}");
}

BOOST_AUTO_TEST_CASE(test_escaped_braces) {
  BOOST_TEST(fmt_of("{{}} {}", 1) == "{} 1");
  BOOST_TEST(fmt_of("{{{}}}", 1) == "{1}");
  BOOST_TEST(fmt_of("json {{\"a\": {}}}", 1) == "json {\"a\": 1}");
  // Without arguments the text is used as written (as Python leaves `%` alone without args).
  BOOST_TEST(fmt_of("{{}} {}") == "{{}} {}");
  BOOST_TEST(fmt_of("{\"a\": 1}") == "{\"a\": 1}");
  BOOST_TEST(fmt_of("lone { and }", 1) == "lone { and } 1");
}

BOOST_AUTO_TEST_CASE(test_argument_types) {
  int calls = 0;
  const char* null = nullptr;
  std::string s = "str";
  std::string_view sv = "view";
  BOOST_TEST(fmt_of("{} {} {} {} {} {} {} {}", s, sv, "lit", null, true, false, 'c', -7) ==
             "str view lit (null) true false c -7");
  BOOST_TEST(fmt_of("{}", Streamed{&calls}) == "<streamed>");
  BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(test_through_a_logger) {
  auto& logger = fresh_logger("format.logger");
  Recorder rec(logger);
  logger.warning("{} of {}", 1, "two");
  logger.error("status {}: {}", 404, std::string("Not Found"));
  BOOST_TEST(rec.messages() == (std::vector<std::string>{"1 of two", "status 404: Not Found"}),
             boost::test_tools::per_element());
}

// A disabled level costs a comparison: the arguments are never formatted.
BOOST_AUTO_TEST_CASE(test_disabled_level_skips_formatting) {
  auto& logger = fresh_logger("format.disabled");
  Recorder rec(logger);
  logger.set_level(Level::WARNING);
  int calls = 0;
  logger.debug("{}", Streamed{&calls});
  logger.info("{}", Streamed{&calls});
  BOOST_TEST(calls == 0);
  logger.warning("{}", Streamed{&calls});
  BOOST_TEST(calls == 1);
  BOOST_TEST(rec.records.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// Thread safety (C++ addition): loggers are shared by every thread, as in Python.

BOOST_AUTO_TEST_SUITE(ThreadSafetyTest)

BOOST_AUTO_TEST_CASE(test_concurrent_logging_from_4_threads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  auto& parent = fresh_logger("threads");
  parent.set_level(Level::INFO);
  for (int t = 0; t < kThreads; ++t) {
    auto& l = fresh_logger("threads.t" + std::to_string(t));
    l.propagate = true;
  }
  log::LogFormatter formatter(false);
  // Plain (not atomic) state: handlers run one record at a time, and this checks it.
  int inside = 0;
  bool overlapped = false;
  std::vector<std::string> lines;
  std::vector<std::vector<int>> sequence(kThreads);
  std::size_t sub_records = 0;
  parent.add_handler([&](const LogRecord& r) {
    if (++inside != 1) overlapped = true;
    std::string_view name = r.name;
    if (name.find(".sub") != std::string_view::npos) {
      ++sub_records;
    } else {
      lines.push_back(formatter.format(r));
      int t = name.back() - '0';
      sequence[t].push_back(std::stoi(r.message.substr(r.message.rfind(' ') + 1)));
    }
    --inside;
  });

  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto& mine = log::get_logger("threads.t" + std::to_string(t));
      while (!go) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        mine.info("thread {} message {}", t, i);
        // Meanwhile, change the tree: new loggers, levels, filters and handlers come and go.
        if (i % 50 == 0) {
          auto& sub = log::get_logger("threads.t" + std::to_string(t) + ".sub" + std::to_string(i));
          sub.set_level(Level::DEBUG);
          auto f = mine.add_filter([](const LogRecord&) { return true; });
          auto h = sub.add_handler([](const LogRecord&) {});
          sub.debug("to a sub-logger {}", i);
          sub.remove_handler(h);
          mine.remove_filter(f);
          mine.set_level(Level::INFO);
        }
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();

  BOOST_TEST(!overlapped);
  BOOST_TEST(sub_records == std::size_t(kThreads * (kPerThread / 50)));
  BOOST_TEST(lines.size() == std::size_t(kThreads * kPerThread));
  static const std::regex line_re(R"(\[I \d{6} \d{2}:\d{2}:\d{2} log_test:\d+\] thread \d message \d+)");
  std::size_t well_formed = 0;
  for (auto& l : lines) well_formed += std::regex_match(l, line_re) ? 1 : 0;
  BOOST_TEST(well_formed == lines.size());
  // Each thread's records arrive whole and in the order it logged them.
  std::vector<int> expected(kPerThread);
  for (int i = 0; i < kPerThread; ++i) expected[i] = i;
  for (int t = 0; t < kThreads; ++t) BOOST_TEST((sequence[t] == expected), "thread " << t);
  parent.remove_all_handlers();
}

BOOST_AUTO_TEST_SUITE_END()
