// tornado.httputil: HTTP utilities shared by the server and the client: headers, start lines,
// requests, body and cookie parsing, and the delegate interfaces the HTTP/1.x codec calls.
// Mirrors tornado.httputil.
module;
#include <chrono>
#include <cstddef>
#include <ctime>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>
export module tornado.httputil;

export import tornado.concurrent;
export import tornado.escape;
export import tornado.netutil;

export namespace tornado::httputil {

/// Malformed input from the peer: a bad start line, header, chunk size or body. A server answers
/// it with 400 and closes the connection. Mirrors tornado.httputil.HTTPInputError.
class HTTPInputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Misuse of the response writer: writing more or fewer bytes than Content-Length declared,
/// writing after finish. Mirrors tornado.httputil.HTTPOutputError.
class HTTPOutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Maps a header name to Http-Header-Case ("coNtent-TYPE" -> "Content-Type").
std::string normalize_header(std::string_view name);

/// HTTP headers: case-insensitive names kept in Http-Header-Case, several values per name.
/// The single-value view (get) joins a name's values with "," as Tornado's `headers[name]` does.
/// Mirrors tornado.httputil.HTTPHeaders.
class HTTPHeaders {
 public:
  /// One field as stored: views into the headers' own buffer, valid until the headers are next
  /// changed (added to, set, removed from, assigned or destroyed).
  struct Field {
    std::string_view name;   ///< normalized (Http-Header-Case)
    std::string_view value;
  };

 private:
  // Where a field's name and value sit in text_ (offsets, so that text_ may grow and move). The
  // field's line is text_[name_off, value_off + value_len + 2): "Name: value\r\n".
  struct Entry {
    std::uint32_t name_off;
    std::uint32_t name_len;
    std::uint32_t value_off;
    std::uint32_t value_len;
  };

 public:
  /// The fields in the order they were added (not grouped), as a range of Field values.
  class Fields {
   public:
    class iterator {
     public:
      using value_type = Field;
      using difference_type = std::ptrdiff_t;
      iterator() = default;
      inline Field operator*() const noexcept { return h_->field_at(*e_); }
      inline iterator& operator++() noexcept {
        ++e_;
        return *this;
      }
      inline iterator operator++(int) noexcept {
        auto old = *this;
        ++e_;
        return old;
      }
      inline friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.e_ == b.e_; }

     private:
      friend class Fields;
      inline iterator(const HTTPHeaders* h, const Entry* e) noexcept : h_(h), e_(e) {}
      const HTTPHeaders* h_ = nullptr;
      const Entry* e_ = nullptr;
    };
    inline iterator begin() const noexcept { return {h_, h_->entries_.data()}; }
    inline iterator end() const noexcept { return {h_, h_->entries_.data() + h_->entries_.size()}; }
    inline std::size_t size() const noexcept { return h_->entries_.size(); }
    inline bool empty() const noexcept { return h_->entries_.empty(); }
    inline Field operator[](std::size_t i) const noexcept { return h_->field_at(h_->entries_[i]); }

   private:
    friend class HTTPHeaders;
    inline explicit Fields(const HTTPHeaders* h) noexcept : h_(h) {}
    const HTTPHeaders* h_;
  };

