// tornado.web: Application, RequestHandler and the built-in handlers. Mirrors tornado.web.
//
// A handler is a class derived from RequestHandler whose HTTP methods (get, head, post, delete_,
// patch, put, options) are plain member functions or coroutines returning Future<void>, found at
// compile time by `web::handler<T>(args...)`, which also binds the arguments of T::initialize.
// Each method takes the path's regex groups as arguments (std::string, std::string_view or
// std::optional<std::string>). See docs/web.md.
module;
#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>
#include <boost/json.hpp>
export module tornado.web;

export import tornado.httpserver;
export import tornado.escape;
export import tornado.routing;
export import :signing;
import tornado.concurrent;
import tornado.iostream;

export namespace tornado::web {

class Application;
class RequestHandler;
class HandlerFactory;
struct Settings;

// ---------------------------------------------------------------------------------------------
// Exceptions

/// An exception that turns into an HTTP error response. `log_message`, if not empty, is logged
/// (on gen_log, at WARNING) with the status and the request; it is never shown to the client.
/// `reason` replaces the standard reason phrase of `status_code` in the status line (required for
/// a code that has none). what() is "HTTP 404: Not Found (log_message)".
/// Mirrors tornado.web.HTTPError (log_message is formatted by the caller: no `*args`).
class HTTPError : public std::runtime_error {
 public:
  explicit HTTPError(int status_code = 500, std::string log_message = {},
                     std::optional<std::string> reason = std::nullopt);
  int status_code;
  std::string log_message;
  std::optional<std::string> reason;
};

/// Thrown from a handler method (or prepare), ends the request without an error: finish(chunk) is
/// called if the handler is not finished yet. Set the status and headers before throwing.
/// Mirrors tornado.web.Finish.
class Finish : public std::exception {
 public:
  Finish() = default;
  explicit Finish(std::string chunk) : chunk(std::move(chunk)) {}
  explicit Finish(boost::json::object chunk) : json(std::move(chunk)) {}
  const char* what() const noexcept override { return "Finish"; }
  std::optional<std::string> chunk;
  std::optional<boost::json::object> json;
};

/// A required argument is missing: a 400 response. Mirrors tornado.web.MissingArgumentError.
class MissingArgumentError : public HTTPError {
 public:
  explicit MissingArgumentError(std::string arg_name);
  std::string arg_name;
};

// ---------------------------------------------------------------------------------------------
// Output transforms

/// Modifies a response as it is written (tornado.web's GZipContentEncoding is one). One instance
/// per request, made by a TransformFactory registered with Application::add_transform.
/// Mirrors tornado.web.OutputTransform.
class OutputTransform {
 public:
  virtual ~OutputTransform() = default;
  /// Called with the status, headers and first chunk before they are written; may change all three.
  /// @param finishing  true if this chunk is the whole body. Mirrors transform_first_chunk.
  virtual void transform_first_chunk(int& status_code, httputil::HTTPHeaders& headers, std::string& chunk,
                                     bool finishing) {}
  /// Called with each later chunk. Mirrors OutputTransform.transform_chunk.
  virtual void transform_chunk(std::string& chunk, bool finishing) {}
};

/// Makes the transform of one request. Mirrors the transform classes Application.transforms holds.
using TransformFactory = std::function<std::unique_ptr<OutputTransform>(const httputil::HTTPServerRequest&)>;

// ---------------------------------------------------------------------------------------------
// Settings

/// Arguments for the static handler's initialize besides the path. Mirrors the
/// `static_handler_args` setting (a dict of keyword arguments; default_filename is
/// StaticFileHandler's).
struct StaticHandlerArgs {
  /// The file served for a directory ("index.html"); none: directories get 403.
  std::optional<std::string> default_filename;
};

/// How static files are served and their URLs made (see web::static_handler_class<T>()).
/// `make_factory(static_path, args)` gives the handler factory for the static routes (Tornado
/// passes `path=static_path` and static_handler_args to the handler's initialize);
/// `make_static_url(settings, path, include_version)` is the handler class's make_static_url, and
/// `reset()` clears its version cache (Application calls it on every request when
/// static_hash_cache is false). Mirrors the `static_handler_class` setting.
struct StaticHandlerClass {
  std::function<std::shared_ptr<HandlerFactory>(const std::string& static_path, const StaticHandlerArgs& args)>
      make_factory;
  std::function<void()> reset;
  std::function<std::string(const Settings& settings, std::string_view path, bool include_version)>
      make_static_url;
};

/// Application settings, with Tornado's names and defaults (the keyword arguments of Application).
/// Settings of features that come later (templates, locale, UI modules, websocket) are added by
/// their modules. Mirrors Application.settings.
struct Settings {
  /// Development mode: turns on serve_traceback and turns off static_hash_cache unless they are
  /// set. (autoreload and template caching: no such features here yet.)
  bool debug = false;
  /// Error pages show the exception (type and what()) when set. Default: `debug`.
  std::optional<bool> serve_traceback;
  /// Handles requests no rule matched (default: 404 through ErrorHandler). Its bound arguments
  /// are Tornado's default_handler_args: `web::handler<My404>(args...)`.
  std::shared_ptr<HandlerFactory> default_handler_class;
  /// Compress responses with gzip when the client accepts it (the GZipContentEncoding transform).
  bool compress_response = false;
  /// Old name of compress_response.
  bool gzip = false;
  /// Signs cookies (set_signed_cookie) and XSRF tokens: one secret, or {key_version: secret}.
  CookieSecret cookie_secret;
  /// The key of a versioned cookie_secret to sign with.
  std::optional<int> key_version;
  /// Where @authenticated sends users who are not logged in.
  std::string login_url;
  /// Check an XSRF token on every POST, PUT, PATCH and DELETE.
  bool xsrf_cookies = false;
  /// Format of the XSRF cookie: 1 or 2.
  int xsrf_cookie_version = 2;
  /// Name of the XSRF cookie.
  std::string xsrf_cookie_name = "_xsrf";
  /// Attributes of the XSRF cookie (Tornado's dict of set_cookie keyword arguments).
  CookieOptions xsrf_cookie_kwargs;
  /// Directory of static files: when set, static_url_prefix + "(.*)", "/favicon.ico" and
  /// "/robots.txt" are routed to static_handler_class.
  std::string static_path;
  /// URL prefix of static files.
  std::string static_url_prefix = "/static/";
  /// How static files are served (see StaticHandlerClass). Default: StaticFileHandler.
  std::optional<StaticHandlerClass> static_handler_class;
  /// Arguments for the static handler's initialize (default_filename).
  StaticHandlerArgs static_handler_args;
  /// Cache static files' version hashes. Default: !debug.
  std::optional<bool> static_hash_cache;
  /// Replaces Application::log_request's access log line.
  std::function<void(RequestHandler&)> log_function;
  /// Free-form settings of the user's own, read back with settings().extra.
  std::map<std::string, std::string, std::less<>> extra;
};

// ---------------------------------------------------------------------------------------------
// Decorators

/// Tornado's method decorators, as flags. Set them per method with a `decorators` member:
///
///     static constexpr web::MethodDecorators decorators{.get = web::authenticated | web::removeslash};
///
/// They run after prepare(), just before the method, slash rules first. Mirrors
/// tornado.web.authenticated, addslash and removeslash.
enum Decorator : unsigned {
  none = 0,
  /// Not logged in (current_user() nullopt or empty): GET and HEAD are redirected to get_login_url() with a
  /// `next` argument, other methods get 403. Mirrors tornado.web.authenticated.
  authenticated = 1,
  /// A path without a trailing slash is redirected (301) to the one with it, for GET and HEAD;
  /// other methods get 404. Mirrors tornado.web.addslash.
  addslash = 2,
  /// A path with trailing slashes is redirected (301) to the one without, for GET and HEAD; other
  /// methods get 404. Mirrors tornado.web.removeslash.
  removeslash = 4,
};
constexpr Decorator operator|(Decorator a, Decorator b) {
  return static_cast<Decorator>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}

/// The decorators of each HTTP method of a handler (see Decorator).
struct MethodDecorators {
  Decorator get = none;
  Decorator head = none;
  Decorator post = none;
  Decorator delete_ = none;
  Decorator patch = none;
  Decorator put = none;
  Decorator options = none;
};

// ---------------------------------------------------------------------------------------------
// Handler classes (what web::handler<T> records about T)

namespace detail {
/// The result of calling a hook that may be a coroutine: nullopt if it was a plain function.
using MaybeFuture = std::optional<Future<void>>;
/// What tornado.web needs to know about a handler type, found at compile time.
struct HandlerClass {
  using Invoker = MaybeFuture (*)(RequestHandler&);
  using DataInvoker = MaybeFuture (*)(RequestHandler&, std::string);
  /// get, head, post, delete_, patch, put, options (null: not implemented).
  std::array<Invoker, 7> methods{};
  /// The decorators of each method, in the same order.
  std::array<Decorator, 7> decorators{};
  /// prepare(), if the class has one.
  Invoker prepare = nullptr;
  /// data_received(chunk), if the class has one.
  DataInvoker data_received = nullptr;
  /// The class streams its request body (stream_request_body).
  bool stream_request_body = false;
  /// Which methods are allowed at all (bit i for methods[i]); others get 405.
  unsigned supported = 0;
};
/// Index of an HTTP method in HandlerClass::methods, or -1.
int method_index(std::string_view method) noexcept;
}  // namespace detail

/// Makes the handlers of a rule: creates a T for each request and calls its initialize with the
/// arguments bound by `web::handler<T>(args...)`. A Rule target (routing::CustomTarget) that
/// Application's router understands. Mirrors a RequestHandler subclass with its kwargs dict.
class HandlerFactory : public routing::CustomTarget {
 public:
  explicit HandlerFactory(const detail::HandlerClass& cls) : cls_(&cls) {}
  /// A new handler for `request`, initialized. @throws whatever T's initialize throws.
  virtual std::shared_ptr<RequestHandler> create(Application& application,
                                                 std::shared_ptr<httputil::HTTPServerRequest> request) const = 0;
  const detail::HandlerClass& handler_class() const noexcept { return *cls_; }

