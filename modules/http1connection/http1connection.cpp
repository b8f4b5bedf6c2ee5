module;
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/optional.hpp>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
module tornado.http1connection;

import tornado.concurrent;
import tornado.httputil;
import tornado.ioloop;
import tornado.iostream;
import tornado.log;
import tornado.gen;
import tornado.util;

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace tornado::http1connection {

namespace {

using httputil::HTTPHeaders;
using httputil::HTTPInputError;
using httputil::HTTPMessageDelegate;

bool ieq(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A message the peer got wrong, with what to answer: 400, 413, 431, or 0 (close, no answer).
struct MessageError {
  int status;
  std::string message;
};

// Runs a delegate callback; an exception escaping it is logged on app_log and passed on (Tornado's
// _ExceptionLoggingContext).
template <class F>
auto logged(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (...) {
    log::app_log().log_exception(log::Level::ERROR, std::current_exception(), "Uncaught exception");
    throw;
  }
}

// Tells a delegate its message will not complete; what it throws is logged, not passed on.
void notify_connection_close(HTTPMessageDelegate& delegate) noexcept {
  try {
    delegate.on_connection_close();
  } catch (...) {
    log::app_log().log_exception(log::Level::ERROR, std::current_exception(), "Uncaught exception");
  }
}

// Sends the answers held back for pipelining (HTTP1Connection::Impl::write_data) before waiting
// on a handler: they must not wait for a later request's slow handler.
void flush_held_answers(iostream::IOStream& stream) {
  if (stream.has_deferred_writes() && !stream.closed()) (void)stream.flush();
}

// Appends `chunk` to `data` as body bytes: framed as one chunk (RFC 9112 7.1) when chunking.
void append_body(std::string& data, std::string_view chunk, bool chunking) {
  if (!chunking) {
    data += chunk;
    return;
  }
  char hex[20];
  auto [end, ec] = std::to_chars(hex, hex + sizeof hex, chunk.size(), 16);
  data.append(hex, end);
  data += "\r\n";
  data += chunk;
  data += "\r\n";
}

// Beast's parser, collecting the start line and headers into Tornado's types and handing out the
// body in pieces of at most `room` bytes (the caller delivers each to data_received).
template <bool isRequest>
class MessageParser final : public bhttp::basic_parser<isRequest> {
 public:
  // The start line of this kind of message only: the parser's frame is kept by every idle
  // connection, so it carries nothing it cannot use.
  struct NoStartLine {};
  [[no_unique_address]] std::conditional_t<isRequest, httputil::RequestStartLine, NoStartLine> request;
  [[no_unique_address]] std::conditional_t<isRequest, NoStartLine, httputil::ResponseStartLine> response;
  HTTPHeaders headers;
  std::string body;        // body bytes taken by the last put()
  std::size_t room = 0;    // how many more body bytes put() may take
  std::uint64_t body_total = 0;
  std::uint64_t max_body = 0;
  std::optional<MessageError> error;  // set with ec, to say how to answer
  // Where the fields the codec itself reads are in `headers` (their first value), noted as they
  // arrive, so that deciding keep-alive and 100-continue needs no lookups.
  static constexpr std::uint32_t kNone = static_cast<std::uint32_t>(-1);
  std::uint32_t connection_at = kNone;
  std::uint32_t expect_at = kNone;
  std::uint32_t transfer_encoding_at = kNone;
  bool has_content_length = false;
  std::optional<std::string_view> value_at(std::uint32_t i) const noexcept {
    if (i == kNone) return std::nullopt;
    return headers.fields()[i].value;
  }

 protected:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target, int version,
                       beast::error_code& ec) override {
    if constexpr (isRequest) {
      if (version / 10 != 1) {
        fail(ec, bhttp::error::bad_version, 400, "Malformed HTTP version in HTTP Request-Line");
        return;
      }
      request.method.assign(method.data(), method.size());
      request.path.assign(target.data(), target.size());
      request.version =
          version == 11 ? "HTTP/1.1" : version == 10 ? "HTTP/1.0" : "HTTP/1." + std::to_string(version % 10);
    }
  }
  void on_response_impl(int code, beast::string_view reason, int version, beast::error_code& ec) override {
    if constexpr (!isRequest) {
      if (version / 10 != 1) {
        fail(ec, bhttp::error::bad_version, 0, "Error parsing response start line");
        return;
      }
      response.version = version == 11 ? "HTTP/1.1" : "HTTP/1." + std::to_string(version % 10);
      response.code = code;
      response.reason.assign(reason.data(), reason.size());
    }
  }
  void on_field_impl(bhttp::field f, beast::string_view name, beast::string_view value, beast::error_code& ec) override {
    std::string_view v(value.data(), value.size());
    // RFC 9110 5.5 (no control characters but tab in a field value) is Beast's to enforce: its
    // parser ends a value at the first control character and fails with bad_value unless that
    // is the line's CRLF, so the value is not scanned again here.
    // Only plain "chunked" is supported; anything else could be read differently by a proxy in
    // front of us (request smuggling, RFC 9112 6.1).
    if (f == bhttp::field::transfer_encoding && !ieq(trim(v), "chunked")) {
      fail(ec, bhttp::error::bad_transfer_encoding, 400, "Unsupported Transfer-Encoding " + std::string(v));
      return;
    }
    if (isRequest && f == bhttp::field::host && v.find_first_of(" \t") != std::string_view::npos) {
      fail(ec, bhttp::error::bad_value, 400, "Invalid Host header");
      return;
    }
    // HTTPHeaders keeps its text under 4 GiB, so a field's index fits too.
    auto at = static_cast<std::uint32_t>(headers.fields().size());
    switch (f) {
      case bhttp::field::connection:
        if (connection_at == kNone) connection_at = at;
        break;
      case bhttp::field::expect:
        if (expect_at == kNone) expect_at = at;
        break;
      case bhttp::field::transfer_encoding:
        if (transfer_encoding_at == kNone) transfer_encoding_at = at;
        break;
      case bhttp::field::content_length:
        has_content_length = true;
        break;
      default:
        break;
    }
    headers.add(std::string_view(name.data(), name.size()), v);
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, beast::error_code& ec) override {
    if (content_length && *content_length > max_body) {
      fail(ec, bhttp::error::body_limit, isRequest ? 413 : 0, "Content-Length too long");
    }
  }
  std::size_t on_body_impl(beast::string_view s, beast::error_code& ec) override { return take(s, ec); }
  void on_chunk_header_impl(std::uint64_t size, beast::string_view, beast::error_code& ec) override {
    if (body_total + size > max_body) fail(ec, bhttp::error::body_limit, 0, "chunked body too large");
  }
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, beast::error_code& ec) override {
    return take(s, ec);
  }
  void on_finish_impl(beast::error_code&) override {}

 private:
  std::size_t take(beast::string_view s, beast::error_code& ec) {
    std::size_t n = std::min(s.size(), room);
    if (body_total + n > max_body) {
      fail(ec, bhttp::error::body_limit, 0, "body too large");
      return 0;
    }
    body.append(s.data(), n);
    room -= n;
    body_total += n;
    return n;
  }
  void fail(beast::error_code& ec, bhttp::error e, int status, std::string message) {
    ec = e;
    error = MessageError{status, std::move(message)};
  }
};

// Decodes `Content-Encoding: gzip` bodies for the wrapped delegate; the decoded size counts against
// the body limit (a small compressed body must not expand without bound).
// Mirrors tornado.http1connection._GzipMessageDelegate.
class GzipMessageDelegate final : public HTTPMessageDelegate {
 public:
  // `max_body` is read at each chunk: headers_received may change it (set_max_body_size).
  GzipMessageDelegate(HTTPMessageDelegate& delegate, std::size_t chunk_size, const std::size_t& max_body)
      : delegate_(delegate), chunk_size_(chunk_size), max_body_(max_body) {}
  ~GzipMessageDelegate() override {
    if (active_) inflateEnd(&zs_);
  }

  std::optional<Future<void>> headers_received(const httputil::StartLine& start_line, HTTPHeaders headers) override {
    auto ce = headers.get("Content-Encoding");
    if (ce && ieq(*ce, "gzip")) {
      std::memset(&zs_, 0, sizeof zs_);
      if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("inflateInit2 failed");
      active_ = true;
      headers.add("X-Consumed-Content-Encoding", *ce);
      headers.remove("Content-Encoding");
    }
    return delegate_.headers_received(start_line, std::move(headers));
  }

  std::optional<Future<void>> data_received(std::string chunk) override {
    if (!active_) return delegate_.data_received(std::move(chunk));
    return decode(std::move(chunk));
  }

  void finish() override {
    if (active_ && !ended_) throw HTTPInputError("truncated gzip body");
    delegate_.finish();
  }
  void on_connection_close() override { delegate_.on_connection_close(); }

 private:
  Future<void> decode(std::string chunk) {
    zs_.next_in = reinterpret_cast<Bytef*>(chunk.data());
    zs_.avail_in = static_cast<uInt>(chunk.size());
    while (zs_.avail_in > 0 && !ended_) {
      std::string out(chunk_size_, '\0');
      zs_.next_out = reinterpret_cast<Bytef*>(out.data());
      zs_.avail_out = static_cast<uInt>(out.size());
      int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) throw HTTPInputError("invalid gzip data in body");
      if (rc == Z_STREAM_END) ended_ = true;
      out.resize(out.size() - zs_.avail_out);
      decoded_ += out.size();
      if (decoded_ > max_body_) throw HTTPInputError("decompressed body too large");
      if (out.empty() && zs_.avail_in > 0 && rc != Z_STREAM_END)
        throw HTTPInputError("encountered unconsumed gzip data without making progress");
      if (!out.empty()) {
        if (auto f = delegate_.data_received(std::move(out))) co_await std::move(*f);
      }
    }
  }

  HTTPMessageDelegate& delegate_;
  std::size_t chunk_size_;
  const std::size_t& max_body_;
  z_stream zs_{};
  bool active_ = false;
  bool ended_ = false;
  std::size_t decoded_ = 0;
};

}  // namespace