  HTTPHeaders() = default;
  HTTPHeaders(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

  /// Adds a value for `name`, keeping those already there. Mirrors HTTPHeaders.add.
  /// @throws std::length_error if the headers' text would pass 4 GiB.
  void add(std::string_view name, std::string_view value);
  /// Replaces every value of `name` with `value`. Mirrors `headers[name] = value`.
  void set(std::string_view name, std::string_view value);
  /// The value of `name` (its values joined with ","), after setting it to `default_value` if it
  /// had none. Mirrors HTTPHeaders.setdefault (MutableMapping.setdefault).
  std::string setdefault(std::string_view name, std::string_view default_value);
  /// Removes `name`. @returns whether it was there. Mirrors `del headers[name]`.
  bool remove(std::string_view name);
  /// Whether `name` has a value. Mirrors `name in headers`.
  bool contains(std::string_view name) const noexcept;
  /// The values of `name`, joined with ",", or nullopt. Mirrors `headers.get(name)`.
  std::optional<std::string> get(std::string_view name) const;
  /// The values of `name`, joined with ",", or `default_value`. Mirrors `headers.get(name, default)`.
  std::string get(std::string_view name, std::string_view default_value) const;
  /// The first value of `name` without copying, or nullopt: a view valid until the headers
  /// change. For hot paths that need one value.
  std::optional<std::string_view> find(std::string_view name) const noexcept;
  /// Every value of `name`, in order. Mirrors HTTPHeaders.get_list.
  std::vector<std::string_view> get_list(std::string_view name) const;
  /// Every (name, value) pair, a name's values together in the order names first appeared.
  /// Mirrors HTTPHeaders.get_all.
  std::vector<std::pair<std::string_view, std::string_view>> get_all() const;
  /// Calls `f(name, value)` for every pair in get_all()'s order (a name's values together, names
  /// in the order they first appeared), without building a list: the path every written
  /// response takes.
  template <class F>
  void for_each(F&& f) const {
    // Names are stored normalized, so a repeated name is an exact repeat; and add() notes
    // whether one was ever added, so the usual headers (every name once) need no grouping.
    if (!may_repeat_) {
      for (const Entry& e : entries_) f(name_of(e), value_of(e));
      return;
    }
    if (entries_.size() > kGroupByScan) {
      for (const auto& [n, v] : get_all()) f(n, v);
      return;
    }
    std::uint64_t emitted = 0;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (emitted & (std::uint64_t{1} << i)) continue;
      std::string_view name = name_of(entries_[i]);
      f(name, value_of(entries_[i]));
      for (std::size_t j = i + 1; j < entries_.size(); ++j) {
        if (!(emitted & (std::uint64_t{1} << j)) && name_of(entries_[j]) == name) {
          emitted |= std::uint64_t{1} << j;
          f(name, value_of(entries_[j]));
        }
      }
    }
  }
  /// The distinct names, in the order they first appeared. Mirrors `list(headers)`.
  std::vector<std::string_view> keys() const;
  /// The number of distinct names. Mirrors `len(headers)`.
  std::size_t size() const noexcept;
  inline bool empty() const noexcept { return entries_.empty(); }
  /// Removes every field, keeping the memory for the next ones.
  inline void clear() noexcept {
    entries_.clear();
    text_.clear();
    last_field_ = -1;
    may_repeat_ = false;
  }
  /// The fields as an HTTP/1.x head carries them: "Name: value\r\n" for each, in the order they
  /// were added (not grouped), without the head's final empty line. A view valid until the headers
  /// change. Values are stored as given: a value holding CR or LF (which add() and set() do not
  /// refuse) appears here as it is, so a writer must check before sending.
  inline std::string_view lines() const noexcept { return text_; }
  /// False when no name has ever been added twice (so lines() is already grouped as get_all()
  /// orders them); true once one has (it stays true after the repeats are removed).
  inline bool may_repeat_names() const noexcept { return may_repeat_; }
  /// The fields in the order they were added (not grouped).
  inline Fields fields() const noexcept { return Fields(this); }
  /// How many fields fit before the headers allocate again (a pool of spare HTTPHeaders keeps
  /// only small ones).
  inline std::size_t capacity() const noexcept { return entries_.capacity(); }

  /// Adds one header line ("Name: value"); a line starting with whitespace continues the previous
  /// value (obs-fold, deprecated by RFC 9112 but still accepted, as Tornado does).
  /// @throws HTTPInputError for a line with no colon, a name that is not a token, or a value with
  /// control characters other than tab (RFC 9110 5.5). Mirrors HTTPHeaders.parse_line.
  void parse_line(std::string_view line);
  /// Parses header lines separated by CRLF or LF. Linear in the input.
  /// @throws HTTPInputError as parse_line. Mirrors HTTPHeaders.parse.
  static HTTPHeaders parse(std::string_view text);