 private:
  const detail::HandlerClass* cls_;
};

// ---------------------------------------------------------------------------------------------
// RequestHandler

/// The base of request handlers. A new handler object answers each request: initialize(args...)
/// (if the class has one), prepare() (may be a coroutine; may finish the request), then the HTTP
/// method (plain or coroutine), then finish() unless the handler already finished or detached,
/// then on_finish(). A handler derived from this class defines any of:
///
///   - `get`, `head`, `post`, `delete_` (C++ reserves `delete`), `patch`, `put`, `options`: the
///     HTTP methods, returning void or Future<void>, with one parameter per regex group of the
///     path (std::string, std::string_view or std::optional<std::string> for a group that may not
///     take part). They must not be overloaded. A method not defined gets 405.
///   - `initialize(...)`: receives the arguments of `web::handler<T>(args...)`.
///   - `prepare()` (void or Future<void>), `data_received(std::string)` (void or Future<void>,
///     with `stream_request_body`).
///   - `static constexpr bool stream_request_body = true;` (Tornado's @stream_request_body).
///   - `static constexpr std::array SUPPORTED_METHODS{"GET"sv, ...};` to narrow the methods.
///   - `static constexpr web::MethodDecorators decorators{...};` (see Decorator).
/// and overrides the virtual hooks below as needed.
///
/// Named groups (`(?P<id>\d+)`) are passed positionally in pattern order and are also readable by
/// name through path_kwargs(); positional groups are in path_args(). Group values are
/// url-unescaped and must be valid UTF-8 (else 400).
///
/// Methods may be called on the IOLoop's thread only. Mirrors tornado.web.RequestHandler.
class RequestHandler {
 public:
  /// The methods a handler accepts; others get 405. Mirrors RequestHandler.SUPPORTED_METHODS.
  static constexpr std::array<std::string_view, 7> SUPPORTED_METHODS{"GET",   "HEAD", "POST",   "DELETE",
                                                                     "PATCH", "PUT",  "OPTIONS"};
  /// Whether data_received gets the body as it arrives. Mirrors @stream_request_body.
  static constexpr bool stream_request_body = false;
  /// The methods' decorators (none).
  static constexpr MethodDecorators decorators{};

  RequestHandler();
  virtual ~RequestHandler();
  RequestHandler(const RequestHandler&) = delete;
  RequestHandler& operator=(const RequestHandler&) = delete;

  // --- Hooks ----------------------------------------------------------------------------------

  /// Called after the response was finished (to free resources, log). Mirrors on_finish.
  virtual void on_finish() {}
  /// Called if the client closes the connection before the response was finished (for long
  /// polling). The default fails a streamed body's wait. Mirrors on_connection_close.
  virtual void on_connection_close();
  /// Sets headers every response of this handler has (called by clear()). Mirrors
  /// set_default_headers.
  virtual void set_default_headers() {}
  /// Writes the error page of send_error. `exc` is the exception that caused it, if any. The
  /// default writes a small HTML page, or the exception's type and message as text/plain with the
  /// serve_traceback setting. Mirrors write_error(status_code, exc_info=...).
  virtual void write_error(int status_code, std::exception_ptr exc);
  /// Determines the current user (e.g. from a signed cookie); nullopt if none. Called once, lazily,
  /// by current_user(). Mirrors get_current_user.
  virtual std::optional<std::string> get_current_user() { return std::nullopt; }
  /// The URL to redirect users who are not logged in to. Default: the login_url setting.
  /// @throws std::runtime_error if that setting is empty. Mirrors get_login_url.
  virtual std::string get_login_url();
  /// The Etag of the response so far, or nullopt for none. Default: the quoted hex SHA-1 of the
  /// body buffered. Mirrors compute_etag.
  virtual std::optional<std::string> compute_etag();
  /// Logs an exception that escaped the handler: an HTTPError's log_message on gen_log at
  /// WARNING, anything else on app_log at ERROR with the request. Mirrors log_exception.
  virtual void log_exception(std::exception_ptr exc);
  /// Decodes an argument or path group from the request (bytes) into text: checks it is UTF-8.
  /// @throws HTTPError(400) if it is not. Mirrors decode_argument.
  virtual std::string decode_argument(std::string value, std::string_view name = {});