namespace {
// can_keep_alive, given the request's Connection and Transfer-Encoding values (their first) and
// whether it has a Content-Length.
bool can_keep_alive_with(const httputil::RequestStartLine& start_line, std::optional<std::string_view> connection,
                         std::optional<std::string_view> te, bool has_content_length, bool no_keep_alive) {
  if (no_keep_alive) return false;
  if (start_line.version == "HTTP/1.1") return !(connection && ieq(*connection, "close"));
  if (has_content_length || (te && ieq(*te, "chunked")) || start_line.method == "HEAD" || start_line.method == "GET")
    return connection && ieq(*connection, "keep-alive");
  return false;
}
}  // namespace

bool can_keep_alive(const httputil::RequestStartLine& start_line, const HTTPHeaders& headers, bool no_keep_alive) {
  return can_keep_alive_with(start_line, headers.find("Connection"), headers.find("Transfer-Encoding"),
                             headers.contains("Content-Length"), no_keep_alive);
}

struct HTTP1Connection::Impl {
  // What the response writer needs to know about the request it answers.
  std::string request_method;
  std::string request_version;
  bool request_keep_alive_header = false;  // HTTP/1.0 "Connection: keep-alive"
  bool have_request = false;

  bool disconnect_on_finish = false;
  bool finish_done = false;  // see finish_future
  bool read_finished = false;
  bool write_finished = false;
  bool chunking_output = false;
  std::optional<std::int64_t> expected_content_remaining;
  std::optional<Future<void>> pending_write;
  // Whether the response is finished (or the connection closed or detached): what read_message
  // waits for before the next request. The future is made only when it has to wait, which the
  // usual request (answered while its last bytes were read) never does.
  std::optional<Future<void>> finish_future;
  void set_finished() {
    if (finish_done) return;
    finish_done = true;
    if (finish_future && !finish_future->done()) future_set_result_unless_cancelled(*finish_future);
  }
  util::Callback close_callback;
  std::optional<double> body_timeout;
  std::size_t max_body_size = 0;
  std::optional<int> response_code;  // client: the code read
  // Set to false when the connection is destroyed, for finish()'s write callback (made on demand).
  std::shared_ptr<bool> alive;