  /// "Name: value\n" for each pair of get_all(). Mirrors str(headers).
  std::string to_string() const;

  /// Equal when both have the same names, in any order, each with the same values in the same
  /// order. Mirrors HTTPHeaders.__eq__ (a Mapping compares as a dict).
  friend bool operator==(const HTTPHeaders& a, const HTTPHeaders& b);

 private:
  static constexpr std::size_t kInitialCapacity = 8;
  // Bytes of text reserved with the first field: a usual request's or response's names and values.
  static constexpr std::size_t kInitialText = 255;  // with its terminating NUL, a 256-byte block
  // Up to this many fields, for_each groups names by scanning (a bit per field); beyond, get_all
  // groups them with a hash map, since comparing each with all the others would be quadratic.
  static constexpr std::size_t kGroupByScan = 64;

  inline std::string_view name_of(const Entry& e) const noexcept { return {text_.data() + e.name_off, e.name_len}; }
  inline std::string_view value_of(const Entry& e) const noexcept {
    return {text_.data() + e.value_off, e.value_len};
  }
  inline Field field_at(const Entry& e) const noexcept { return {name_of(e), value_of(e)}; }
  // Whether `s` points into text_'s memory (then a change of text_ may move it under us).
  bool views_text(std::string_view s) const noexcept;
  // Replaces text_[at, at + old_len) with `replacement` (which may be a view into text_), and
  // moves the offsets of the fields after it. @throws std::length_error past 4 GiB.
  void splice(std::size_t at, std::size_t old_len, std::string_view replacement);

  // Every field as its wire line, "Name: value\r\n", in the order of entries_ and nothing else:
  // one allocation for all names and values, copying the headers copies two blocks, and writing
  // them is one copy. Both blocks come from the thread's block cache (every request makes a set
  // of headers and drops it).
  std::basic_string<char, std::char_traits<char>, detail::RecyclingAllocator<char>> text_;
  std::vector<Entry, detail::RecyclingAllocator<Entry>> entries_;
  std::int32_t last_field_ = -1;  // the field a continuation line extends (fields fit: text < 4 GiB)
  bool may_repeat_ = false;       // some name was added while already present
};

/// Whether `name` is a valid header field name (an RFC 9110 token).
bool is_valid_header_name(std::string_view name) noexcept;
/// Whether `value` may be sent or accepted as a header value: no CR, LF, NUL or other control
/// character except tab.
bool is_valid_header_value(std::string_view value) noexcept;

/// `METHOD path HTTP/1.x`. Mirrors tornado.httputil.RequestStartLine.
struct RequestStartLine {
  std::string method;
  std::string path;
  std::string version;
  friend bool operator==(const RequestStartLine&, const RequestStartLine&) = default;
};

/// `HTTP/1.x code reason`. Mirrors tornado.httputil.ResponseStartLine.
struct ResponseStartLine {
  std::string version;
  int code = 0;
  std::string reason;
  friend bool operator==(const ResponseStartLine&, const ResponseStartLine&) = default;
};

using StartLine = std::variant<RequestStartLine, ResponseStartLine>;

/// Parses an HTTP/1.x request line. @throws HTTPInputError ("Malformed HTTP request line",
/// "Malformed HTTP version in HTTP Request-Line"). Mirrors parse_request_start_line.
RequestStartLine parse_request_start_line(std::string_view line);
/// Parses an HTTP/1.x status line. @throws HTTPInputError. Mirrors parse_response_start_line.
ResponseStartLine parse_response_start_line(std::string_view line);

/// The standard reason phrase for `code` ("Not Found"), or "Unknown". Mirrors http.client.responses.
std::string_view responses(int code) noexcept;