  // --- The request ----------------------------------------------------------------------------

  /// The application serving this request. Mirrors RequestHandler.application.
  Application& application() const noexcept { return *application_; }
  /// The request. Mirrors RequestHandler.request.
  httputil::HTTPServerRequest& request() const noexcept { return *request_; }
  /// The application's settings. Mirrors RequestHandler.settings.
  const Settings& settings() const noexcept;
  /// The positional groups of the path, decoded (empty with named groups). Mirrors path_args.
  const std::vector<std::optional<std::string>>& path_args() const noexcept { return path_args_; }
  /// The named groups of the path, decoded, in pattern order. Mirrors path_kwargs.
  const std::vector<std::pair<std::string, std::optional<std::string>>>& path_kwargs() const noexcept {
    return path_kwargs_;
  }
  /// The named group `name`, or nullopt if there is no such group or it did not take part.
  std::optional<std::string> path_kwarg(std::string_view name) const;

  /// The last value of argument `name` (query or body), whitespace-stripped if `strip`, control
  /// characters replaced by spaces. @throws MissingArgumentError if absent; HTTPError(400) if not
  /// UTF-8. Mirrors get_argument(name).
  std::string get_argument(std::string_view name, bool strip = true);
  /// The same, `default_value` if absent. Mirrors get_argument(name, default).
  std::string get_argument(std::string_view name, std::string_view default_value, bool strip = true);
  std::string get_argument(std::string_view name, const char* default_value, bool strip = true) {
    return get_argument(name, std::string_view(default_value), strip);
  }
  /// The same, nullopt if absent. Mirrors get_argument(name, None).
  std::optional<std::string> get_argument(std::string_view name, std::nullopt_t, bool strip = true);
  /// Every value of argument `name`. Mirrors get_arguments.
  std::vector<std::string> get_arguments(std::string_view name, bool strip = true);
  /// get_argument from the query string only. Mirrors get_query_argument.
  std::string get_query_argument(std::string_view name, bool strip = true);
  std::string get_query_argument(std::string_view name, std::string_view default_value, bool strip = true);
  std::string get_query_argument(std::string_view name, const char* default_value, bool strip = true) {
    return get_query_argument(name, std::string_view(default_value), strip);
  }
  std::optional<std::string> get_query_argument(std::string_view name, std::nullopt_t, bool strip = true);
  /// Mirrors get_query_arguments.
  std::vector<std::string> get_query_arguments(std::string_view name, bool strip = true);
  /// get_argument from a form body only. Mirrors get_body_argument.
  std::string get_body_argument(std::string_view name, bool strip = true);
  std::string get_body_argument(std::string_view name, std::string_view default_value, bool strip = true);
  std::string get_body_argument(std::string_view name, const char* default_value, bool strip = true) {
    return get_body_argument(name, std::string_view(default_value), strip);
  }
  std::optional<std::string> get_body_argument(std::string_view name, std::nullopt_t, bool strip = true);
  /// Mirrors get_body_arguments.
  std::vector<std::string> get_body_arguments(std::string_view name, bool strip = true);

  /// The cookies of the request. Mirrors RequestHandler.cookies.
  const std::map<std::string, std::string, std::less<>>& cookies();
  /// The value of cookie `name`, or nullopt. Mirrors get_cookie.
  std::optional<std::string> get_cookie(std::string_view name);

  /// Sets a cookie for the response (replacing one of the same name set earlier in this
  /// response). @param options  Tornado's domain, expires, path, expires_days, max_age, httponly,
  /// secure, samesite keyword arguments.
  /// @throws std::invalid_argument for a name or value with characters 0x00-0x20 ("Invalid
  /// cookie"); CookieError for a name http.cookies refuses. Mirrors set_cookie.
  void set_cookie(std::string_view name, std::string_view value, const CookieOptions& options = {});
  /// Deletes a cookie: sets it empty, expired a year ago, with that path and domain.
  /// Mirrors clear_cookie (Tornado 6.2: path and domain only).
  void clear_cookie(std::string_view name, std::string_view path = "/",
                    std::optional<std::string> domain = std::nullopt);
  /// clear_cookie for every cookie of the request. Mirrors clear_all_cookies.
  void clear_all_cookies(std::string_view path = "/", std::optional<std::string> domain = std::nullopt);
  /// Signs `value` (create_signed_value) and sets it as a cookie that expires in `expires_days`
  /// (unless options say otherwise). @throws std::runtime_error without the cookie_secret setting.
  /// Mirrors set_signed_cookie (set_secure_cookie in 6.2).
  void set_signed_cookie(std::string_view name, std::string_view value, std::optional<double> expires_days = 30,
                         std::optional<int> version = std::nullopt, CookieOptions options = {});
  /// The value of a signed cookie if it verifies (and is at most max_age_days old), else nullopt.
  /// `value`: verify this instead of the request's cookie. @throws std::runtime_error without the
  /// cookie_secret setting. Mirrors get_signed_cookie (get_secure_cookie in 6.2).
  std::optional<std::string> get_signed_cookie(std::string_view name,
                                               std::optional<std::string> value = std::nullopt,
                                               double max_age_days = 31, std::optional<int> min_version = std::nullopt);
  /// The key version of a signed cookie, or nullopt. Mirrors get_signed_cookie_key_version.
  std::optional<int> get_signed_cookie_key_version(std::string_view name,
                                                   std::optional<std::string> value = std::nullopt);
  /// Mirrors get_secure_cookie_key_version (the 6.2 name of get_signed_cookie_key_version).
  std::optional<int> get_secure_cookie_key_version(std::string_view name,
                                                   std::optional<std::string> value = std::nullopt) {
    return get_signed_cookie_key_version(name, std::move(value));
  }
  /// Signs `value` with the application's cookie_secret (and key_version, required with a map).
  /// @throws std::runtime_error without cookie_secret, or with a map and no key_version.
  /// Mirrors RequestHandler.create_signed_value.
  std::string create_signed_value(std::string_view name, std::string_view value,
                                  std::optional<int> version = std::nullopt);
  /// Mirrors set_secure_cookie (the 6.2 name of set_signed_cookie).
  void set_secure_cookie(std::string_view name, std::string_view value, std::optional<double> expires_days = 30,
                         std::optional<int> version = std::nullopt, CookieOptions options = {}) {
    set_signed_cookie(name, value, expires_days, version, std::move(options));
  }
  /// Mirrors get_secure_cookie (the 6.2 name of get_signed_cookie).
  std::optional<std::string> get_secure_cookie(std::string_view name, std::optional<std::string> value = std::nullopt,
                                               double max_age_days = 31,
                                               std::optional<int> min_version = std::nullopt) {
    return get_signed_cookie(name, std::move(value), max_age_days, min_version);
  }