  template <bool isRequest>
  Future<bool> read_message(HTTP1Connection& self, HTTPMessageDelegate& delegate);
  Future<bool> read_gzip(HTTP1Connection& self, HTTPMessageDelegate& delegate);
  void on_connection_close();
  void clear_callbacks(HTTP1Connection& self);
  void finish_request(HTTP1Connection& self);
  Future<void> write_data(HTTP1Connection& self, std::string data);
  // Counts body bytes against Content-Length. @throws HTTPOutputError past it (and closes).
  void count_output(HTTP1Connection& self, std::size_t n);
};

HTTP1Connection::Impl* HTTP1Connection::impl() noexcept { return std::launder(reinterpret_cast<Impl*>(impl_storage_)); }

HTTP1Connection::HTTP1Connection(std::shared_ptr<iostream::IOStream> stream, bool is_client,
                                 HTTP1ConnectionParameters params, httputil::RequestContext context)
    : stream_(std::move(stream)),
      is_client_(is_client),
      params_(params),
      own_context_(std::make_unique<httputil::RequestContext>(std::move(context))) {
  ::new (impl_storage_) Impl();
  init();
}

HTTP1Connection::HTTP1Connection(std::shared_ptr<iostream::IOStream> stream, bool is_client,
                                 HTTP1ConnectionParameters params, const httputil::RequestContext* shared_context)
    : stream_(std::move(stream)),
      is_client_(is_client),
      params_(params),
      shared_context_(shared_context) {
  ::new (impl_storage_) Impl();
  init();
}

httputil::RequestContext& HTTP1Connection::mutable_context() {
  if (!own_context_) own_context_ = std::make_unique<httputil::RequestContext>(*shared_context_);
  return *own_context_;
}

void HTTP1Connection::init() {
  static_assert(sizeof(Impl) <= kImplSize && alignof(Impl) <= 16, "kImplSize must hold Impl");
  impl()->body_timeout = params_.body_timeout;
  impl()->max_body_size = params_.max_body_size ? params_.max_body_size : stream_->max_buffer_size();
  // A client that has not sent a request yet has nothing to finish: reading may go on at once.
  if (is_client_) impl()->finish_done = true;
}

HTTP1Connection::~HTTP1Connection() {
  if (impl()->alive) *impl()->alive = false;
  if (stream_ && impl()->close_callback) stream_->set_close_callback(nullptr);
  impl()->~Impl();
}

void HTTP1Connection::set_body_timeout(double timeout) { impl()->body_timeout = timeout; }
void HTTP1Connection::set_max_body_size(std::size_t n) { impl()->max_body_size = n; }

void HTTP1Connection::set_close_callback(util::Callback callback) { impl()->close_callback = std::move(callback); }

void HTTP1Connection::Impl::on_connection_close() {
  if (close_callback) {
    auto cb = std::move(close_callback);
    close_callback = nullptr;
    cb();
  }
  set_finished();
}

void HTTP1Connection::Impl::clear_callbacks(HTTP1Connection& self) {
  close_callback = nullptr;
  if (self.stream_) self.stream_->set_close_callback(nullptr);
}

void HTTP1Connection::close() {
  if (stream_) stream_->close();
  impl()->clear_callbacks(*this);
  impl()->set_finished();
}