/// A file uploaded through a multipart form. Mirrors tornado.httputil.HTTPFile.
struct HTTPFile {
  std::string filename;
  std::string body;
  std::string content_type;
};

/// Arguments by name, each with its values (bytes) in order.
using Arguments = escape::QueryArguments;
/// Uploaded files by form field name.
using Files = std::map<std::string, std::vector<HTTPFile>, std::less<>>;

/// Limits on multipart/form-data parsing, a defence against hostile bodies.
/// Mirrors tornado.httputil.ParseMultipartConfig (Tornado 6.5.5).
struct ParseMultipartConfig {
  bool enabled = true;                       ///< false: multipart bodies are refused
  std::size_t max_parts = 100;               ///< more parts than this: HTTPInputError
  std::size_t max_part_header_size = 10240;  ///< bytes of headers per part
};
/// Limits on body parsing. Mirrors tornado.httputil.ParseBodyConfig.
struct ParseBodyConfig {
  ParseMultipartConfig multipart;
};
/// Sets the limits used when none are passed. Mirrors set_parse_body_config.
void set_parse_body_config(const ParseBodyConfig& config);
/// The limits used when none are passed.
ParseBodyConfig get_parse_body_config();

/// Parses a form body (application/x-www-form-urlencoded or multipart/form-data) into
/// `arguments` and `files`. Linear time; multipart bounded by `config`.
/// @throws HTTPInputError for a malformed body or a Content-Encoding it cannot read.
/// Mirrors tornado.httputil.parse_body_arguments.
void parse_body_arguments(std::string_view content_type, std::string_view body, Arguments& arguments, Files& files,
                          const HTTPHeaders* headers = nullptr, const ParseBodyConfig* config = nullptr);
/// Parses a multipart/form-data body with the given boundary. @throws HTTPInputError.
/// Mirrors tornado.httputil.parse_multipart_form_data.
void parse_multipart_form_data(std::string_view boundary, std::string_view data, Arguments& arguments, Files& files,
                               const ParseMultipartConfig* config = nullptr);

/// Appends query arguments to `url`, keeping the ones it has. Mirrors tornado.httputil.url_concat.
std::string url_concat(std::string_view url, const std::vector<std::pair<std::string, std::string>>& args);
/// Formats seconds since the Unix epoch as an HTTP date ("Sun, 27 Jan 2013 18:43:20 GMT").
/// Mirrors tornado.httputil.format_timestamp.
std::string format_timestamp(double timestamp);
/// Formats a broken-down UTC time (as gmtime_r gives; tm_wday and tm_yday are ignored) as an
/// HTTP date. Mirrors format_timestamp with a time.struct_time or a time tuple.
std::string format_timestamp(const std::tm& utc_time);
/// Formats a point in time as an HTTP date, to the second (rounded down).
/// Mirrors format_timestamp with a datetime.
std::string format_timestamp(std::chrono::system_clock::time_point time);
/// The current time as an HTTP date in RFC 9110's IMF-fixdate form ("Sun, 06 Nov 1994 08:49:37
/// GMT", always 29 bytes), for a response's Date header (RFC 9110 6.6.1). Cheap enough to call
/// for every response: each thread keeps the text it formatted last and formats it again only
/// when the wall clock (read through the vDSO, no system call) has moved to another second.
/// @returns a view of the thread's cache: valid for the thread's lifetime, and its text changes
///          on a later call that sees a new second, so copy it to keep it.
/// The same text as format_timestamp(time(nullptr)), without its allocation. Tornado computes
/// format_timestamp(time.time()) for every response (RequestHandler.clear); servers such as
/// nginx cache it per second as this does.
std::string_view http_date_now() noexcept;
/// Parses an HTTP date (RFC 1123, RFC 850 or asctime form). @returns seconds since the epoch,
/// or nullopt if it is not a date. Mirrors email.utils.parsedate_to_datetime as Tornado uses it.
std::optional<double> parse_http_date(std::string_view value);
/// Splits "host:port" into its parts; the port is nullopt if absent. Mirrors split_host_and_port.
std::pair<std::string, std::optional<int>> split_host_and_port(std::string_view netloc);
/// Parses a Cookie header into name -> value as browsers do (not the RFCs); quoted values are
/// unquoted. Linear time. Mirrors tornado.httputil.parse_cookie.
std::map<std::string, std::string, std::less<>> parse_cookie(std::string_view cookie);
/// "username:password", for HTTP basic authentication. Mirrors encode_username_password.
std::string encode_username_password(std::string_view username, std::string_view password);
/// Parses a Content-Type-like header into its value and lower-cased parameters (quotes removed,
/// RFC 2231 `name*=utf-8''...` decoded). Mirrors tornado.httputil._parse_header.
std::pair<std::string, std::map<std::string, std::string, std::less<>>> parse_header(std::string_view line);
/// The inverse of parse_header: "key; a=1; b" (parameters sorted; a nullopt value is a bare name).
/// Mirrors tornado.httputil._encode_header.
std::string encode_header(std::string_view key, const std::map<std::string, std::optional<std::string>>& params);