  /// The XSRF token of this request (encoded as the xsrf_cookie_version setting says), setting the
  /// `_xsrf` cookie (xsrf_cookie_name) if the request had none. Mirrors RequestHandler.xsrf_token.
  const std::string& xsrf_token();
  /// Checks the `_xsrf` argument (or X-Xsrftoken / X-Csrftoken header) against the cookie; runs
  /// before prepare() for POST, PUT, PATCH and DELETE with the xsrf_cookies setting. Override it to
  /// change or skip the check. @throws HTTPError(403) on a mismatch. Mirrors check_xsrf_cookie.
  virtual void check_xsrf_cookie();
  /// `<input type="hidden" name="_xsrf" value="..."/>`. Mirrors xsrf_form_html.
  std::string xsrf_form_html();

  /// The logged-in user, from get_current_user() on first use, or as set by set_current_user.
  /// Mirrors RequestHandler.current_user.
  const std::optional<std::string>& current_user();
  /// Sets the current user (e.g. in prepare). Mirrors assigning `self.current_user`.
  void set_current_user(std::optional<std::string> user);

  // --- The response ---------------------------------------------------------------------------

  /// Sets the status code; `reason` replaces the standard reason phrase (one with '<' or
  /// characters outside the HTTP reason-phrase grammar becomes "Unknown"). A code with no standard
  /// phrase and no reason gets "Unknown". Mirrors set_status.
  void set_status(int status_code, std::optional<std::string_view> reason = std::nullopt);
  /// The status code. Mirrors get_status.
  int get_status() const noexcept { return status_code_; }
  /// The reason phrase that will be sent.
  const std::string& get_reason() const noexcept { return reason_; }
  /// Sets a response header, replacing its values. @throws std::invalid_argument if the value has
  /// a control character (CR, LF...: header injection). Mirrors set_header.
  void set_header(std::string_view name, std::string_view value);
  /// set_header with an integer value.
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  void set_header(std::string_view name, I value) {
    set_header(name, std::string_view(std::to_string(value)));
  }
  /// Adds a value to a response header. @throws std::invalid_argument as set_header.
  /// Mirrors add_header.
  void add_header(std::string_view name, std::string_view value);
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  void add_header(std::string_view name, I value) {
    add_header(name, std::string_view(std::to_string(value)));
  }
  /// Removes a response header. Mirrors clear_header.
  void clear_header(std::string_view name);
  /// The response headers so far.
  const httputil::HTTPHeaders& response_headers() const noexcept { return headers_; }
  /// The body buffered since the last flush (for compute_etag overrides). Mirrors _write_buffer.
  const std::string& write_buffer() const noexcept { return write_buffer_; }

  /// Buffers `chunk` for the response body (sent by flush or finish).
  /// @throws std::runtime_error after finish(). Mirrors write(str|bytes).
  void write(std::string_view chunk);
  void write(const char* chunk) { write(std::string_view(chunk)); }
  void write(const std::string& chunk) { write(std::string_view(chunk)); }
  /// Writes a JSON object and sets Content-Type to application/json. Mirrors write(dict).
  void write(const boost::json::object& chunk);
  /// Writes a JSON value, which must be an object. @throws std::invalid_argument for anything
  /// else (a JSON array at the top level is refused, against JSON hijacking). Mirrors write(dict)
  /// and its TypeError for lists.
  void write(const boost::json::value& chunk);
  /// Arrays are refused at compile time (see above).
  void write(const boost::json::array& chunk) = delete;

  /// Sends the headers (the first time) and the body buffered so far.
  /// @returns a future that completes when the data was written (flow control); it fails with
  /// StreamClosedError if the client went away. Mirrors flush.
  Future<void> flush(bool include_footers = false);
  /// Ends the response: adds Content-Length and an Etag (with a 304 if If-None-Match matches, for
  /// GET and HEAD), sends everything, logs the request and calls on_finish().
  /// @throws std::runtime_error if called twice. Mirrors finish.
  Future<void> finish();
  /// write(chunk) then finish(). Mirrors finish(chunk).
  Future<void> finish(std::string_view chunk);
  Future<void> finish(const char* chunk) { return finish(std::string_view(chunk)); }
  Future<void> finish(const std::string& chunk) { return finish(std::string_view(chunk)); }
  Future<void> finish(const boost::json::object& chunk);
  /// Resets the headers (Server, Content-Type, Date, then set_default_headers()), the buffered body
  /// and the status. Mirrors clear.
  void clear();
  /// Redirects to `url` (302, or 301 if `permanent`, or `status`, which must be 3xx) and finishes.
  /// @throws std::runtime_error if headers were already sent; std::invalid_argument for a status
  /// outside 300-399. Mirrors redirect.
  void redirect(std::string_view url, bool permanent = false, std::optional<int> status = std::nullopt);
  /// Replaces the response with an error page (write_error) and finishes. `exc` (if any) is passed
  /// to write_error; an HTTPError's reason is used. If headers were already sent, the response is
  /// just ended (logged). Mirrors send_error.
  void send_error(int status_code = 500, std::exception_ptr exc = nullptr,
                  std::optional<std::string> reason = std::nullopt);
  /// Takes the connection's stream away from HTTP (the handler is then finished; nothing more is
  /// written). Mirrors detach.
  std::shared_ptr<iostream::IOStream> detach();
  /// Whether the response was finished. Mirrors RequestHandler._finished.
  bool finished() const noexcept { return finished_; }

  /// Sets the Etag header from compute_etag(). Mirrors set_etag_header.
  void set_etag_header();
  /// Whether the request's If-None-Match matches the response's Etag (strong, weak or "*").
  /// Mirrors check_etag_header.
  bool check_etag_header();

  // --- Application helpers --------------------------------------------------------------------

  /// The URL of the named rule, with `args` in its groups. @throws std::out_of_range if no rule
  /// has that name. Mirrors RequestHandler.reverse_url.
  std::string reverse_url(std::string_view name, const std::vector<std::string>& args = {});
  /// The URL of a static file (with a version hash), from the static_handler_class's
  /// make_static_url. @param include_host  prefix with protocol://host; nullopt: the
  /// handler's include_host member decides.
  /// @throws std::runtime_error without static_path. Mirrors static_url.
  std::string static_url(std::string_view path, std::optional<bool> include_host = std::nullopt,
                         bool include_version = true);
  /// Whether static_url gives absolute URLs when not told: set it in a subclass (constructor or
  /// initialize). Mirrors the RequestHandler.include_host attribute.
  bool include_host = false;
  /// @throws std::runtime_error ("You must define the 'x' setting in your application to use y")
  /// if setting `name` is unset or false. Mirrors require_setting.
  void require_setting(std::string_view name, std::string_view feature = "this feature");