std::shared_ptr<iostream::IOStream> HTTP1Connection::detach() {
  impl()->clear_callbacks(*this);
  auto s = std::move(stream_);
  stream_.reset();
  impl()->set_finished();
  return s;
}

Future<bool> HTTP1Connection::read_response(HTTPMessageDelegate& delegate) {
  if (params_.decompress) return impl()->read_gzip(*this, delegate);
  // read_message's own future, not a coroutine awaiting it: one frame and one loop turn less per
  // message.
  if (is_client_) return impl()->read_message<false>(*this, delegate);
  return impl()->read_message<true>(*this, delegate);
}

Future<bool> HTTP1Connection::Impl::read_gzip(HTTP1Connection& self, HTTPMessageDelegate& delegate) {
  // The frame keeps the decoding delegate alive while the message is read.
  GzipMessageDelegate gz(delegate, self.params_.chunk_size, max_body_size);
  bool r = self.is_client_ ? co_await read_message<false>(self, gz) : co_await read_message<true>(self, gz);
  co_return r;
}

namespace {
// Closes the stream when a deadline passes, unless disarmed first (by going out of scope).
// It stays where it was made (a coroutine frame) and removes its timer when destroyed, so the
// timer may point back at it: no shared flag to allocate for every message.
class Deadline {
 public:
  Deadline(iostream::IOStream& stream, std::optional<double> seconds) {
    if (!seconds) return;
    auto& loop = IOLoop::current();
    loop_ = &loop;
    handle_ = loop.call_later(*seconds, [this, &stream] {
      fired_ = true;
      stream.close();
    });
  }
  ~Deadline() {
    if (loop_ && !fired_) loop_->remove_timeout(handle_);
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  bool fired() const noexcept { return fired_; }

 private:
  IOLoop* loop_ = nullptr;
  ioloop::TimeoutHandle handle_;
  bool fired_ = false;
};
}  // namespace

// The header timeout of a server connection's requests (idle_connection_timeout): one timer per
// connection whose deadline moves forward with each request, instead of a timer added and removed
// for every request. When it fires before the current deadline (a later request moved it), it
// re-arms itself for that deadline; when no request is waiting for its headers, it lapses until
// the next one starts waiting. Lives in the serving loop's frame, which outlives every request's.
class HTTP1Connection::HeaderTimer {
 public:
  HeaderTimer(iostream::IOStream& stream, std::optional<double> timeout)
      : stream_(stream), timeout_(timeout.value_or(0)), enabled_(timeout.has_value()) {}
  ~HeaderTimer() {
    if (armed_) loop_->remove_timeout(handle_);
  }
  HeaderTimer(const HeaderTimer&) = delete;
  HeaderTimer& operator=(const HeaderTimer&) = delete;

  // A request starts waiting for its headers.
  void start() {
    if (!enabled_) return;
    if (!loop_) loop_ = &IOLoop::current();
    deadline_ = loop_->time() + timeout_;
    waiting_ = true;
    if (!armed_) arm();
  }
  // Its headers arrived (or the wait ended otherwise).
  void stop() noexcept { waiting_ = false; }
  bool fired() const noexcept { return fired_; }

 private:
  void arm() {
    armed_ = true;
    handle_ = loop_->call_at(deadline_, [this] { on_timer(); });
  }
  void on_timer() {
    armed_ = false;
    if (!waiting_) return;
    if (loop_->time() < deadline_) {
      arm();
      return;
    }
    fired_ = true;
    stream_.close();
  }

