// tornado.web: RequestHandler, Application and the built-in handlers.
module;
#include <openssl/evp.h>

#include <array>
#include <charconv>
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>
#include <boost/json.hpp>
module tornado.web;

import tornado.concurrent;
import tornado.escape;
import tornado.http1connection;
import tornado.httpserver;
import tornado.httputil;
import tornado.iostream;
import tornado.log;
import tornado.routing;
import tornado.util;

namespace tornado::web {

// ---------------------------------------------------------------------------------------------
// Exceptions

namespace {
std::string http_error_text(int status_code, const std::string& log_message, const std::optional<std::string>& reason) {
  std::string s = "HTTP " + std::to_string(status_code) + ": " +
                  (reason ? *reason : std::string(httputil::responses(status_code)));
  if (!log_message.empty()) s += " (" + log_message + ")";
  return s;
}
}  // namespace

HTTPError::HTTPError(int status_code_, std::string log_message_, std::optional<std::string> reason_)
    : std::runtime_error(http_error_text(status_code_, log_message_, reason_)),
      status_code(status_code_),
      log_message(std::move(log_message_)),
      reason(std::move(reason_)) {}

MissingArgumentError::MissingArgumentError(std::string name)
    : HTTPError(400, "Missing argument " + name), arg_name(std::move(name)) {}

// ---------------------------------------------------------------------------------------------
// Helpers

namespace detail {
int method_index(std::string_view m) noexcept {
  switch (m.size()) {
    case 3:
      if (m == "GET") return 0;
      if (m == "PUT") return 5;
      return -1;
    case 4:
      if (m == "HEAD") return 1;
      if (m == "POST") return 2;
      return -1;
    case 5:
      return m == "PATCH" ? 4 : -1;
    case 6:
      return m == "DELETE" ? 3 : -1;
    case 7:
      return m == "OPTIONS" ? 6 : -1;
    default:
      return -1;
  }
}
}  // namespace detail

namespace {

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned min;
    unsigned cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 (Python refuses them).
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Python's %r of bytes, enough for error messages: printable ASCII as is, the rest \xNN.
std::string repr_bytes(std::string_view s) {
  std::string out = "b'";
  for (unsigned char c : s) {
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += '\'';
  return out;
}

bool is_strip_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// A header value may not carry control characters (Tornado's _INVALID_HEADER_CHAR_RE, [\x00-\x1f]):
// CR or LF would let it start a header or a body of its own (response splitting).
[[noreturn, gnu::noinline, gnu::cold]] void throw_unsafe_header_value(std::string_view value) {
  throw std::invalid_argument("Unsafe header value " + repr_bytes(value));
}
void check_header_value(std::string_view value) {
  // Eight bytes at a time (SWAR): subtracting 0x20 from each byte sets the high bit of a byte
  // below 0x20 whose own high bit is clear; a borrow into the next byte only follows such a
  // byte, so a word holds a bad byte exactly when the result is not zero. A value of 8 bytes or
  // more ends with a word overlapping the one before; a shorter one is read byte by byte.
  const char* p = value.data();
  const std::size_t n = value.size();
  auto word = [](const char* q) {
    std::uint64_t x;
    std::memcpy(&x, q, 8);
    return (x - 0x2020202020202020ULL) & ~x & 0x8080808080808080ULL;
  };
  std::uint64_t bad = 0;
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 <= n; i += 8) bad |= word(p + i);
    bad |= word(p + n - 8);
  } else {
    for (std::size_t i = 0; i < n; ++i) bad |= static_cast<unsigned char>(p[i]) < 0x20;
  }
  if (bad) throw_unsafe_header_value(value);
}

// Python's reason_phrase_re: (?:[\t ]|[\x21-\x7E]|[\x80-\xFF])+ , and no '<'.
bool valid_reason(std::string_view reason) {
  if (reason.empty()) return false;
  for (unsigned char c : reason) {
    if (c == '<') return false;
    if (!(c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7E) || c >= 0x80)) return false;
  }
  return true;
}


// Appends `obj` to `out` as json_encode writes it: "</" escaped so that the text is safe inside
// <script>. Boost.JSON's serializer writes straight into `out` (no temporary string), and only
// what was appended is scanned for "</".
void append_json(std::string& out, const boost::json::object& obj) {
  const std::size_t start = out.size();
  unsigned char stack[256];  // the serializer's own stack, for nesting
  boost::json::serializer sr(boost::json::storage_ptr(), stack, sizeof stack);
  sr.reset(&obj);
  char buf[512];
  do {
    auto part = sr.read(buf, sizeof buf);
    out.append(part.data(), part.size());
  } while (!sr.done());
  auto lt = out.find("</", start);
  if (lt == std::string::npos) return;
  std::string tail;
  tail.reserve(out.size() - lt + 8);
  for (std::size_t i = lt; i < out.size(); ++i) {
    tail += out[i];
    if (out[i] == '<' && i + 1 < out.size() && out[i + 1] == '/') tail += '\\';
  }
  out.resize(lt);
  out += tail;
}

// The headers every response starts with (Tornado's clear(): Server, Content-Type, Date), built
// once per thread and copied into each handler: a copy costs less than adding them one by one.
// The Date is refreshed when http_date_now's second moves on.
const httputil::HTTPHeaders& default_headers() {
  struct Defaults {
    httputil::HTTPHeaders headers;
    std::string date;
    Defaults() {
      date = httputil::http_date_now();
      headers.add("Server", server_header);
      headers.add("Content-Type", "text/html; charset=UTF-8");
      headers.add("Date", date);
    }
  };
  thread_local Defaults defaults;
  std::string_view now = httputil::http_date_now();
  // An IMF-fixdate is always 29 bytes: a compare of that constant size is a few vector loads
  // instead of a call to memcmp, on every handler's clear().
  constexpr std::size_t kDateSize = 29;
  if (now.size() != kDateSize || defaults.date.size() != kDateSize ||
      std::memcmp(now.data(), defaults.date.data(), kDateSize) != 0) {
    defaults.date = now;
    defaults.headers.set("Date", now);
  }
  return defaults.headers;
}

// The response headers of the last handlers destroyed on this thread (a few: handlers of
// several connections may end before the next one starts), kept for the next handlers' clear():
// copying the default headers over them reuses their list and their values' memory, so a
// response's headers cost no allocation (the list also has room for Content-Length).
// Their body buffers are kept likewise (those that outgrew std::string's inline capacity, up to
// kMaxBuffer bytes), so that a body longer than a few bytes costs no allocation either.
// spare_headers_gone is set when the thread's spares are destroyed (a trivially destructible
// flag, readable later), so a handler destroyed after that, at exit, leaves them alone.
thread_local bool spare_headers_gone = false;
struct SpareHeaders {
  static constexpr std::size_t kKeep = 32;
  static constexpr std::size_t kMaxBuffer = 16384;
  std::array<httputil::HTTPHeaders, kKeep> spares;
  std::size_t count = 0;
  std::array<std::string, kKeep> buffers;
  std::size_t buffer_count = 0;
  SpareHeaders() = default;
  SpareHeaders(const SpareHeaders&) = delete;
  SpareHeaders& operator=(const SpareHeaders&) = delete;
  ~SpareHeaders() { spare_headers_gone = true; }
};
thread_local SpareHeaders spare_headers;