  // Seams for features that come later: templates (render, render_string, get_template_namespace)
  // and locales (locale, get_user_locale) belong to tornado.template and tornado.locale.

  /// "METHOD uri (remote_ip)". Mirrors _request_summary.
  std::string request_summary() const;

 private:
  friend struct HandlerAccess;
  enum class Stage : std::uint8_t { start, after_prepare, after_body, after_method, done };

  void init(Application& application, std::shared_ptr<httputil::HTTPServerRequest> request,
            const detail::HandlerClass& cls);
  detail::MaybeFuture step();
  bool apply_decorators(Decorator d);
  void handle_request_exception(std::exception_ptr e);
  void on_execute_exception(std::exception_ptr e);
  std::optional<std::string> get_argument_from(const httputil::Arguments& source, std::string_view name, bool strip);
  std::vector<std::string> get_arguments_from(const httputil::Arguments& source, std::string_view name, bool strip);
  void clear_representation_headers();

  Application* application_ = nullptr;
  std::shared_ptr<httputil::HTTPServerRequest> request_;
  const detail::HandlerClass* cls_ = nullptr;
  std::vector<std::unique_ptr<OutputTransform>> transforms_;
  httputil::HTTPHeaders headers_;
  std::string write_buffer_;
  std::string reason_ = "OK";
  int status_code_ = 200;
  int method_index_ = -1;
  Stage stage_ = Stage::start;
  bool headers_written_ = false;
  bool finished_ = false;
  bool auto_finish_ = true;
  bool current_user_known_ = false;
  std::optional<std::string> current_user_;
  std::vector<std::optional<std::string>> path_args_;
  std::vector<std::pair<std::string, std::optional<std::string>>> path_kwargs_;
  std::optional<Future<void>> prepared_future_;
  std::optional<Future<void>> body_future_;
  // Set-Cookie values by cookie name, in the order first set (Tornado's _new_cookie).
  std::vector<std::pair<std::string, std::string>> new_cookies_;
  std::optional<XsrfToken> raw_xsrf_token_;
  bool raw_xsrf_token_from_cookie_ = false;
  std::optional<std::string> xsrf_token_;
  const XsrfToken& get_raw_xsrf_token();
};

// ---------------------------------------------------------------------------------------------
// handler<T>(args...)

namespace detail {
template <class M>
struct method_traits;
template <class R, class C, class... A>
struct method_traits<R (C::*)(A...)> {
  using result = R;
  using args = std::tuple<A...>;
  static constexpr std::size_t arity = sizeof...(A);
};
template <class R, class C, class... A>
struct method_traits<R (C::*)(A...) noexcept> : method_traits<R (C::*)(A...)> {};

template <class>
inline constexpr bool always_false = false;

/// Converts a path group for a method parameter of type P.
template <class P>
decltype(auto) convert_path_arg(std::optional<std::string>& s) {
  using D = std::remove_cvref_t<P>;
  if constexpr (std::is_same_v<D, std::optional<std::string>>) {
    return static_cast<std::optional<std::string>&>(s);
  } else if constexpr (std::is_same_v<D, std::string>) {
    if (!s) s.emplace();
    return static_cast<std::string&>(*s);
  } else if constexpr (std::is_same_v<D, std::string_view>) {
    return s ? std::string_view(*s) : std::string_view();
  } else {
    static_assert(always_false<D>,
                  "path arguments must be std::string, std::string_view or std::optional<std::string>");
  }
}

/// The path groups a method receives, in order (positional or named), and a check of their number.
std::vector<std::optional<std::string>*> path_values(RequestHandler& h, std::size_t arity);

template <class T, auto M>
MaybeFuture invoke_no_args(RequestHandler& base) {
  T& h = static_cast<T&>(base);
  if constexpr (std::is_void_v<decltype((h.*M)())>) {
    (h.*M)();
    return std::nullopt;
  } else {
    return MaybeFuture((h.*M)());
  }
}

/// Calls `(h.*M)(groups...)`; wraps a Future<void> result.
template <class T, auto M>
MaybeFuture invoke(RequestHandler& base) {
  using Traits = method_traits<decltype(M)>;
  if constexpr (Traits::arity == 0) {
    // A method without parameters accepts any pattern (it reads path_args() itself): no groups
    // to gather.
    static_assert(std::is_void_v<typename Traits::result> ||
                      std::is_convertible_v<typename Traits::result, Future<void>>,
                  "handler methods return void or Future<void>");
    return invoke_no_args<T, M>(base);
  } else {
    T& h = static_cast<T&>(base);
    auto values = path_values(base, Traits::arity);
    return [&]<std::size_t... I>(std::index_sequence<I...>) -> MaybeFuture {
      using R = typename Traits::result;
      if constexpr (std::is_void_v<R>) {
        (h.*M)(convert_path_arg<std::tuple_element_t<I, typename Traits::args>>(*values[I])...);
        return std::nullopt;
      } else {
        static_assert(std::is_convertible_v<R, Future<void>>, "handler methods return void or Future<void>");
        return MaybeFuture((h.*M)(convert_path_arg<std::tuple_element_t<I, typename Traits::args>>(*values[I])...));
      }
    }(std::make_index_sequence<Traits::arity>{});
  }
}

template <class T, auto M>
MaybeFuture invoke_data(RequestHandler& base, std::string chunk) {
  T& h = static_cast<T&>(base);
  if constexpr (std::is_void_v<decltype((h.*M)(std::move(chunk)))>) {
    (h.*M)(std::move(chunk));
    return std::nullopt;
  } else {
    return MaybeFuture((h.*M)(std::move(chunk)));
  }
}

template <class T>
constexpr HandlerClass make_handler_class() {
  HandlerClass c;
  if constexpr (requires { &T::get; }) c.methods[0] = &invoke<T, &T::get>;
  if constexpr (requires { &T::head; }) c.methods[1] = &invoke<T, &T::head>;
  if constexpr (requires { &T::post; }) c.methods[2] = &invoke<T, &T::post>;
  if constexpr (requires { &T::delete_; }) c.methods[3] = &invoke<T, &T::delete_>;
  if constexpr (requires { &T::patch; }) c.methods[4] = &invoke<T, &T::patch>;
  if constexpr (requires { &T::put; }) c.methods[5] = &invoke<T, &T::put>;
  if constexpr (requires { &T::options; }) c.methods[6] = &invoke<T, &T::options>;
  if constexpr (requires { &T::prepare; }) c.prepare = &invoke_no_args<T, &T::prepare>;
  if constexpr (requires { &T::data_received; }) c.data_received = &invoke_data<T, &T::data_received>;
  c.stream_request_body = T::stream_request_body;
  static_assert(!T::stream_request_body || requires { &T::data_received; },
                "a handler with stream_request_body needs data_received(std::string)");
  constexpr MethodDecorators d = T::decorators;
  c.decorators = {d.get, d.head, d.post, d.delete_, d.patch, d.put, d.options};
  constexpr std::array<std::string_view, 7> names{"GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS"};
  for (std::string_view m : T::SUPPORTED_METHODS) {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == m) c.supported |= 1u << i;
  }
  return c;
}

template <class T>
inline constexpr HandlerClass handler_class_v = make_handler_class<T>();

/// Gives handler<T> access to RequestHandler's initialization.
void init_handler(RequestHandler& h, Application& application, std::shared_ptr<httputil::HTTPServerRequest> request,
                  const HandlerClass& cls);

template <class T, class... A>
class HandlerFactoryImpl final : public HandlerFactory {
 public:
  explicit HandlerFactoryImpl(A... args) : HandlerFactory(handler_class_v<T>), args_(std::move(args)...) {}
  std::shared_ptr<RequestHandler> create(Application& application,
                                         std::shared_ptr<httputil::HTTPServerRequest> request) const override {
    // Handlers are made and destroyed for every request: their memory is recycled.
    auto h = std::allocate_shared<T>(tornado::detail::RecyclingAllocator<T>());
    init_handler(*h, application, std::move(request), handler_class_v<T>);
    if constexpr (requires(T& t) { t.initialize(std::declval<const A&>()...); }) {
      std::apply([&](const auto&... a) { h->initialize(a...); }, args_);
    } else {
      static_assert(sizeof...(A) == 0, "web::handler<T>(args...) needs T::initialize(args...)");
    }
    return h;
  }