  // Lives in the serving loop's frame, which every idle connection keeps: no std::optional's
  // padding for the timeout.
  iostream::IOStream& stream_;
  double timeout_;
  IOLoop* loop_ = nullptr;
  ioloop::TimeoutHandle handle_;
  double deadline_ = 0;
  bool enabled_;
  bool armed_ = false;
  bool waiting_ = false;
  bool fired_ = false;
};

template <bool isRequest>
Future<bool> HTTP1Connection::Impl::read_message(HTTP1Connection& self, HTTPMessageDelegate& delegate) {
  std::shared_ptr<iostream::IOStream> stream = self.stream_;
  bool need_delegate_close = false;
  std::optional<MessageError> failure;
  MessageParser<isRequest> parser;
  parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(self.params_.max_header_size, UINT32_MAX)));
  parser.body_limit(boost::none);
  parser.eager(false);
  parser.max_body = max_body_size;
  if constexpr (!isRequest) {
    // A response to HEAD has no body whatever its headers say.
    if (have_request && request_method == "HEAD") parser.skip(true);
  }
  try {
    // --- Start line and headers ---------------------------------------------------------------
    {
      // A server connection's shared timer, or a timer of this message's own (clients).
      struct HeaderWait {
        HeaderTimer* timer;
        ~HeaderWait() {
          if (timer) timer->stop();
        }
      } header_wait{self.header_timer_};
      std::optional<Deadline> header_deadline;
      if (header_wait.timer) header_wait.timer->start();
      else header_deadline.emplace(*stream, self.params_.header_timeout);
      // Beast applies header_limit to the start line and to the fields separately, so a message
      // could carry nearly twice max_header_size; we count the whole head ourselves.
      std::size_t header_bytes = 0;
      for (;;) {
        auto buf = stream->read_buffer();
        if (!parser.got_some()) {
          // RFC 9112 2.2: ignore empty lines before the start line (HTTP/1.0 clients send extra CRLFs).
          std::size_t skip = 0;
          while (skip < buf.size() && (buf[skip] == '\r' || buf[skip] == '\n')) ++skip;
          if (skip) {
            stream->consume(skip);
            buf = stream->read_buffer();
          }
        }
        if (!buf.empty()) {
          beast::error_code ec;
          std::size_t n = parser.put(boost::asio::const_buffer(buf.data(), buf.size()), ec);
          stream->consume(n);
          header_bytes += n;
          if (header_bytes > self.params_.max_header_size) throw MessageError{isRequest ? 431 : 0, "header too large"};
          if (parser.is_header_done()) break;
          parser.header_limit(static_cast<std::uint32_t>(
              std::min<std::size_t>(self.params_.max_header_size - header_bytes, UINT32_MAX)));
          if (ec && ec != bhttp::error::need_more) {
            if (ec == bhttp::error::header_limit) throw MessageError{431, "header too large"};
            if (parser.error) throw *parser.error;
            throw MessageError{isRequest ? 400 : 0, ec.message()};
          }
        }
        try {
          co_await stream->read_more();
        } catch (const iostream::StreamClosedError&) {
          if (header_wait.timer ? header_wait.timer->fired() : header_deadline->fired()) {
            // Tornado: an idle connection that sent nothing in time is closed quietly.
            self.close();
            co_return false;
          }
          throw;
        }
      }
    }

    httputil::StartLine start_line;
    if constexpr (isRequest) {
      request_method = parser.request.method;
      request_version = parser.request.version;
      auto conn = parser.value_at(parser.connection_at);
      request_keep_alive_header = conn && ieq(*conn, "keep-alive");
      have_request = true;
      disconnect_on_finish = !can_keep_alive_with(parser.request, conn, parser.value_at(parser.transfer_encoding_at),
                                                  parser.has_content_length, self.params_.no_keep_alive);
      start_line = std::move(parser.request);
    } else {
      response_code = parser.response.code;
      disconnect_on_finish = false;
      int code = parser.response.code;
      if (code >= 100 && code < 200 && (parser.headers.contains("Content-Length") || parser.headers.contains("Transfer-Encoding")))
        throw MessageError{0, "Response code " + std::to_string(code) + " cannot have body"};
      if (code == 204) {
        auto cl = parser.headers.find("Content-Length");
        if (parser.headers.contains("Transfer-Encoding") || (cl && *cl != "0"))
          throw MessageError{0, "Response with code 204 should not have body"};
      }
      start_line = parser.response;
    }
    bool expect_continue = false;
    if constexpr (isRequest) {
      auto expect = parser.value_at(parser.expect_at);
      expect_continue = expect && ieq(*expect, "100-continue");
    }

    need_delegate_close = true;
    {
      auto ret = logged([&] { return delegate.headers_received(start_line, std::move(parser.headers)); });
      if (ret) {
        if (!ret->done()) flush_held_answers(*stream);
        co_await std::move(*ret);
      }
    }
    if (!self.stream_) {
      // Detached (a WebSocket took the stream over).
      need_delegate_close = false;
      co_return false;
    }

    if constexpr (!isRequest) {
      int code = parser.response.code;
      if (code >= 100 && code < 200 && code != 101) {
        // An interim response; the real one follows.
        need_delegate_close = false;
        co_return co_await read_message<false>(self, delegate);
      }
    } else {
      if (expect_continue && !write_finished) (void)stream->write(std::string_view("HTTP/1.1 100 (Continue)\r\n\r\n"));
    }

    // --- Body ---------------------------------------------------------------------------------
    // headers_received may have raised or lowered the limit (set_max_body_size in prepare).
    parser.max_body = max_body_size;
    if (auto cl = parser.content_length(); cl && *cl > max_body_size)
      throw MessageError{isRequest ? 413 : 0, "Content-Length too long"};
    if (!parser.is_done()) {
      Deadline body_deadline(*stream, body_timeout);
      // Not eager: each put() parses one piece (a chunk header, or body bytes of one chunk, at
      // most `room` of them). Tornado hands chunk boundaries to data_received; and an eager
      // parser given more body than `room` would call on_body again and again, taking nothing.
      parser.eager(false);
      for (;;) {
        auto buf = stream->read_buffer();
        bool need_more = buf.empty();
        if (!buf.empty()) {
          parser.room = self.params_.chunk_size;
          beast::error_code ec;
          std::size_t n = parser.put(boost::asio::const_buffer(buf.data(), buf.size()), ec);
          stream->consume(n);
          if (ec == bhttp::error::need_more) {
            need_more = true;
          } else if (ec) {
            if (parser.error) throw *parser.error;
            throw MessageError{isRequest ? 400 : 0, ec.message()};
          }
          if (!parser.body.empty()) {
            std::string piece = std::move(parser.body);
            parser.body.clear();
            need_more = false;
            // Tornado drops the rest of a request body once the response is finished.
            if (!write_finished || self.is_client_) {
              auto ret = logged([&] { return delegate.data_received(std::move(piece)); });
              if (ret) {
                if (!ret->done()) flush_held_answers(*stream);
                co_await std::move(*ret);
              }
            }
          }
          if (parser.is_done()) break;
          if (n == 0 && !need_more) need_more = true;
        }
        if (need_more) {
          bool closed = false;
          try {
            co_await stream->read_more();
          } catch (const iostream::StreamClosedError&) {
            closed = true;
          }
          if (closed) {
            if (body_deadline.fired()) {
              log::gen_log().info("Timeout reading body from {}", self.context().remote_ip);
              co_return false;
            }
            bool eof_body = false;
            if constexpr (!isRequest) {
              // A body delimited by the end of the connection (RFC 9112 6.3, rule 8).
              if (parser.need_eof()) {
                beast::error_code ec;
                parser.put_eof(ec);
                eof_body = !ec;
              }
            }
            if (!eof_body) throw iostream::StreamClosedError(stream->error());
            auto rest = stream->read_buffer();
            if (!rest.empty()) {
              std::string piece(rest);
              stream->consume(rest.size());
              auto ret = logged([&] { return delegate.data_received(std::move(piece)); });
              if (ret) co_await std::move(*ret);
            }
            break;
          }
        }
      }
    }

    read_finished = true;
    if (!write_finished || self.is_client_) {
      need_delegate_close = false;
      logged([&] { delegate.finish(); });
    }
    if (!finish_done && self.stream_ && !self.stream_->closed()) {
      if (!finish_future) finish_future.emplace();
      self.stream_->set_close_callback([this] { on_connection_close(); });
      flush_held_answers(*self.stream_);
      co_await *finish_future;
    }
    if (self.is_client_ && disconnect_on_finish) self.close();
    if (!self.stream_) co_return false;
  } catch (const HTTPInputError& e) {
    failure = MessageError{isRequest ? 400 : 0, e.what()};
  } catch (const MessageError& e) {
    failure = e;
  } catch (...) {
    if (need_delegate_close) notify_connection_close(delegate);
    clear_callbacks(self);
    throw;
  }
  if (failure) {
    log::gen_log().info("Malformed HTTP message from {}: {}", self.context().remote_ip, failure->message);
    if (isRequest && failure->status && stream && !stream->closed()) {
      std::string answer = "HTTP/1.1 " + std::to_string(failure->status) + " " +
                           std::string(httputil::responses(failure->status)) +
                           "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      try {
        co_await stream->write(std::move(answer));
      } catch (const iostream::StreamClosedError&) {
      }
    }
    self.close();
  }
  if (need_delegate_close) notify_connection_close(delegate);
  clear_callbacks(self);
  co_return !failure;
}