/// A single byte range from a Range header, as slice indexes: start (negative: from the end) and
/// end (exclusive). nullopt when the header is not a single bytes range.
/// Mirrors tornado.httputil._parse_request_range.
struct ByteRange {
  std::optional<std::int64_t> start;
  std::optional<std::int64_t> end;
};
std::optional<ByteRange> parse_request_range(std::string_view range_header);
/// "bytes start-end/total" for a Content-Range header. Mirrors _get_content_range.
std::string get_content_range(std::optional<std::int64_t> start, std::optional<std::int64_t> end, std::int64_t total);

/// What a connection knows about its transport, for the requests on it.
/// Mirrors tornado.httpserver._HTTPRequestContext.
struct RequestContext {
  netutil::SocketAddress address;  ///< the peer
  std::string remote_ip;           ///< the peer's IP (or the proxy's client, with xheaders)
  std::string protocol = "http";   ///< "http" or "https"
  std::string peer_certificate_der;  ///< the TLS client certificate, if one was sent
};

/// The writing side of one HTTP message exchange. Implemented by HTTP1Connection.
/// Mirrors tornado.httputil.HTTPConnection.
class HTTPConnection {
 public:
  virtual ~HTTPConnection() = default;
  /// Writes the start line and headers, and optionally the first chunk of the body.
  /// @returns a future that completes when the data was sent (flow control).
  /// @throws HTTPOutputError on misuse. Mirrors HTTPConnection.write_headers.
  virtual Future<void> write_headers(const StartLine& start_line, const HTTPHeaders& headers,
                                     std::string_view chunk = {}) = 0;
  /// Writes a chunk of the body. Mirrors HTTPConnection.write.
  virtual Future<void> write(std::string_view chunk) = 0;
  /// Ends the message. Mirrors HTTPConnection.finish.
  virtual void finish() = 0;
  /// The transport's context (peer address, protocol).
  virtual const RequestContext& context() const noexcept = 0;
  /// Calls `callback` if the connection closes before the message is finished; an empty callback
  /// clears it. The default does nothing (a connection that never closes early).
  /// Mirrors HTTP1Connection.set_close_callback, which tornado.web calls on any connection.
  virtual void set_close_callback(util::Callback callback) {}
};