 private:
  std::tuple<A...> args_;
};
}  // namespace detail

/// The rule target for handler class T: each request gets a new T, whose `initialize` (if any) is
/// called with copies of `args`. T is a RequestHandler with a default constructor.
/// Mirrors giving a RequestHandler subclass and its kwargs to a URLSpec.
template <class T, class... A>
  requires std::is_base_of_v<RequestHandler, T>
std::shared_ptr<HandlerFactory> handler(A&&... args) {
  return std::make_shared<detail::HandlerFactoryImpl<T, std::decay_t<A>...>>(std::forward<A>(args)...);
}

/// A static_handler_class made from handler class T (StaticFileHandler or a class derived from
/// it): its factory passes the static path and default_filename to T::initialize, its
/// make_static_url calls T's on a default-constructed T (Tornado's make_static_url is a class
/// method), and its reset clears the class-level version cache.
/// Use: `settings.static_handler_class = web::static_handler_class<MyStaticFileHandler>();`
template <class T>
StaticHandlerClass static_handler_class() {
  StaticHandlerClass c;
  c.make_factory = [](const std::string& path, const StaticHandlerArgs& args) {
    return handler<T>(path, args.default_filename);
  };
  c.make_static_url = [](const Settings& settings, std::string_view path, bool include_version) {
    T cls;
    return cls.make_static_url(settings, path, include_version);
  };
  c.reset = [] { T::reset(); };
  return c;
}

// ---------------------------------------------------------------------------------------------
// Application

/// A web application: routes requests to handlers, holds the settings, logs requests. Give it to
/// an HTTPServer (it is an HTTPServerConnectionDelegate, through routing::Router) or call listen().
/// Rules are `{pattern, web::handler<T>(args...), name}` (or any routing::Rule; a target may also be
/// another router or Application, a connection delegate, a callback, or a list of rules).
/// The application must outlive its servers and the requests they serve.
/// Mirrors tornado.web.Application.
class Application : public routing::ReversibleRouter {
 public:
  /// @param handlers      the rules of the default (any) host.
  /// @param settings      see Settings.
  /// @param default_host  the host used for the rules of add_handlers whose pattern matches it,
  ///                      when a request's Host matches none (Tornado's default_host).
  /// @throws std::invalid_argument for a malformed pattern; std::runtime_error for static_path
  ///   without a static_handler_class.
  explicit Application(std::vector<routing::Rule> handlers = {}, Settings settings = {},
                       std::optional<std::string> default_host = std::nullopt);
  ~Application() override;
  Application(const Application&) = delete;
  Application& operator=(const Application&) = delete;

  /// Starts an HTTPServer of this application on `port` of `address` ("" for all). The application
  /// owns the server (servers(), and it is stopped when the application is destroyed).
  /// @returns the server. Mirrors Application.listen.
  httpserver::HTTPServer& listen(std::uint16_t port, std::string_view address = {},
                                 httpserver::HTTPServerOptions options = {});
  /// Adds rules for hosts matching `host_pattern` (a regex on the host name, `$` appended), checked
  /// in the order added, before the rules given to the constructor. Mirrors add_handlers.
  void add_handlers(std::string host_pattern, std::vector<routing::Rule> handlers);
  /// Adds an output transform applied to every response. Mirrors add_transform.
  void add_transform(TransformFactory transform);
  /// The transforms in force.
  const std::vector<TransformFactory>& transforms() const noexcept { return transforms_; }

  /// The delegate of one request on `request_conn`: it builds the request when the headers
  /// arrive, routes it (as find_handler does) and runs the handler found. For a class derived
  /// from Application (which may override find_handler), Router::start_request's delegate, which
  /// calls find_handler. Mirrors Router.start_request (_RoutingDelegate and _HandlerDelegate).
  std::unique_ptr<httputil::HTTPMessageDelegate> start_request(const void* server_conn,
                                                               httputil::HTTPConnection* request_conn) override;
  /// The delegate for `request`: the handler of the first rule that matches (through nested
  /// routers), else default_handler_class, else a 404 ErrorHandler. Mirrors find_handler.
  std::unique_ptr<httputil::HTTPMessageDelegate> find_handler(
      const std::shared_ptr<httputil::HTTPServerRequest>& request) override;
  /// The delegate that runs a handler made by `factory` for `request`. Mirrors
  /// get_handler_delegate.
  std::unique_ptr<httputil::HTTPMessageDelegate> get_handler_delegate(
      const std::shared_ptr<httputil::HTTPServerRequest>& request, const HandlerFactory& factory,
      routing::MatchResult params = {});
  /// The URL of the rule named `name`. Never returns nullopt: @throws std::out_of_range
  /// ("x not found in named urls") instead. Mirrors Application.reverse_url (KeyError).
  std::optional<std::string> reverse_url(std::string_view name, const std::vector<std::string>& args = {}) override;
  /// Writes the access log line of a finished request (or calls the log_function setting): INFO
  /// below 400, WARNING below 500, ERROR otherwise, "200 GET / (127.0.0.1) 1.23ms" on access_log.
  /// Mirrors log_request.
  virtual void log_request(RequestHandler& handler);