// ---------------------------------------------------------------------------------------------
// Writing

// Most bytes of answers held back for a batch of pipelined requests (see write_data).
constexpr std::size_t kMaxDeferredBytes = 64 * 1024;

Future<void> HTTP1Connection::Impl::write_data(HTTP1Connection& self, std::string data) {
  if (!self.stream_ || self.stream_->closed()) {
    Future<void> f;
    f.set_exception(iostream::StreamClosedError());
    f.state()->mark_retrieved();
    pending_write = f;
    return f;
  }
  // Pipelining (RFC 9112 9.3): while the next request is already in the read buffer, hold this
  // answer back; it leaves with the answer to the last request of the batch, or when the stream
  // has to wait for the client (see BaseIOStream::write_deferred): one system call for all the
  // requests of one read, as nginx and Drogon do, instead of one each. Only for answers that
  // leave the connection open, and within a bound, so that flow control still holds.
  if (!self.is_client_ && read_finished && !disconnect_on_finish && self.stream_->read_buffer_size() > 0 &&
      self.stream_->write_buffer_size() + data.size() <= kMaxDeferredBytes) {
    self.stream_->write_deferred(data);
    Future<void> done;
    done.set_result();
    return done;
  }
  auto f = self.stream_->write(std::move(data));
  pending_write = f;
  return f;
}

namespace {
// Whether `s` holds CR or LF. No early exit, so that the loop vectorizes: every value of every
// response written passes here.
bool has_newline(std::string_view s) noexcept {
  unsigned found = 0;
  for (char c : s) found |= static_cast<unsigned>(c == '\r') | static_cast<unsigned>(c == '\n');
  return found != 0;
}
// How many bytes of `s` are CR or LF. Counted in blocks of 255 bytes into a byte, so that the
// loop vectorizes on 16 bytes at a time (a wider counter would take 2 bytes at a time).
std::size_t count_cr_lf(std::string_view s) noexcept {
  std::size_t n = 0;
  const char* p = s.data();
  for (std::size_t left = s.size(); left > 0;) {
    std::size_t block = left < 255 ? left : 255;
    std::uint8_t in_block = 0;
    for (std::size_t i = 0; i < block; ++i) in_block += static_cast<std::uint8_t>((p[i] == '\r') | (p[i] == '\n'));
    n += in_block;
    p += block;
    left -= block;
  }
  return n;
}
}  // namespace