std::string sha1_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

// Python's re.escape (3.7+): escapes the characters special in a pattern.
std::string re_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("()[]{}?*+-|^$\\.&~# \t\n\r\v\f").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Future<void> failed_closed_future() {
  Future<void> f;
  f.set_exception(std::make_exception_ptr(iostream::StreamClosedError()));
  f.state()->mark_retrieved();
  return f;
}

bool settings_flag(const Settings& s, std::string_view name) {
  if (name == "debug") return s.debug;
  if (name == "serve_traceback") return s.serve_traceback.value_or(s.debug);
  if (name == "compress_response") return s.compress_response;
  if (name == "gzip") return s.gzip;
  if (name == "cookie_secret") return !s.cookie_secret.empty();
  if (name == "key_version") return s.key_version.has_value();
  if (name == "login_url") return !s.login_url.empty();
  if (name == "xsrf_cookies") return s.xsrf_cookies;
  if (name == "static_path") return !s.static_path.empty();
  if (name == "static_url_prefix") return !s.static_url_prefix.empty();
  if (name == "static_handler_class") return s.static_handler_class.has_value();
  if (name == "default_handler_class") return s.default_handler_class != nullptr;
  if (name == "log_function") return static_cast<bool>(s.log_function);
  if (auto it = s.extra.find(name); it != s.extra.end()) return !it->second.empty();
  return false;
}

}  // namespace