  /// The settings. Mirrors Application.settings.
  const Settings& settings() const noexcept { return settings_; }
  Settings& settings() noexcept { return settings_; }
  /// The host of DefaultHostMatches rules; may be changed at any time. Mirrors
  /// Application.default_host.
  std::optional<std::string>& default_host() noexcept { return default_host_; }
  /// The router of the rules given to the constructor. Mirrors wildcard_router.
  routing::ReversibleRuleRouter& wildcard_router() noexcept { return *wildcard_router_; }
  /// The router of every host's rules (add_handlers), ending with wildcard_router.
  /// Mirrors default_router.
  routing::ReversibleRuleRouter& default_router() noexcept { return *default_router_; }
  /// The servers started by listen().
  const std::vector<std::unique_ptr<httpserver::HTTPServer>>& servers() const noexcept { return servers_; }

  struct ApplicationRouter;

 private:
  struct Routed;
  class ApplicationDelegate;
  // find_handler's routing, giving a handler factory as it is rather than as a delegate.
  void route(const std::shared_ptr<httputil::HTTPServerRequest>& request, Routed& out);
  bool route_rules(routing::RuleRouter& router, const std::shared_ptr<httputil::HTTPServerRequest>& request,
                   Routed& out);

  Settings settings_;
  std::optional<std::string> default_host_;
  std::vector<TransformFactory> transforms_;
  std::shared_ptr<routing::ReversibleRuleRouter> wildcard_router_;
  std::shared_ptr<routing::ReversibleRuleRouter> default_router_;
  // The matcher of default_router_'s first rule, as the constructor made it (see find_handler).
  const routing::Matcher* any_matches_ = nullptr;
  std::shared_ptr<HandlerFactory> not_found_;
  std::vector<std::unique_ptr<httpserver::HTTPServer>> servers_;
};

// ---------------------------------------------------------------------------------------------
// Built-in handlers

/// Answers every request with `status_code`. Use `web::handler<web::ErrorHandler>(403)`.
/// Mirrors tornado.web.ErrorHandler.
class ErrorHandler : public RequestHandler {
 public:
  void initialize(int status_code);
  /// Raises HTTPError(status_code). Mirrors ErrorHandler.prepare.
  void prepare();
  /// Does nothing: a POST to a missing page gets its 404, not a 403. Mirrors
  /// ErrorHandler.check_xsrf_cookie.
  void check_xsrf_cookie() override {}
  int status_code() const noexcept { return status_code_; }

 private:
  int status_code_ = 404;
};

/// Redirects GET requests to `url`, which may use `{0}`, `{1}`... for the path's groups (and
/// `{name}` for named ones); the query string is appended. 301 if `permanent` (the default),
/// else 302. Use `web::handler<web::RedirectHandler>(std::string("/new/{0}"), true)`.
/// Mirrors tornado.web.RedirectHandler.
class RedirectHandler : public RequestHandler {
 public:
  void initialize(std::string url, bool permanent = true);
  void initialize(std::string url, bool permanent, int status);
  void get();

 private:
  std::string url_;
  bool permanent_ = true;
  std::optional<int> status_;
};

/// Hands the request to a plain request callback (an HTTPServer-style application, as Tornado's
/// WSGIContainer): `web::handler<web::FallbackHandler>(routing::RequestCallback(...))`. The
/// callback answers through request.connection. Mirrors tornado.web.FallbackHandler.
class FallbackHandler : public RequestHandler {
 public:
  void initialize(routing::RequestCallback fallback);
  void prepare();

 private:
  routing::RequestCallback fallback_;
};

// ---------------------------------------------------------------------------------------------
// Static files and gzip (implemented in static.cpp and gzip.cpp)

/// Applies the gzip content encoding to responses whose client accepts it (`gzip` anywhere in
/// Accept-Encoding): text/* and the CONTENT_TYPES types, not already encoded, and either streamed
/// (flushed in several chunks: each chunk is compressed as it goes, with a sync flush, and the
/// response is sent chunked) or at least MIN_LENGTH bytes. Every response gets `Vary:
/// Accept-Encoding` (appended to a Vary already set). Turned on by the compress_response (or gzip)
/// setting. Mirrors tornado.web.GZipContentEncoding.
class GZipContentEncoding : public OutputTransform {
 public:
  /// Compressible types besides every text/* type. Mirrors GZipContentEncoding.CONTENT_TYPES.
  static constexpr std::array<std::string_view, 7> CONTENT_TYPES{
      "application/javascript", "application/x-javascript", "application/xml",  "application/atom+xml",
      "application/json",       "application/xhtml+xml",    "image/svg+xml"};
  /// zlib compression level (gzip's own default, not Python GzipFile's 9). Mirrors GZIP_LEVEL.
  static constexpr int GZIP_LEVEL = 6;
  /// A response written in one piece shorter than this (bytes) is not worth compressing.
  /// Mirrors GZipContentEncoding.MIN_LENGTH.
  static constexpr std::size_t MIN_LENGTH = 1024;

  /// Reads the request's Accept-Encoding.
  explicit GZipContentEncoding(const httputil::HTTPServerRequest& request);
  ~GZipContentEncoding() override;

  /// Adds Vary, decides whether to compress (see the class), and if so sets Content-Encoding,
  /// compresses `chunk`, and fixes Content-Length (the compressed size when `finishing`, else
  /// removed). @throws std::runtime_error if zlib fails. Mirrors transform_first_chunk.
  void transform_first_chunk(int& status_code, httputil::HTTPHeaders& headers, std::string& chunk,
                             bool finishing) override;
  /// Compresses a later chunk (the gzip trailer is added when `finishing`). Mirrors transform_chunk.
  void transform_chunk(std::string& chunk, bool finishing) override;

 private:
  static bool compressible_type(std::string_view ctype);
  struct Deflater;
  std::unique_ptr<Deflater> deflater_;
  bool gzipping_;
};

/// Serves files from a directory: `web::handler<web::StaticFileHandler>(std::string("/var/www"))`
/// on a rule with one group (the path below the directory), or through the static_path setting
/// (which also routes /favicon.ico and /robots.txt). GET and HEAD; a single byte Range (206, or
/// 416 with `Content-Range: bytes */size`); Etag (the SHA-512 of the content, the same as Python
/// Tornado's) with If-None-Match, and Last-Modified with If-Modified-Since (304); `?v=` URLs
/// (static_url) cached for CACHE_MAX_AGE; paths outside the root refused (403); directories
/// served through `default_filename` (a request without the trailing slash is redirected, 301)
/// or refused (403); missing files 404. The body is read and sent 64 KiB at a time, each chunk
/// flushed before the next is read, so a file is never held in memory whole.
///
/// Subclass it and override the hooks below as Tornado's documentation says (make_static_url,
/// parse_url_path, get_cache_time, get_version to change URLs; get_content, get_content_size,
/// get_modified_time, get_absolute_path, validate_absolute_path to serve from elsewhere). What
/// Tornado has as class methods (get_absolute_path, get_content, get_content_version,
/// make_static_url, get_version) are virtual members here; where Tornado calls them on the class
/// (static_url, from another handler), a default-constructed instance of the class is used, so
/// they must not touch request(). Symlinks are followed, as in Tornado: the root check is on the
/// path as written (normalized), not on where links lead. Mirrors tornado.web.StaticFileHandler.
class StaticFileHandler : public RequestHandler {
 public:
  /// How long (seconds) a versioned URL may be cached: ten years. Mirrors CACHE_MAX_AGE.
  static constexpr std::int64_t CACHE_MAX_AGE = 86400LL * 365 * 10;
  /// Pulls the content a chunk at a time: the next chunk, or nullopt at the end.
  /// @throws whatever reading throws. Tornado's get_content returns bytes or a generator.
  using ContentGenerator = std::function<std::optional<std::string>()>;