Future<void> HTTP1Connection::write_headers(const httputil::StartLine& start_line, const HTTPHeaders& headers_in,
                                            std::string_view chunk) {
  Impl& m = *impl();
  // One scan for what decides the framing, and for the size of the head. HTTPHeaders keeps names
  // normalized, so exact comparisons find them.
  std::optional<std::string_view> content_length;
  std::optional<std::string_view> transfer_encoding;
  bool has_connection = false;
  std::size_t fields_size = headers_in.lines().size();
  for (const auto& f : headers_in.fields()) {
    if (f.name.size() == 14 && f.name == "Content-Length") {
      if (!content_length) content_length = f.value;
    } else if (f.name.size() == 17 && f.name == "Transfer-Encoding") {
      if (!transfer_encoding) transfer_encoding = f.value;
    } else if (f.name.size() == 10 && f.name == "Connection") {
      has_connection = true;
    }
  }
  // The headers we add (Connection, Transfer-Encoding): at most two, and they replace the
  // caller's of the same name, as Tornado's `headers[...] = ...` does.
  std::string_view extra_connection;
  bool extra_chunked = false;
  int code = 0;
  std::string_view method_or_reason;
  std::string_view path;
  if (is_client_) {
    const auto& sl = std::get<httputil::RequestStartLine>(start_line);
    m.request_method = sl.method;
    m.have_request = true;
    method_or_reason = sl.method;
    path = sl.path;
    m.chunking_output = (sl.method == "POST" || sl.method == "PUT" || sl.method == "PATCH") && !content_length &&
                        (!transfer_encoding || *transfer_encoding == "chunked");
  } else {
    const auto& sl = std::get<httputil::ResponseStartLine>(start_line);
    code = sl.code;
    method_or_reason = sl.reason;
    bool http11 = m.request_version == "HTTP/1.1";
    m.chunking_output = http11 && m.request_method != "HEAD" && code != 204 && code != 304 &&
                        (code < 100 || code >= 200) && !content_length && !transfer_encoding;
    if (http11 && m.disconnect_on_finish) extra_connection = "close";
    else if (m.request_version == "HTTP/1.0" && m.request_keep_alive_header) extra_connection = "Keep-Alive";
  }
  if (m.chunking_output) extra_chunked = true;
  if (!is_client_ && (m.request_method == "HEAD" || code == 304)) {
    m.expected_content_remaining = 0;
  } else if (content_length) {
    std::string_view cl = *content_length;
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), v);
    if (ec != std::errc() || p != cl.data() + cl.size() || v < 0)
      throw httputil::HTTPOutputError("Invalid Content-Length header: " + std::string(cl));
    m.expected_content_remaining = v;
  } else {
    m.expected_content_remaining.reset();
  }
  if (!chunk.empty()) m.count_output(*this, chunk.size());

  // The head is written into a string of its exact size: std::string's append checks and
  // grows at each call, a dozen calls per response.
  char num[12];
  std::size_t num_len = 0;
  std::size_t size;
  if (is_client_) {
    size = method_or_reason.size() + 1 + path.size() + 11;  // "M P HTTP/1.1\r\n"
  } else {
    num_len = static_cast<std::size_t>(std::to_chars(num, num + sizeof num, code).ptr - num);
    size = 9 + num_len + 1 + method_or_reason.size() + 2;  // "HTTP/1.1 200 OK\r\n"
  }
  size += fields_size + 2;
  bool skip_connection = !extra_connection.empty() && has_connection;
  bool skip_te = extra_chunked && transfer_encoding;
  if (skip_connection || skip_te) {
    for (const auto& f : headers_in.fields())
      if ((skip_connection && f.name == "Connection") || (skip_te && f.name == "Transfer-Encoding"))
        size -= f.name.size() + f.value.size() + 4;
  }
  if (!extra_connection.empty()) size += 12 + extra_connection.size() + 2;  // "Connection: v\r\n"
  if (extra_chunked) size += 28;                                            // "Transfer-Encoding: chunked\r\n"
  std::string data;
  data.reserve(size + (chunk.empty() ? 0 : chunk.size() + 24));
  data.resize(size);
  char* p = data.data();
  auto put = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  if (is_client_) {
    put(method_or_reason);
    *p++ = ' ';
    put(path);
    put(" HTTP/1.1\r\n");
  } else {
    put("HTTP/1.1 ");
    put(std::string_view(num, num_len));
    *p++ = ' ';
    put(method_or_reason);
    put("\r\n");
  }
  // A CR or LF in a name or value would let it start a header of its own (response splitting).
  auto newline_error = [](std::string_view n) { return std::invalid_argument("Newline in header: " + std::string(n)); };
  if (!headers_in.may_repeat_names() && !skip_connection && !skip_te) {
    // The usual response: the stored lines are already what goes out, in get_all()'s order.
    // Each line ends with the one CR and one LF it may hold, so one count checks them all.
    std::string_view lines = headers_in.lines();
    if (count_cr_lf(lines) != 2 * headers_in.fields().size()) {
      for (const auto& f : headers_in.fields())
        if (has_newline(f.name) || has_newline(f.value)) throw newline_error(f.name);
    }
    put(lines);
  } else {
    headers_in.for_each([&](std::string_view n, std::string_view v) {
      if ((skip_connection && n == "Connection") || (skip_te && n == "Transfer-Encoding")) return;
      if (has_newline(v) || has_newline(n)) throw newline_error(n);
      put(n);
      put(": ");
      put(v);
      put("\r\n");
    });
  }
  if (!extra_connection.empty()) {
    put("Connection: ");
    put(extra_connection);
    put("\r\n");
  }
  if (extra_chunked) put("Transfer-Encoding: chunked\r\n");
  put("\r\n");
  if (!chunk.empty()) append_body(data, chunk, m.chunking_output);
  return m.write_data(*this, std::move(data));
}