/// Receives one HTTP message (request or response) as it arrives. A method returning a Future
/// makes the connection wait for it before reading further (flow control); nullopt goes on at once.
/// Mirrors tornado.httputil.HTTPMessageDelegate.
class HTTPMessageDelegate {
 public:
  virtual ~HTTPMessageDelegate() = default;
  /// The start line and headers arrived. Mirrors headers_received.
  virtual std::optional<Future<void>> headers_received(const StartLine& start_line, HTTPHeaders headers) = 0;
  /// A chunk of the body arrived. Mirrors data_received.
  virtual std::optional<Future<void>> data_received(std::string chunk) = 0;
  /// The message is complete. Mirrors finish.
  virtual void finish() = 0;
  /// The connection closed before the message was complete. Mirrors on_connection_close.
  virtual void on_connection_close() = 0;
};

/// Receives the connections of a server: makes a message delegate for each request.
/// Mirrors tornado.httputil.HTTPServerConnectionDelegate.
class HTTPServerConnectionDelegate {
 public:
  virtual ~HTTPServerConnectionDelegate() = default;
  /// A new request starts on `request_conn` (of server connection `server_conn`).
  /// Mirrors start_request.
  virtual std::unique_ptr<HTTPMessageDelegate> start_request(const void* server_conn,
                                                             HTTPConnection* request_conn) = 0;
  /// A server connection closed. Mirrors on_close.
  virtual void on_close(const void* server_conn) {}
};

/// One HTTP request as a server sees it. Mirrors tornado.httputil.HTTPServerRequest.
class HTTPServerRequest {
 public:
  /// Builds a request; `start_line`, when given, supplies method, uri and version.
  /// @param connection  the connection to answer on (may be null in tests).
  HTTPServerRequest(std::string method, std::string uri, std::string version = "HTTP/1.0", HTTPHeaders headers = {},
                    std::string body = {}, std::string host = {}, Files files = {},
                    HTTPConnection* connection = nullptr, const void* server_connection = nullptr);
  HTTPServerRequest(const RequestStartLine& start_line, HTTPHeaders headers, HTTPConnection* connection,
                    const void* server_connection = nullptr);

  std::string method;       ///< "GET", "POST"...
  std::string uri;          ///< the request target: path and query
  std::string version;      ///< "HTTP/1.1"
  std::string path;         ///< uri before "?"
  std::string query;        ///< uri after "?"
  HTTPHeaders headers;
  std::string body;
  std::string remote_ip;    ///< the client's address (from the connection's context)
  std::string protocol;     ///< "http" or "https"
  std::string host;         ///< the Host header (or "127.0.0.1")
  std::string host_name;    ///< host without the port, lower-cased
  Arguments arguments;        ///< query and body arguments together
  Arguments query_arguments;  ///< from the query string
  Arguments body_arguments;   ///< from a form body
  Files files;                ///< uploaded files
  HTTPConnection* connection = nullptr;
  const void* server_connection = nullptr;

  /// The request's start line: method, uri and version (Tornado keeps no such attribute; the
  /// HTTPServerRequest constructor takes one).
  RequestStartLine start_line() const { return RequestStartLine{method, uri, version}; }

  /// The cookies sent, by name (parsed on first use). Mirrors HTTPServerRequest.cookies.
  const std::map<std::string, std::string, std::less<>>& cookies();
  /// protocol://host/uri. Mirrors HTTPServerRequest.full_url.
  std::string full_url() const;
  /// Seconds since the request started, or its total duration once finished.
  /// Mirrors HTTPServerRequest.request_time.
  double request_time() const noexcept;
  /// Marks the request finished (for request_time).
  void set_finish_time() noexcept;
  /// The client's TLS certificate in DER form, or "" (plain HTTP, or no certificate).
  /// Mirrors HTTPServerRequest.get_ssl_certificate(binary_form=True).
  std::string get_ssl_certificate() const;
  /// Parses body_arguments and files from the body and merges them into arguments.
  /// @throws HTTPInputError for a malformed body. Mirrors HTTPServerRequest._parse_body.
  void parse_body();

 private:
  void init();
  double start_time_;
  std::optional<double> finish_time_;
  std::optional<std::map<std::string, std::string, std::less<>>> cookies_;
};

}  // namespace tornado::httputil