  /// @param path              the root directory (relative to the working directory, or absolute).
  /// @param default_filename  served for a directory ("index.html"), if given.
  /// Mirrors StaticFileHandler.initialize.
  void initialize(std::string path, std::optional<std::string> default_filename = std::nullopt);
  /// Clears the class-level cache of content versions (every StaticFileHandler class shares it).
  /// Thread-safe. Mirrors StaticFileHandler.reset.
  static void reset();

  /// Serves the file. Mirrors StaticFileHandler.get.
  Future<void> get(std::string path);
  /// The headers of get() without the body. Mirrors StaticFileHandler.head.
  Future<void> head(std::string path);

  // --- Hooks ----------------------------------------------------------------------------------

  /// '"<content version>"' (from the cached version of absolute_path), or nullopt if there is
  /// none. The same Etag for a partial response. Mirrors StaticFileHandler.compute_etag.
  std::optional<std::string> compute_etag() override;
  /// Sets Accept-Ranges, Etag, Last-Modified, Content-Type, Expires and Cache-Control (when
  /// get_cache_time is positive), then calls set_extra_headers. Mirrors set_headers.
  virtual void set_headers();
  /// Whether the request's If-None-Match (if given; If-Modified-Since is then ignored) or
  /// If-Modified-Since (the file is not newer; the date's zone is ignored, as Python's parsedate
  /// does) lets the answer be 304. Mirrors should_return_304.
  virtual bool should_return_304();
  /// The absolute location of `path` below `root`: os.path.abspath(os.path.join(root, path)),
  /// lexical (symlinks are not resolved). Mirrors the get_absolute_path class method.
  virtual std::string get_absolute_path(std::string_view root, std::string_view path);
  /// Checks `absolute_path` and returns the file to serve (index file for a directory), or
  /// nullopt after answering (a redirect to add the slash). @throws HTTPError(403) for a path
  /// outside `root` ("... is not in root static directory"), a directory without
  /// default_filename or another non-file; HTTPError(403) for a path starting with "//" that would
  /// be redirected; HTTPError(404) for a missing file. Mirrors validate_absolute_path.
  virtual std::optional<std::string> validate_absolute_path(std::string_view root, std::string_view absolute_path);
  /// The content of `abspath` from byte `start` (default 0) to `end` (exclusive; default the end),
  /// as chunks of at most 64 KiB read as they are pulled. @throws std::system_error if the file
  /// cannot be opened. Mirrors the get_content class method.
  virtual ContentGenerator get_content(const std::string& abspath, std::optional<std::int64_t> start = std::nullopt,
                                       std::optional<std::int64_t> end = std::nullopt);
  /// A version string for the content of `abspath`: the hex SHA-512 of get_content(abspath).
  /// @throws what get_content throws. Mirrors the get_content_version class method.
  virtual std::string get_content_version(const std::string& abspath);
  /// The size (bytes) of absolute_path. @throws std::system_error if stat fails.
  /// Mirrors get_content_size.
  virtual std::int64_t get_content_size();
  /// When absolute_path was last modified, in whole seconds since the epoch (or nullopt: no
  /// Last-Modified, no If-Modified-Since check). Mirrors get_modified_time.
  virtual std::optional<std::int64_t> get_modified_time();
  /// The Content-Type: guessed from the extension as Python's mimetypes does (its table, then the
  /// system's mime.types files, such as /etc/mime.types, over it); "application/gzip" for a
  /// .gz file and "application/octet-stream" for other compressed files or unknown types.
  /// Mirrors get_content_type.
  virtual std::string get_content_type();
  /// Adds headers of the subclass's own (called last by set_headers). Mirrors set_extra_headers.
  virtual void set_extra_headers(std::string_view path);
  /// Seconds the response may be cached (Cache-Control max-age and Expires), or 0 to leave it to
  /// the browser: CACHE_MAX_AGE when the request has a `v` argument, else 0.
  /// @param modified  seconds since the epoch, if known. Mirrors get_cache_time.
  virtual std::int64_t get_cache_time(std::string_view path, std::optional<std::int64_t> modified,
                                      std::string_view mime_type);
  /// The URL of static file `path`: static_url_prefix + path, plus "?v=<version>" if
  /// `include_version` and get_version finds one. Relative to the host. Called on a
  /// default-constructed handler by RequestHandler::static_url. Mirrors the make_static_url class
  /// method.
  virtual std::string make_static_url(const Settings& settings, std::string_view path, bool include_version = true);
  /// Converts the URL path (the rule's group) into a path relative to the root; the inverse of
  /// make_static_url. Mirrors parse_url_path.
  virtual std::string parse_url_path(std::string_view url_path);
  /// The version of static file `path` (below settings.static_path) for URLs, from the
  /// class-level cache (computed by get_content_version on first use), or nullopt if it could
  /// not be read (logged on gen_log). Mirrors the get_version class method.
  virtual std::optional<std::string> get_version(const Settings& settings, std::string_view path);

  /// get_content_version(abs_path) through the class-level cache (a failure is cached as nullopt
  /// and logged: "Could not open static file"). Thread-safe. Mirrors _get_cached_version.
  std::optional<std::string> get_cached_version(const std::string& abs_path);

 protected:
  /// Serves the file, with the body if `include_body` (GET) or without it (HEAD).
  /// Mirrors StaticFileHandler.get(path, include_body) (a name of its own: handler methods must not be
  /// overloaded).
  Future<void> serve(std::string path, bool include_body);
  /// A ContentGenerator giving `data` in one chunk (for get_content overrides).
  static ContentGenerator content_of(std::string data);

  /// The root directory (initialize's `path`). Mirrors self.root.
  std::string root;
  /// The index file for directories. Mirrors self.default_filename.
  std::optional<std::string> default_filename;
  /// The requested path, after parse_url_path. Mirrors self.path.
  std::string path;
  /// The file being served, after validate_absolute_path. Mirrors self.absolute_path.
  std::optional<std::string> absolute_path;
  /// get_modified_time()'s answer. Mirrors self.modified.
  std::optional<std::int64_t> modified;

 private:
  void stat_file();
  std::optional<std::int64_t> stat_size_;
  std::optional<std::int64_t> stat_mtime_;
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Whether `path` is an absolute URL (has a scheme, or starts with //). Mirrors is_absolute.
bool is_absolute(std::string_view path);

/// The value Tornado sends as the Server header.
inline constexpr std::string_view server_header = "TornadoServer/6.2";

}  // namespace tornado::web