Future<void> HTTP1Connection::write(std::string_view chunk) {
  Impl& m = *impl();
  m.count_output(*this, chunk.size());
  std::string data;
  if (!chunk.empty()) {
    data.reserve(chunk.size() + 24);
    append_body(data, chunk, m.chunking_output);
  }
  return m.write_data(*this, std::move(data));
}

void HTTP1Connection::Impl::count_output(HTTP1Connection& self, std::size_t n) {
  if (!expected_content_remaining) return;
  *expected_content_remaining -= static_cast<std::int64_t>(n);
  if (*expected_content_remaining < 0) {
    if (self.stream_) self.stream_->close();
    throw httputil::HTTPOutputError("Tried to write more data than Content-Length");
  }
}

void HTTP1Connection::finish() {
  Impl& m = *impl();
  if (m.expected_content_remaining && *m.expected_content_remaining != 0 && stream_ && !stream_->closed()) {
    auto missing = *m.expected_content_remaining;
    stream_->close();
    throw httputil::HTTPOutputError("Tried to write " + std::to_string(missing) + " bytes less than Content-Length");
  }
  if (m.chunking_output && stream_ && !stream_->closed()) m.write_data(*this, "0\r\n\r\n");
  m.write_finished = true;
  if (!m.read_finished) m.disconnect_on_finish = true;
  // Tornado toggles TCP_NODELAY around the last write; our server sets it once per connection and
  // sends each response in as few system calls as it can instead.
  if (!m.pending_write || m.pending_write->done()) {
    m.finish_request(*this);
  } else {
    // A client may destroy the connection before this write completes (a response that came
    // early, a stale pooled connection given up): the callback must then do nothing. The token
    // is made here only, on this rare path, so the usual one costs no allocation.
    if (!m.alive) m.alive = std::make_shared<bool>(true);
    m.pending_write->add_done_callback([this, alive = m.alive](const Future<void>&) {
      if (*alive) impl()->finish_request(*this);
    });
  }
}

void HTTP1Connection::Impl::finish_request(HTTP1Connection& self) {
  clear_callbacks(self);
  if (!self.is_client_ && disconnect_on_finish) {
    self.close();
    return;
  }
  set_finished();
}

// ---------------------------------------------------------------------------------------------
// HTTP1ServerConnection

HTTP1ServerConnection::HTTP1ServerConnection(std::shared_ptr<iostream::IOStream> stream, HTTP1ConnectionParameters params,
                                             httputil::RequestContext context)
    : stream_(std::move(stream)), params_(params), context_(std::move(context)) {}

HTTP1ServerConnection::~HTTP1ServerConnection() = default;

Future<void> HTTP1ServerConnection::start_serving(httputil::HTTPServerConnectionDelegate& delegate) {
  serving_ = server_request_loop(delegate);
  return *serving_;
}

Future<void> HTTP1ServerConnection::close() {
  stream_->close();
  if (serving_) {
    try {
      co_await *serving_;
    } catch (...) {
    }
  }
}

Future<void> HTTP1ServerConnection::server_request_loop(httputil::HTTPServerConnectionDelegate& delegate) {
  struct OnClose {
    httputil::HTTPServerConnectionDelegate& d;
    const void* self;
    ~OnClose() { d.on_close(self); }
  } on_close{delegate, this};
  // Requests answered in a row from the read buffer, without waiting for the client.
  unsigned pipelined = 0;
  HTTP1Connection::HeaderTimer header_timer(*stream_, params_.header_timeout);
  for (;;) {
    HTTP1Connection conn(stream_, false, params_, &context_);
    conn.header_timer_ = &header_timer;
    auto request_delegate = delegate.start_request(this, &conn);
    bool ret = false;
    try {
      ret = co_await conn.read_response(*request_delegate);
    } catch (const iostream::StreamClosedError&) {
      co_return;
    } catch (const iostream::UnsatisfiableReadError&) {
      co_return;
    } catch (const CancelledError&) {
      co_return;
    } catch (...) {
      log::gen_log().log_exception(log::Level::ERROR, std::current_exception(), "Uncaught exception");
      conn.close();
      co_return;
    }
    if (!ret) co_return;
    // Let other connections run between pipelined requests. Tornado yields after every request;
    // here a batch of up to 32 is answered in one go (one loop iteration per request cost more
    // than the requests themselves, and the held answers leave in one write, see write_data),
    // then the loop yields, so a client that pipelines without end cannot starve the others.
    if (stream_->read_buffer().empty()) {
      pipelined = 0;
    } else if (++pipelined % 32 == 0) {
      co_await gen::moment;
    }
  }
}

}  // namespace tornado::http1connection