bool is_absolute(std::string_view path) {
  if (path.starts_with("//")) return true;
  auto colon = path.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    char c = path[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// HandlerAccess: what the dispatcher needs of a handler's private state.

struct HandlerAccess {
  static void init(RequestHandler& h, Application& app, std::shared_ptr<httputil::HTTPServerRequest> request,
                   const detail::HandlerClass& cls) {
    h.init(app, std::move(request), cls);
  }
  static void set_match(RequestHandler& h, routing::MatchResult&& m) {
    h.path_args_ = std::move(m.path_args);
    h.path_kwargs_ = std::move(m.path_kwargs);
  }
  static std::vector<std::optional<std::string>*> path_values(RequestHandler& h, std::size_t arity) {
    std::vector<std::optional<std::string>*> v;
    std::size_t n = h.path_kwargs_.empty() ? h.path_args_.size() : h.path_kwargs_.size();
    // A method without parameters accepts any pattern (it reads path_args() itself).
    if (arity == 0) return v;
    if (n != arity) {
      throw std::invalid_argument("the handler method takes " + std::to_string(arity) +
                                  " path arguments but the pattern has " + std::to_string(n) + " groups");
    }
    v.reserve(n);
    if (!h.path_kwargs_.empty()) {
      for (auto& kv : h.path_kwargs_) v.push_back(&kv.second);
    } else {
      for (auto& a : h.path_args_) v.push_back(&a);
    }
    return v;
  }
  static void mark_finished(RequestHandler& h) { h.finished_ = true; }
  static std::vector<std::unique_ptr<OutputTransform>>& transforms(RequestHandler& h) { return h.transforms_; }
  static std::optional<Future<void>>& prepared_future(RequestHandler& h) { return h.prepared_future_; }
  static std::optional<Future<void>>& body_future(RequestHandler& h) { return h.body_future_; }

  // Runs the handler's stages synchronously as far as they go; continues in a coroutine only if
  // one of them returned a pending future. So plain handlers cost no coroutine frame.
  static void run(const std::shared_ptr<RequestHandler>& h) {
    detail::MaybeFuture pending;
    try {
      pending = h->step();
    } catch (...) {
      h->on_execute_exception(std::current_exception());
      return;
    }
    if (pending) (void)run_async(h, std::move(*pending));
  }

  static Future<void> run_async(std::shared_ptr<RequestHandler> h, Future<void> pending) {
    for (;;) {
      bool body = h->stage_ == RequestHandler::Stage::after_body && h->body_future_ &&
                  pending.state() == h->body_future_->state();
      try {
        try {
          co_await std::move(pending);
        } catch (const iostream::StreamClosedError&) {
          // The client went away while the body streamed in: nothing to answer.
          if (!body) throw;
          h->stage_ = RequestHandler::Stage::done;
          co_return;
        }
        auto next = h->step();
        if (!next) co_return;
        pending = std::move(*next);
      } catch (...) {
        h->on_execute_exception(std::current_exception());
        co_return;
      }
    }
  }
};

namespace detail {
std::vector<std::optional<std::string>*> path_values(RequestHandler& h, std::size_t arity) {
  return HandlerAccess::path_values(h, arity);
}
void init_handler(RequestHandler& h, Application& application, std::shared_ptr<httputil::HTTPServerRequest> request,
                  const HandlerClass& cls) {
  HandlerAccess::init(h, application, std::move(request), cls);
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// RequestHandler

RequestHandler::RequestHandler() = default;
RequestHandler::~RequestHandler() {
  if (spare_headers_gone) return;
  auto& s = spare_headers;
  // A list grown past the usual few headers is not worth keeping.
  auto capacity = headers_.capacity();
  if (capacity > 0 && capacity <= 16 && s.count < SpareHeaders::kKeep) s.spares[s.count++] = std::move(headers_);
  // An empty std::string's capacity is its inline buffer's: only a buffer with memory of its
  // own is worth keeping.
  if (auto c = write_buffer_.capacity(); c > std::string().capacity() && c <= SpareHeaders::kMaxBuffer &&
                                         s.buffer_count < SpareHeaders::kKeep)
    s.buffers[s.buffer_count++] = std::move(write_buffer_);
}

void RequestHandler::init(Application& application, std::shared_ptr<httputil::HTTPServerRequest> request,
                          const detail::HandlerClass& cls) {
  application_ = &application;
  request_ = std::move(request);
  cls_ = &cls;
  method_index_ = detail::method_index(request_->method);
  clear();
  if (auto* c = request_->connection) c->set_close_callback([this] { on_connection_close(); });
}

const Settings& RequestHandler::settings() const noexcept { return application_->settings(); }

void RequestHandler::on_connection_close() {
  if (cls_ && cls_->stream_request_body && body_future_ && !body_future_->done()) {
    body_future_->set_exception(std::make_exception_ptr(iostream::StreamClosedError()));
    body_future_->state()->mark_retrieved();
  }
}

std::optional<std::string> RequestHandler::path_kwarg(std::string_view name) const {
  for (const auto& [k, v] : path_kwargs_)
    if (k == name) return v;
  return std::nullopt;
}

std::string RequestHandler::decode_argument(std::string value, std::string_view name) {
  if (!valid_utf8(value)) {
    throw HTTPError(400, "Invalid unicode in " + std::string(name.empty() ? "url" : name) + ": " +
                             repr_bytes(std::string_view(value).substr(0, 40)));
  }
  return value;
}

std::vector<std::string> RequestHandler::get_arguments_from(const httputil::Arguments& source, std::string_view name,
                                                            bool strip) {
  std::vector<std::string> values;
  auto it = source.find(name);
  if (it == source.end()) return values;
  values.reserve(it->second.size());
  for (const auto& v : it->second) {
    std::string s = decode_argument(v, name);
    // _remove_control_chars_regex: [\x00-\x08\x0e-\x1f] become spaces.
    for (char& c : s) {
      auto u = static_cast<unsigned char>(c);
      if (u <= 0x08 || (u >= 0x0e && u <= 0x1f)) c = ' ';
    }
    if (strip) {
      std::size_t b = 0, e = s.size();
      while (b < e && is_strip_space(s[b])) ++b;
      while (e > b && is_strip_space(s[e - 1])) --e;
      s = s.substr(b, e - b);
    }
    values.push_back(std::move(s));
  }
  return values;
}

std::optional<std::string> RequestHandler::get_argument_from(const httputil::Arguments& source, std::string_view name,
                                                             bool strip) {
  auto values = get_arguments_from(source, name, strip);
  if (values.empty()) return std::nullopt;
  return std::move(values.back());
}

namespace {
// The argument found, or MissingArgumentError (400) for `name` if there was none.
std::string required_argument(std::optional<std::string> value, std::string_view name) {
  if (!value) throw MissingArgumentError(std::string(name));
  return std::move(*value);
}
std::string argument_or(std::optional<std::string> value, std::string_view default_value) {
  return value ? std::move(*value) : std::string(default_value);
}
}  // namespace

std::string RequestHandler::get_argument(std::string_view name, bool strip) {
  return required_argument(get_argument_from(request_->arguments, name, strip), name);
}
std::string RequestHandler::get_argument(std::string_view name, std::string_view default_value, bool strip) {
  return argument_or(get_argument_from(request_->arguments, name, strip), default_value);
}
std::optional<std::string> RequestHandler::get_argument(std::string_view name, std::nullopt_t, bool strip) {
  return get_argument_from(request_->arguments, name, strip);
}
std::vector<std::string> RequestHandler::get_arguments(std::string_view name, bool strip) {
  return get_arguments_from(request_->arguments, name, strip);
}
std::string RequestHandler::get_query_argument(std::string_view name, bool strip) {
  return required_argument(get_argument_from(request_->query_arguments, name, strip), name);
}
std::string RequestHandler::get_query_argument(std::string_view name, std::string_view default_value, bool strip) {
  return argument_or(get_argument_from(request_->query_arguments, name, strip), default_value);
}
std::optional<std::string> RequestHandler::get_query_argument(std::string_view name, std::nullopt_t, bool strip) {
  return get_argument_from(request_->query_arguments, name, strip);
}
std::vector<std::string> RequestHandler::get_query_arguments(std::string_view name, bool strip) {
  return get_arguments_from(request_->query_arguments, name, strip);
}
std::string RequestHandler::get_body_argument(std::string_view name, bool strip) {
  return required_argument(get_argument_from(request_->body_arguments, name, strip), name);
}
std::string RequestHandler::get_body_argument(std::string_view name, std::string_view default_value, bool strip) {
  return argument_or(get_argument_from(request_->body_arguments, name, strip), default_value);
}
std::optional<std::string> RequestHandler::get_body_argument(std::string_view name, std::nullopt_t, bool strip) {
  return get_argument_from(request_->body_arguments, name, strip);
}
std::vector<std::string> RequestHandler::get_body_arguments(std::string_view name, bool strip) {
  return get_arguments_from(request_->body_arguments, name, strip);
}

const std::map<std::string, std::string, std::less<>>& RequestHandler::cookies() { return request_->cookies(); }

std::optional<std::string> RequestHandler::get_cookie(std::string_view name) {
  const auto& c = request_->cookies();
  if (auto it = c.find(name); it != c.end()) return it->second;
  return std::nullopt;
}

void RequestHandler::set_cookie(std::string_view name, std::string_view value, const CookieOptions& options) {
  std::string header = format_set_cookie(name, value, options);
  // Tornado deletes a name from its dict of outgoing cookies before setting it again, so a
  // replaced cookie is sent last.
  std::erase_if(new_cookies_, [&](const auto& cookie) { return cookie.first == name; });
  new_cookies_.emplace_back(std::string(name), std::move(header));
}

void RequestHandler::clear_cookie(std::string_view name, std::string_view path, std::optional<std::string> domain) {
  CookieOptions o;
  o.path = std::string(path);
  o.domain = std::move(domain);
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  o.expires = now - 365 * 86400.0;
  set_cookie(name, "", o);
}

void RequestHandler::clear_all_cookies(std::string_view path, std::optional<std::string> domain) {
  for (const auto& [name, value] : request_->cookies()) clear_cookie(name, path, domain);
}

std::string RequestHandler::create_signed_value(std::string_view name, std::string_view value,
                                                std::optional<int> version) {
  require_setting("cookie_secret", "secure cookies");
  const auto& secret = settings().cookie_secret;
  std::optional<int> key_version;
  if (secret.is_versioned()) {
    if (!settings().key_version) throw std::runtime_error("key_version setting must be used for secret_key dicts");
    key_version = settings().key_version;
  }
  return web::create_signed_value(secret, name, value, version, {}, key_version);
}

void RequestHandler::set_signed_cookie(std::string_view name, std::string_view value,
                                       std::optional<double> expires_days, std::optional<int> version,
                                       CookieOptions options) {
  options.expires_days = expires_days;
  set_cookie(name, create_signed_value(name, value, version), options);
}

std::optional<std::string> RequestHandler::get_signed_cookie(std::string_view name, std::optional<std::string> value,
                                                             double max_age_days, std::optional<int> min_version) {
  require_setting("cookie_secret", "secure cookies");
  if (!value) value = get_cookie(name);
  if (!value) return std::nullopt;
  return decode_signed_value(settings().cookie_secret, name, *value, max_age_days, {}, min_version);
}

std::optional<int> RequestHandler::get_signed_cookie_key_version(std::string_view name,
                                                                 std::optional<std::string> value) {
  require_setting("cookie_secret", "secure cookies");
  if (!value) value = get_cookie(name);
  if (!value) return std::nullopt;
  return get_signature_key_version(*value);
}

const XsrfToken& RequestHandler::get_raw_xsrf_token() {
  if (!raw_xsrf_token_) {
    std::optional<XsrfToken> t;
    if (auto cookie = get_cookie(settings().xsrf_cookie_name); cookie && !cookie->empty()) t = decode_xsrf_token(*cookie);
    raw_xsrf_token_from_cookie_ = t.has_value();
    if (!t) {
      t.emplace();
      t->token = new_xsrf_token();
      t->timestamp = static_cast<std::int64_t>(std::time(nullptr));
    }
    raw_xsrf_token_ = std::move(t);
  }
  return *raw_xsrf_token_;
}

const std::string& RequestHandler::xsrf_token() {
  if (!xsrf_token_) {
    const auto& raw = get_raw_xsrf_token();
    int version = settings().xsrf_cookie_version;
    if (version != 1 && version != 2) throw std::invalid_argument("unknown xsrf cookie version " + std::to_string(version));
    xsrf_token_ = encode_xsrf_token(raw.token, static_cast<double>(raw.timestamp), version);
    if (!raw_xsrf_token_from_cookie_) {
      CookieOptions options = settings().xsrf_cookie_kwargs;
      const auto& user = current_user();
      if (user && !user->empty() && !options.expires_days) options.expires_days = 30;
      set_cookie(settings().xsrf_cookie_name, *xsrf_token_, options);
    }
  }
  return *xsrf_token_;
}

void RequestHandler::check_xsrf_cookie() {
  std::optional<std::string> token = get_argument("_xsrf", std::nullopt);
  if (!token || token->empty()) token = request_->headers.get("X-Xsrftoken");
  if (!token || token->empty()) token = request_->headers.get("X-Csrftoken");
  if (!token || token->empty()) throw HTTPError(403, "'_xsrf' argument missing from POST");
  auto decoded = decode_xsrf_token(*token);
  const auto& expected = get_raw_xsrf_token();
  if (!decoded || decoded->token.empty()) throw HTTPError(403, "'_xsrf' argument has invalid format");
  if (!compare_digest(decoded->token, expected.token)) throw HTTPError(403, "XSRF cookie does not match POST argument");
}

std::string RequestHandler::xsrf_form_html() { return web::xsrf_form_html(xsrf_token()); }

const std::optional<std::string>& RequestHandler::current_user() {
  if (!current_user_known_) {
    current_user_ = get_current_user();
    current_user_known_ = true;
  }
  return current_user_;
}

void RequestHandler::set_current_user(std::optional<std::string> user) {
  current_user_ = std::move(user);
  current_user_known_ = true;
}

void RequestHandler::set_status(int status_code, std::optional<std::string_view> reason) {
  status_code_ = status_code;
  if (reason) {
    reason_ = valid_reason(*reason) ? std::string(*reason) : std::string("Unknown");
  } else {
    reason_ = std::string(httputil::responses(status_code));
  }
}

void RequestHandler::set_header(std::string_view name, std::string_view value) {
  check_header_value(value);
  headers_.set(name, value);
}

void RequestHandler::add_header(std::string_view name, std::string_view value) {
  check_header_value(value);
  headers_.add(name, value);
}

void RequestHandler::clear_header(std::string_view name) { headers_.remove(name); }

void RequestHandler::write(std::string_view chunk) {
  if (finished_) throw std::runtime_error("Cannot write() after finish()");
  write_buffer_.append(chunk);
}

void RequestHandler::write(const boost::json::object& chunk) {
  if (finished_) throw std::runtime_error("Cannot write() after finish()");
  // A constant value: set_header's check for control characters has nothing to find.
  headers_.set("Content-Type", "application/json; charset=UTF-8");
  append_json(write_buffer_, chunk);
}

void RequestHandler::write(const boost::json::value& chunk) {
  if (const auto* obj = chunk.if_object()) return write(*obj);
  std::string message = "write() only accepts bytes, unicode, and dict objects";
  if (chunk.is_array()) {
    message +=
        ". Lists not accepted for security reasons; see "
        "http://www.tornadoweb.org/en/stable/web.html#tornado.web.RequestHandler.write";
  }
  throw std::invalid_argument(message);
}

void RequestHandler::clear() {
  if (!spare_headers_gone) {
    auto& s = spare_headers;
    if (headers_.capacity() == 0 && s.count > 0) headers_ = std::move(s.spares[--s.count]);
    if (write_buffer_.capacity() == std::string().capacity() && s.buffer_count > 0)
      write_buffer_ = std::move(s.buffers[--s.buffer_count]);
  }
  headers_ = default_headers();
  set_default_headers();
  write_buffer_.clear();
  status_code_ = 200;
  // A size and two bytes rather than a string compare (a memcmp call) on every handler's clear().
  if (reason_.size() != 2 || reason_[0] != 'O' || reason_[1] != 'K') reason_.assign("OK", 2);
}

Future<void> RequestHandler::flush(bool include_footers) {
  httputil::HTTPConnection* conn = request_->connection;
  std::string chunk = std::move(write_buffer_);
  write_buffer_.clear();
  auto send = [&]() -> Future<void> {
    if (!headers_written_) {
      headers_written_ = true;
      for (auto& t : transforms_) t->transform_first_chunk(status_code_, headers_, chunk, include_footers);
      if (request_->method == "HEAD") chunk.clear();
      for (auto& [name, cookie] : new_cookies_) headers_.add("Set-Cookie", cookie);
      if (!conn) return failed_closed_future();
      return conn->write_headers(httputil::ResponseStartLine{"", status_code_, reason_}, headers_, chunk);
    }
    for (auto& t : transforms_) t->transform_chunk(chunk, include_footers);
    if (request_->method == "HEAD") {
      Future<void> f;
      f.set_result();
      return f;
    }
    if (!conn) return failed_closed_future();
    return conn->write(chunk);
  };
  Future<void> future = send();
  // The connection copied the chunk: its memory goes back to the write buffer, for later writes
  // (and, through the spares, for later handlers), unless something was written meanwhile.
  if (write_buffer_.empty()) {
    write_buffer_ = std::move(chunk);
    write_buffer_.clear();
  }
  return future;
}

Future<void> RequestHandler::finish() {
  if (finished_) throw std::runtime_error("finish() called twice");
  if (!headers_written_) {
    if (status_code_ == 200 && (request_->method == "GET" || request_->method == "HEAD") &&
        !headers_.contains("Etag")) {
      // set_etag_header() then check_etag_header(), which cannot match when no Etag was set.
      // The header is known absent: add() is set() without its scan.
      if (auto etag = compute_etag()) {
        check_header_value(*etag);
        headers_.add("Etag", *etag);
        if (check_etag_header()) {
          write_buffer_.clear();
          set_status(304);
        }
      }
    }
    if (status_code_ == 204 || status_code_ == 304 || (status_code_ >= 100 && status_code_ < 200)) {
      if (!write_buffer_.empty())
        throw std::logic_error("Cannot send body with " + std::to_string(status_code_));
      clear_representation_headers();
    } else if (!headers_.contains("Content-Length")) {
      char digits[24];
      auto [end, ec] = std::to_chars(digits, digits + sizeof digits, write_buffer_.size());
      headers_.add("Content-Length", std::string_view(digits, static_cast<std::size_t>(end - digits)));
    }
  }
  auto* conn = request_->connection;
  if (conn) conn->set_close_callback({});
  auto future = flush(true);
  if (conn) conn->finish();
  application_->log_request(*this);
  finished_ = true;
  on_finish();
  return future;
}

Future<void> RequestHandler::finish(std::string_view chunk) {
  write(chunk);
  return finish();
}

Future<void> RequestHandler::finish(const boost::json::object& chunk) {
  write(chunk);
  return finish();
}

void RequestHandler::clear_representation_headers() {
  headers_.remove("Content-Encoding");
  headers_.remove("Content-Language");
  headers_.remove("Content-Type");
}

void RequestHandler::redirect(std::string_view url, bool permanent, std::optional<int> status) {
  if (headers_written_) throw std::runtime_error("Cannot redirect after headers have been written");
  int code = status ? *status : (permanent ? 301 : 302);
  if (code < 300 || code > 399) throw std::invalid_argument("redirect status must be 3xx: " + std::to_string(code));
  set_status(code);
  set_header("Location", url);
  finish();
}

void RequestHandler::send_error(int status_code, std::exception_ptr exc, std::optional<std::string> reason) {
  if (headers_written_) {
    log::gen_log().error("Cannot send error response after headers written");
    if (!finished_) {
      try {
        finish();
      } catch (...) {
        log::gen_log().log_exception(log::Level::ERROR, std::current_exception(), "Failed to flush partial response");
      }
    }
    return;
  }
  clear();
  if (exc) {
    try {
      std::rethrow_exception(exc);
    } catch (const HTTPError& e) {
      if (e.reason) reason = e.reason;
    } catch (...) {
    }
  }
  set_status(status_code, reason ? std::optional<std::string_view>(*reason) : std::nullopt);
  try {
    if (status_code != 304) write_error(status_code, exc);
  } catch (...) {
    log::app_log().log_exception(log::Level::ERROR, std::current_exception(), "Uncaught exception in write_error");
  }
  if (!finished_) finish();
}

void RequestHandler::write_error(int status_code, std::exception_ptr exc) {
  if (settings().serve_traceback.value_or(settings().debug) && exc) {
    set_header("Content-Type", "text/plain");
    write(describe_exception(exc));
    write("\n");
    finish();
    return;
  }
  std::string code = std::to_string(status_code);
  std::string message = escape::xhtml_escape(reason_);
  finish("<html><title>" + code + ": " + message + "</title><body>" + code + ": " + message + "</body></html>");
}

std::shared_ptr<iostream::IOStream> RequestHandler::detach() {
  finished_ = true;
  if (auto* c = dynamic_cast<http1connection::HTTP1Connection*>(request_->connection)) return c->detach();
  return nullptr;
}

std::optional<std::string> RequestHandler::compute_etag() { return "\"" + sha1_hex(write_buffer_) + "\""; }

void RequestHandler::set_etag_header() {
  if (auto etag = compute_etag()) set_header("Etag", *etag);
}

bool RequestHandler::check_etag_header() {
  auto computed = headers_.find("Etag");
  auto inm = request_->headers.find("If-None-Match");
  if (!computed || computed->empty() || !inm) return false;
  // re.findall(r'\*|(?:W/)?"[^"]*"', If-None-Match)
  std::vector<std::string_view> etags;
  std::string_view s = *inm;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '*') {
      etags.push_back(s.substr(i, 1));
      ++i;
      continue;
    }
    std::size_t start = i;
    std::size_t q = i;
    if (s.substr(i).starts_with("W/\"")) q = i + 2;
    if (s[q] == '"') {
      auto close = s.find('"', q + 1);
      if (close != std::string_view::npos) {
        etags.push_back(s.substr(start, close + 1 - start));
        i = close + 1;
        continue;
      }
    }
    ++i;
  }
  if (etags.empty()) return false;
  if (etags[0] == "*") return true;
  auto val = [](std::string_view x) { return x.starts_with("W/") ? x.substr(2) : x; };
  std::string_view mine = val(*computed);
  for (auto e : etags)
    if (val(e) == mine) return true;
  return false;
}

std::string RequestHandler::get_login_url() {
  require_setting("login_url", "@tornado.web.authenticated");
  return settings().login_url;
}

std::string RequestHandler::reverse_url(std::string_view name, const std::vector<std::string>& args) {
  auto url = application_->reverse_url(name, args);
  if (!url) throw std::out_of_range(std::string(name) + " not found in named urls");
  return std::move(*url);
}

std::string RequestHandler::static_url(std::string_view path, std::optional<bool> include_host, bool include_version) {
  require_setting("static_path", "static_url");
  const auto& cls = settings().static_handler_class;
  if (!cls || !cls->make_static_url) throw std::runtime_error("static_url needs a static_handler_class with make_static_url");
  std::string base =
      include_host.value_or(this->include_host) ? request_->protocol + "://" + request_->host : std::string();
  return base + cls->make_static_url(settings(), path, include_version);
}

void RequestHandler::require_setting(std::string_view name, std::string_view feature) {
  if (!settings_flag(settings(), name)) {
    throw std::runtime_error("You must define the '" + std::string(name) + "' setting in your application to use " +
                             std::string(feature));
  }
}

std::string RequestHandler::request_summary() const {
  return request_->method + " " + request_->uri + " (" + request_->remote_ip + ")";
}

void RequestHandler::log_exception(std::exception_ptr exc) {
  try {
    std::rethrow_exception(exc);
  } catch (const HTTPError& e) {
    if (!e.log_message.empty())
      log::gen_log().warning("{} {}: {}", e.status_code, request_summary(), e.log_message);
    return;
  } catch (...) {
  }
  const auto& r = *request_;
  log::app_log().log_exception(log::Level::ERROR, exc, "Uncaught exception {}\n{}", request_summary(),
                               "HTTPServerRequest(protocol='" + r.protocol + "', host='" + r.host + "', method='" +
                                   r.method + "', uri='" + r.uri + "', version='" + r.version + "', remote_ip='" +
                                   r.remote_ip + "')");
}

void RequestHandler::handle_request_exception(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Finish& f) {
    if (!finished_) {
      if (f.json) finish(*f.json);
      else if (f.chunk) finish(*f.chunk);
      else finish();
    }
    return;
  } catch (...) {
  }
  try {
    log_exception(e);
  } catch (...) {
    log::app_log().log_exception(log::Level::ERROR, std::current_exception(), "Error in exception logger");
  }
  if (finished_) return;
  int status = 500;
  try {
    std::rethrow_exception(e);
  } catch (const HTTPError& h) {
    status = h.status_code;
  } catch (...) {
  }
  send_error(status, e);
}

void RequestHandler::on_execute_exception(std::exception_ptr e) {
  try {
    handle_request_exception(e);
  } catch (...) {
    log::app_log().log_exception(log::Level::ERROR, std::current_exception(), "Exception in exception handler");
  }
  if (prepared_future_ && !prepared_future_->done()) prepared_future_->set_result();
  stage_ = Stage::done;
}

bool RequestHandler::apply_decorators(Decorator d) {
  const auto& m = request_->method;
  bool get_or_head = m == "GET" || m == "HEAD";
  std::string_view path = request_->path;
  if (d & removeslash) {
    if (path.ends_with('/')) {
      if (!get_or_head) throw HTTPError(404);
      std::string uri(path);
      while (!uri.empty() && uri.back() == '/') uri.pop_back();
      if (!uri.empty()) {
        if (!request_->query.empty()) uri += "?" + request_->query;
        redirect(uri, true);
        return false;
      }
    }
  }
  if (d & addslash) {
    if (!path.ends_with('/')) {
      if (!get_or_head) throw HTTPError(404);
      std::string uri = std::string(path) + "/";
      if (!request_->query.empty()) uri += "?" + request_->query;
      redirect(uri, true);
      return false;
    }
  }
  if (d & authenticated) {
    // Python tests `not self.current_user`: an empty user is nobody.
    if (!current_user() || current_user()->empty()) {
      if (!get_or_head) throw HTTPError(403);
      std::string url = get_login_url();
      if (url.find('?') == std::string::npos) {
        std::string next_url = is_absolute(url) && !url.starts_with("//") ? request_->full_url() : request_->uri;
        url += "?" + escape::urlencode({{"next", next_url}});
      }
      redirect(url);
      return false;
    }
  }
  return true;
}

detail::MaybeFuture RequestHandler::step() {
  for (;;) {
    switch (stage_) {
      case Stage::start: {
        if (method_index_ < 0 || !(cls_->supported & (1u << method_index_))) throw HTTPError(405);
        if (!cls_->stream_request_body) {
          try {
            request_->parse_body();
          } catch (const httputil::HTTPInputError& e) {
            throw HTTPError(400, std::string("Invalid body: ") + e.what());
          }
        }
        for (auto& a : path_args_)
          if (a) *a = decode_argument(std::move(*a));
        for (auto& [k, v] : path_kwargs_)
          if (v) *v = decode_argument(std::move(*v), k);
        // GET, HEAD and OPTIONS (indexes 0, 1, 6) are safe methods: no XSRF check.
        if (method_index_ != 0 && method_index_ != 1 && method_index_ != 6 && settings().xsrf_cookies)
          check_xsrf_cookie();
        stage_ = Stage::after_prepare;
        if (cls_->prepare) {
          if (auto r = cls_->prepare(*this)) {
            if (!r->done()) return r;
            r->result();
          }
        }
        break;
      }
      case Stage::after_prepare:
        if (prepared_future_ && !prepared_future_->done()) prepared_future_->set_result();
        if (finished_) {
          stage_ = Stage::done;
          return std::nullopt;
        }
        stage_ = Stage::after_body;
        if (cls_->stream_request_body && body_future_) {
          if (!body_future_->done()) return *body_future_;
          try {
            body_future_->result();
          } catch (const iostream::StreamClosedError&) {
            stage_ = Stage::done;
            return std::nullopt;
          }
        }
        break;
      case Stage::after_body: {
        stage_ = Stage::after_method;
        auto method = cls_->methods[method_index_];
        if (!method) throw HTTPError(405);
        if (Decorator d = cls_->decorators[method_index_]; d != none && !apply_decorators(d)) break;
        if (auto r = method(*this)) {
          if (!r->done()) return r;
          r->result();
        }
        break;
      }
      case Stage::after_method:
        stage_ = Stage::done;
        if (auto_finish_ && !finished_) finish();
        return std::nullopt;
      case Stage::done:
        return std::nullopt;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The request dispatcher

namespace {

// Runs one request through a handler: buffers the body (or streams it to data_received), then
// executes the handler. The part of _HandlerDelegate that HandlerDelegate and ApplicationDelegate
// share.
class HandlerRun {
 public:
  HandlerRun(Application& app, std::shared_ptr<httputil::HTTPServerRequest> request, const HandlerFactory& factory,
             routing::MatchResult&& params)
      : app_(app),
        request_(std::move(request)),
        factory_(factory),
        params_(std::move(params)),
        stream_(factory.handler_class().stream_request_body) {}

  std::optional<Future<void>> headers_received() {
    if (stream_) return execute();
    return std::nullopt;
  }
  std::optional<Future<void>> data_received(std::string chunk) {
    if (stream_) {
      if (!handler_) return std::nullopt;
      return factory_.handler_class().data_received(*handler_, std::move(chunk));
    }
    if (body_.empty()) body_ = std::move(chunk);
    else body_ += chunk;
    return std::nullopt;
  }
  void finish() {
    if (stream_) {
      if (handler_) {
        auto& f = HandlerAccess::body_future(*handler_);
        if (f && !f->done()) future_set_result_unless_cancelled(*f);
      }
      return;
    }
    request_->body = std::move(body_);
    execute();
  }
  void on_connection_close() {
    if (stream_) {
      if (handler_) handler_->on_connection_close();
    } else {
      body_.clear();
    }
  }

 private:
  std::optional<Future<void>> execute() {
    // static_hash_cache=False (debug): static files' versions are recomputed on every request.
    if (!app_.settings().static_hash_cache.value_or(true)) {
      const auto& cls = app_.settings().static_handler_class;
      if (cls && cls->reset) cls->reset();
    }
    try {
      handler_ = factory_.create(app_, request_);
    } catch (...) {
      // The handler could not be built (its initialize threw): nothing can answer but us.
      log::app_log().log_exception(log::Level::ERROR, std::current_exception(), "Uncaught exception creating handler");
      if (auto* conn = request_->connection) {
        httputil::HTTPHeaders h;
        h.set("Content-Length", "0");
        try {
          (void)conn->write_headers(httputil::ResponseStartLine{"", 500, "Internal Server Error"}, h);
          conn->finish();
        } catch (...) {
        }
      }
      return std::nullopt;
    }
    for (const auto& t : app_.transforms()) HandlerAccess::transforms(*handler_).push_back(t(*request_));
    HandlerAccess::set_match(*handler_, std::move(params_));
    std::optional<Future<void>> prepared;
    if (stream_) {
      HandlerAccess::body_future(*handler_).emplace();
      prepared.emplace();
      HandlerAccess::prepared_future(*handler_) = *prepared;
    }
    HandlerAccess::run(handler_);
    return prepared;
  }

  Application& app_;
  std::shared_ptr<httputil::HTTPServerRequest> request_;
  const HandlerFactory& factory_;
  routing::MatchResult params_;
  bool stream_;
  std::string body_;
  std::shared_ptr<RequestHandler> handler_;
};

// The delegate of a request routed to a handler factory. Mirrors _HandlerDelegate.
class HandlerDelegate final : public routing::RequestDelegate, public tornado::detail::Recycled {
 public:
  HandlerDelegate(Application& app, std::shared_ptr<httputil::HTTPServerRequest> request, const HandlerFactory& factory,
                  routing::MatchResult&& params)
      : run_(app, std::move(request), factory, std::move(params)) {}

  std::optional<Future<void>> headers_received(const httputil::StartLine&, httputil::HTTPHeaders) override {
    return run_.headers_received();
  }
  std::optional<Future<void>> data_received(std::string chunk) override { return run_.data_received(std::move(chunk)); }
  void finish() override { run_.finish(); }
  void on_connection_close() override { run_.on_connection_close(); }

 private:
  HandlerRun run_;
};

}  // namespace

// What Application::route found for a request: a handler factory (with the groups its matcher
// extracted), or another target's delegate.
struct Application::Routed {
  const HandlerFactory* factory = nullptr;
  routing::MatchResult params;
  std::unique_ptr<httputil::HTTPMessageDelegate> delegate;
};

// Application::start_request's delegate: Router's routing delegate (_RoutingDelegate: builds the
// request when its headers arrive and routes it) and the handler delegate it finds
// (_HandlerDelegate) in one object, so that a request to a handler costs one delegate, not two.
// A target other than a handler factory gets its own delegate, which this one forwards to.
class Application::ApplicationDelegate final : public httputil::HTTPMessageDelegate,
                                               public tornado::detail::Recycled {
 public:
  ApplicationDelegate(Application& app, const void* server_conn, httputil::HTTPConnection* conn)
      : app_(app), routed_(server_conn, conn) {}

  std::optional<Future<void>> headers_received(const httputil::StartLine& start_line,
                                               httputil::HTTPHeaders headers) override {
    const auto& request = routed_.build(std::get<httputil::RequestStartLine>(start_line), std::move(headers));
    Routed routed;
    app_.route(request, routed);
    if (routed.factory) {
      run_.emplace(app_, request, *routed.factory, std::move(routed.params));
      return run_->headers_received();
    }
    other_ = std::move(routed.delegate);
    return routed_.forward_headers(*other_, start_line);
  }
  std::optional<Future<void>> data_received(std::string chunk) override {
    if (run_) return run_->data_received(std::move(chunk));
    return other_->data_received(std::move(chunk));
  }
  void finish() override {
    if (run_) run_->finish();
    else other_->finish();
  }
  void on_connection_close() override {
    if (run_) run_->on_connection_close();
    else if (other_) other_->on_connection_close();
  }

 private:
  Application& app_;
  std::optional<HandlerRun> run_;
  std::unique_ptr<httputil::HTTPMessageDelegate> other_;
  // Last, so destroyed first: the request is cut off from the connection before the handler goes.
  routing::detail::RoutedRequest routed_;
};

// ---------------------------------------------------------------------------------------------
// Application

namespace {
// The HandlerFactory `target` is, or null. Rule targets are of a few types, so the answer of the
// dynamic_cast is remembered for the last dynamic type seen: then it costs a type comparison.
const HandlerFactory* as_handler_factory(const routing::CustomTarget& target) {
  thread_local const std::type_info* last_type = nullptr;
  thread_local bool last_answer = false;
  const std::type_info* type = &typeid(target);
  if (type != last_type) {
    last_answer = dynamic_cast<const HandlerFactory*>(&target) != nullptr;
    last_type = type;
  }
  // HandlerFactory is CustomTarget's only base path in a factory: the static_cast is exact.
  return last_answer ? static_cast<const HandlerFactory*>(&target) : nullptr;
}
}  // namespace

// The router of an Application: knows handler factories as targets, and makes nested lists of
// rules into routers of its own kind. Mirrors _ApplicationRouter.
struct Application::ApplicationRouter final : routing::ReversibleRuleRouter {
  ApplicationRouter(Application& app, std::vector<routing::Rule> rules) : app(app) { add_rules(std::move(rules)); }

  std::shared_ptr<routing::Router> make_nested_router(std::vector<routing::Rule> rules) override {
    return std::make_shared<ApplicationRouter>(app, std::move(rules));
  }

  std::unique_ptr<httputil::HTTPMessageDelegate> get_target_delegate(
      const routing::Target& target, const std::shared_ptr<httputil::HTTPServerRequest>& request,
      routing::MatchResult& params) override {
    if (const auto* custom = target.custom()) {
      if (const auto* factory = as_handler_factory(*custom))
        return app.get_handler_delegate(request, *factory, std::move(params));
    }
    return ReversibleRuleRouter::get_target_delegate(target, request, params);
  }

  Application& app;
};

Application::Application(std::vector<routing::Rule> handlers, Settings settings, std::optional<std::string> default_host)
    : settings_(std::move(settings)), default_host_(std::move(default_host)) {
  if (!settings_.static_path.empty()) {
    if (!settings_.static_handler_class) settings_.static_handler_class = static_handler_class<StaticFileHandler>();
    if (!settings_.static_handler_class->make_factory)
      throw std::runtime_error("the static_path setting needs a static_handler_class with make_factory");
    auto factory = settings_.static_handler_class->make_factory(settings_.static_path, settings_.static_handler_args);
    std::vector<routing::Rule> statics{
        routing::Rule(re_escape(settings_.static_url_prefix) + "(.*)", factory),
        routing::Rule(R"(/(favicon\.ico))", factory),
        routing::Rule(R"(/(robots\.txt))", factory),
    };
    handlers.insert(handlers.begin(), statics.rbegin(), statics.rend());
  }
  if (settings_.debug) {
    if (!settings_.serve_traceback) settings_.serve_traceback = true;
    if (!settings_.static_hash_cache) settings_.static_hash_cache = false;
  }
  if (settings_.compress_response || settings_.gzip) {
    add_transform([](const httputil::HTTPServerRequest& request) -> std::unique_ptr<OutputTransform> {
      return std::make_unique<GZipContentEncoding>(request);
    });
  }
  not_found_ = handler<ErrorHandler>(404);
  wildcard_router_ = std::make_shared<ApplicationRouter>(*this, std::move(handlers));
  std::vector<routing::Rule> top;
  auto any = std::make_shared<routing::AnyMatches>();
  any_matches_ = any.get();
  top.emplace_back(std::move(any), routing::Target(wildcard_router_));
  default_router_ = std::make_shared<ApplicationRouter>(*this, std::move(top));
}

Application::~Application() {
  for (auto& s : servers_) s->stop();
}

httpserver::HTTPServer& Application::listen(std::uint16_t port, std::string_view address,
                                            httpserver::HTTPServerOptions options) {
  auto server = std::make_unique<httpserver::HTTPServer>(*this, std::move(options));
  server->listen(port, address);
  servers_.push_back(std::move(server));
  return *servers_.back();
}

void Application::add_handlers(std::string host_pattern, std::vector<routing::Rule> handlers) {
  auto host_matcher = std::make_shared<routing::HostMatches>(std::move(host_pattern));
  auto& rules = default_router_->rules();
  routing::Rule rule(host_matcher, routing::Target(std::make_shared<ApplicationRouter>(*this, handlers)));
  rules.insert(rules.end() - 1, std::move(rule));
  if (default_host_) {
    std::vector<routing::Rule> r;
    r.emplace_back(std::make_shared<routing::DefaultHostMatches>([this] { return default_host_.value_or(""); },
                                                                 host_matcher->host_pattern()),
                   routing::Target(std::move(handlers)));
    wildcard_router_->add_rules(std::move(r));
  }
}

void Application::add_transform(TransformFactory transform) { transforms_.push_back(std::move(transform)); }

std::unique_ptr<httputil::HTTPMessageDelegate> Application::start_request(const void* server_conn,
                                                                          httputil::HTTPConnection* request_conn) {
  // A class derived from Application may override find_handler: Router's routing delegate calls it.
  if (typeid(*this) != typeid(Application)) return Router::start_request(server_conn, request_conn);
  return std::make_unique<ApplicationDelegate>(*this, server_conn, request_conn);
}

bool Application::route_rules(routing::RuleRouter& router, const std::shared_ptr<httputil::HTTPServerRequest>& request,
                              Routed& out) {
  // RuleRouter::find_handler, with ApplicationRouter::get_target_delegate's handler factories
  // taken as they are instead of as a delegate, and this application's nested routers walked
  // in place.
  for (auto& rule : router.rules()) {
    auto params = rule.matcher->match(*request);
    if (!params) continue;
    const auto& target = rule.target;
    if (const auto* custom = target.custom()) {
      if (const auto* factory = as_handler_factory(*custom)) {
        out.factory = factory;
        out.params = std::move(*params);
        return true;
      }
    }
    if (auto* r = target.router(); r && typeid(*r) == typeid(ApplicationRouter) &&
                                   &static_cast<ApplicationRouter*>(r)->app == this) {
      if (route_rules(*static_cast<ApplicationRouter*>(r), request, out)) return true;
      continue;
    }
    if (auto d = router.get_target_delegate(target, request, *params)) {
      out.delegate = std::move(d);
      return true;
    }
  }
  return false;
}

void Application::route(const std::shared_ptr<httputil::HTTPServerRequest>& request, Routed& out) {
  // Until add_handlers, the default router holds its one rule (AnyMatches -> wildcard_router),
  // whose routing is the wildcard router's: ask it directly, one match and one level fewer.
  const auto& top = default_router_->rules();
  bool only_wildcard = top.size() == 1 && top[0].matcher.get() == any_matches_ &&
                       top[0].target.router() == wildcard_router_.get();
  if (route_rules(only_wildcard ? *wildcard_router_ : *default_router_, request, out)) return;
  out.factory = settings_.default_handler_class ? settings_.default_handler_class.get() : not_found_.get();
}

std::unique_ptr<httputil::HTTPMessageDelegate> Application::find_handler(
    const std::shared_ptr<httputil::HTTPServerRequest>& request) {
  Routed routed;
  route(request, routed);
  if (routed.factory) return get_handler_delegate(request, *routed.factory, std::move(routed.params));
  return std::move(routed.delegate);
}

std::unique_ptr<httputil::HTTPMessageDelegate> Application::get_handler_delegate(
    const std::shared_ptr<httputil::HTTPServerRequest>& request, const HandlerFactory& factory,
    routing::MatchResult params) {
  return std::make_unique<HandlerDelegate>(*this, request, factory, std::move(params));
}

std::optional<std::string> Application::reverse_url(std::string_view name, const std::vector<std::string>& args) {
  if (auto url = default_router_->reverse_url(name, args)) return url;
  throw std::out_of_range(std::string(name) + " not found in named urls");
}

void Application::log_request(RequestHandler& handler) {
  if (settings_.log_function) {
    settings_.log_function(handler);
    return;
  }
  int status = handler.get_status();
  log::Level level = status < 400 ? log::Level::INFO : status < 500 ? log::Level::WARNING : log::Level::ERROR;
  auto& logger = log::access_log();
  if (!logger.is_enabled_for(level)) return;
  char ms[48];
  std::snprintf(ms, sizeof ms, "%.2fms", 1000.0 * handler.request().request_time());
  logger.log(level, "{} {} {}", status, handler.request_summary(), ms);
}

// ---------------------------------------------------------------------------------------------
// Built-in handlers

void ErrorHandler::initialize(int status_code) {
  status_code_ = status_code;
  set_status(status_code);
}

void ErrorHandler::prepare() { throw HTTPError(status_code_); }

void RedirectHandler::initialize(std::string url, bool permanent) {
  url_ = std::move(url);
  permanent_ = permanent;
}

void RedirectHandler::initialize(std::string url, bool permanent, int status) {
  url_ = std::move(url);
  permanent_ = permanent;
  status_ = status;
}

void RedirectHandler::get() {
  // str.format over the path groups: {0}, {1}... by position, {name} by name, {} in turn.
  std::string to;
  std::size_t next = 0;
  auto positional = [&](std::size_t i) -> std::string {
    if (i < path_args().size()) return path_args()[i].value_or("None");
    throw std::out_of_range("RedirectHandler: no path group " + std::to_string(i));
  };
  for (std::size_t i = 0; i < url_.size(); ++i) {
    char c = url_[i];
    if (c == '{' && i + 1 < url_.size() && url_[i + 1] == '{') {
      to += '{';
      ++i;
    } else if (c == '}' && i + 1 < url_.size() && url_[i + 1] == '}') {
      to += '}';
      ++i;
    } else if (c == '{') {
      auto close = url_.find('}', i);
      if (close == std::string::npos) throw std::invalid_argument("RedirectHandler: unmatched '{' in " + url_);
      std::string field = url_.substr(i + 1, close - i - 1);
      if (field.empty()) {
        to += positional(next++);
      } else if (field.find_first_not_of("0123456789") == std::string::npos) {
        to += positional(std::stoul(field));
      } else {
        auto v = path_kwarg(field);
        if (!v) throw std::out_of_range("RedirectHandler: no path group named " + field);
        to += *v;
      }
      i = close;
    } else {
      to += c;
    }
  }
  if (!request().query_arguments.empty()) {
    std::vector<std::pair<std::string, std::string>> qsl;
    for (const auto& [k, vs] : request().query_arguments)
      for (const auto& v : vs) qsl.emplace_back(k, v);
    to = httputil::url_concat(to, qsl);
  }
  redirect(to, permanent_, status_);
}

void FallbackHandler::initialize(routing::RequestCallback fallback) { fallback_ = std::move(fallback); }

void FallbackHandler::prepare() {
  fallback_(request());
  // The fallback answered on the connection itself.
  HandlerAccess::mark_finished(*this);
  on_finish();
}

}  // namespace tornado::web
