// tornado.iostream: buffered non-blocking streams over sockets and pipes. Mirrors tornado.iostream.
module;
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module tornado.iostream;

export import tornado.concurrent;
export import tornado.netutil;
import tornado.ioloop;

namespace tornado::iostream {

/// A first-in first-out queue over a vector, for the stream's write queues. std::deque (libstdc++)
/// allocates a 512-byte block and its map even when empty, about 1.2 KiB for the two queues of
/// every stream, idle or not; this holds nothing until the first push and, once emptied, only the
/// few slots it grew to. Not part of the API.
template <class T>
class StreamQueue {
 public:
  inline bool empty() const noexcept { return head_ == items_.size(); }
  inline std::size_t size() const noexcept { return items_.size() - head_; }
  T& front() noexcept { return items_[head_]; }
  T& back() noexcept { return items_.back(); }
  auto begin() noexcept { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() noexcept { return items_.end(); }
  template <class... A>
  void emplace_back(A&&... args) {
    items_.emplace_back(std::forward<A>(args)...);
  }
  void push_back(T&& v) { items_.push_back(std::move(v)); }
  /// Drops the front element. Its slot is reused only once the queue empties or half of the
  /// vector is popped slots (then they are erased): amortised O(1). Callers move out or reset
  /// what the element owns first if it must be released at once.
  void pop_front() {
    ++head_;
    if (head_ == items_.size()) {
      clear();
    } else if (head_ >= 8 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() noexcept {
    items_.clear();
    head_ = 0;
  }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace tornado::iostream

export namespace tornado::iostream {

/// The stream is closed: raised (through the future) by any operation on a closed stream and by
/// every read or write pending when it closes. `real_error` holds the cause, if there was one
/// (ECONNRESET, a TLS failure...). Mirrors tornado.iostream.StreamClosedError.
class StreamClosedError : public std::runtime_error {
 public:
  explicit StreamClosedError(std::exception_ptr real_error = nullptr)
      : std::runtime_error("Stream is closed"), real_error(std::move(real_error)) {}
  std::exception_ptr real_error;
};

/// A read_until/read_until_regex delimiter was not found within `max_bytes`; the stream is
/// closed. Mirrors tornado.iostream.UnsatisfiableReadError.
class UnsatisfiableReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The read buffer passed `max_buffer_size`, or a write would pass `max_write_buffer_size`.
/// Mirrors tornado.iostream.StreamBufferFullError.
class StreamBufferFullError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A read-only byte range for the write hook: a pointer and a length in bytes.
struct ConstBuffer {
  const char* data;
  std::size_t size;
};

/// A buffered, non-blocking stream on the current IOLoop: reads that complete when a delimiter,
/// a regex match, a byte count or EOF is reached, and writes that queue and complete when the data
/// reached the kernel. Only one read may be pending at a time; any number of writes may be.
///
/// Reads the buffer can already satisfy complete at once (the returned future is done). When the
/// peer closes, data already buffered still satisfies a pending read; the close callback runs
/// after pending futures have resolved. Destroying the stream closes it.
///
/// Subclasses supply the transport through the hooks fileno, close_fd, read_from_fd, write_to_fd
/// and get_fd_error. Mirrors tornado.iostream.BaseIOStream.
class BaseIOStream {
 public:
  /// @param max_buffer_size  most bytes buffered for reading (0: 100 MiB); past it the stream closes
  ///                         with StreamBufferFullError.
  /// @param read_chunk_size  bytes asked of each read call (0: 64 KiB), capped at max_buffer_size/2.
  /// @param max_write_buffer_size  most bytes queued for writing (0: unlimited); a write past it
  ///                         throws StreamBufferFullError.
  explicit BaseIOStream(std::size_t max_buffer_size = 0, std::size_t read_chunk_size = 0,
                        std::size_t max_write_buffer_size = 0);
  virtual ~BaseIOStream();
  BaseIOStream(const BaseIOStream&) = delete;
  BaseIOStream& operator=(const BaseIOStream&) = delete;

  /// Reads until `delimiter` is found; the result includes it.
  /// @param max_bytes  if the delimiter is not within this many bytes, the stream is closed and
  ///                   the future fails with UnsatisfiableReadError (0: no limit).
  /// @throws StreamClosedError (through the future) if the stream closes first.
  /// Mirrors BaseIOStream.read_until.
  Future<std::string> read_until(std::string_view delimiter, std::size_t max_bytes = 0);
  /// Reads until `regex` (Perl/Python syntax, Boost.Regex) matches; the result ends at the match's
  /// end. @param max_bytes as read_until. @throws std::invalid_argument for a bad regex.
  /// Mirrors BaseIOStream.read_until_regex.
  Future<std::string> read_until_regex(std::string_view regex, std::size_t max_bytes = 0);
  /// Reads `num_bytes` bytes; with `partial`, completes as soon as any bytes (at most num_bytes)
  /// are available. Mirrors BaseIOStream.read_bytes.
  Future<std::string> read_bytes(std::size_t num_bytes, bool partial = false);
  /// Reads into `buffer` (which must stay valid until the future completes) without an extra
  /// copy; completes when it is full, or with `partial` when any bytes arrived.
  /// @returns the number of bytes read. Mirrors BaseIOStream.read_into.
  Future<std::size_t> read_into(std::span<char> buffer, bool partial = false);
  /// Reads everything until the peer closes the stream (bounded by max_buffer_size).
  /// Mirrors BaseIOStream.read_until_close.
  Future<std::string> read_until_close();

  /// Queues `data` for writing. @returns a future that completes when this data (and everything
  /// queued before it) was handed to the kernel. @throws StreamClosedError if closed,
  /// StreamBufferFullError past max_write_buffer_size. Mirrors BaseIOStream.write.
  Future<void> write(std::string&& data);
  /// Copies `data` into the write queue; as the overload above.
  Future<void> write(std::string_view data);
  Future<void> write(const char* data) { return write(std::string_view(data)); }
  /// Queues a shared, immutable buffer without copying it (a cached response body, say).
  Future<void> write(std::shared_ptr<const std::string> data);
  /// Queues `data` for writing without sending it yet: it leaves with the next write() or
  /// flush(), or as soon as a read has to wait for the peer, whichever comes first. A server
  /// answering pipelined requests holds its answers back this way while the next request is
  /// already buffered, so that the answers to all the requests of one read leave in one system
  /// call. No future reports when this data left; it counts in write_buffer_size() and writing().
  /// Data still held back when the stream closes is dropped, as unsent write() data is.
  /// @throws StreamClosedError if closed, StreamBufferFullError past max_write_buffer_size.
  /// (No Tornado equivalent: Tornado's write always tries to send at once.)
  void write_deferred(std::string_view data);
  /// Sends what write_deferred() held back (and anything else queued).
  /// @returns a future as write()'s. @throws StreamClosedError if closed.
  Future<void> flush();
  /// True while write_deferred() data waits for a write, a flush or a read to send it.
  inline bool has_deferred_writes() const noexcept { return deferred_; }

  /// Calls `callback` (on the IOLoop) once the stream closes. Mirrors set_close_callback.
  void set_close_callback(util::Callback callback);
  /// Closes the stream: buffered data that satisfies a pending read is delivered, every other
  /// pending read and write fails with StreamClosedError(`error`), the close callback is scheduled.
  /// @param error  the cause, kept in error(). Mirrors BaseIOStream.close(exc_info).
  void close(std::exception_ptr error = nullptr);
  /// True once closed. Mirrors BaseIOStream.closed.
  inline bool closed() const noexcept { return closed_; }
  /// True while a read is pending. Mirrors BaseIOStream.reading.
  virtual bool reading() const noexcept {
    return read_future_.has_value() || read_into_future_.has_value() || read_more_future_.has_value();
  }
  /// True while data is queued for writing. Mirrors BaseIOStream.writing.
  virtual bool writing() const noexcept { return write_buffer_size_ > 0; }
  /// Why the stream closed, if an error closed it. Mirrors BaseIOStream.error.
  inline std::exception_ptr error() const noexcept { return error_; }
  /// Sets TCP_NODELAY (no effect on streams that are not TCP). Mirrors set_nodelay.
  virtual void set_nodelay(bool value) {}

  /// Bytes buffered for reading and not yet consumed.
  std::size_t read_buffer_size() const noexcept;

  // Low-level reading for parsers that work on the buffer in place (the HTTP/1 codec feeds Beast's
  // parser this way, with no copy): look at what is buffered, consume what was parsed, and wait
  // for more.

  /// The bytes buffered and not yet consumed. Valid until the next call on the stream.
  std::string_view read_buffer() const noexcept;
  /// Drops the first `n` bytes of read_buffer() (`n` <= its size).
  void consume(std::size_t n) noexcept;
  /// Completes once more bytes are buffered than now (at once if the socket already has some).
  /// Counts as the pending read. @throws StreamClosedError (through the future) if the stream
  /// closes with nothing new; StreamBufferFullError past max_buffer_size.
  Future<void> read_more();
  /// Bytes queued for writing and not yet sent.
  inline std::size_t write_buffer_size() const noexcept { return write_buffer_size_; }

  inline std::size_t max_buffer_size() const noexcept { return max_buffer_size_; }
  inline std::size_t read_chunk_size() const noexcept { return read_chunk_size_; }
  inline std::size_t max_write_buffer_size() const noexcept { return max_write_buffer_size_; }

  /// The descriptor the IOLoop watches. Mirrors BaseIOStream.fileno.
  virtual int fileno() const noexcept = 0;

 protected:
  /// Closes the descriptor. Mirrors BaseIOStream.close_fd.
  virtual void close_fd() noexcept = 0;
  /// Reads up to `size` bytes into `buf`. @returns the count, 0 at end of stream, or nullopt if it
  /// would block. @throws std::system_error on error. Mirrors BaseIOStream.read_from_fd.
  virtual std::optional<std::size_t> read_from_fd(char* buf, std::size_t size) = 0;
  /// Writes from `count` buffers (vectored). @returns bytes written (0: would block).
  /// @throws std::system_error on error. Mirrors BaseIOStream.write_to_fd.
  virtual std::size_t write_to_fd(const ConstBuffer* buffers, std::size_t count) = 0;
  /// The pending error of the descriptor (SO_ERROR), or null; reading it clears it. The stream
  /// itself does not call it: as in Tornado 6, errors are found by the reads and writes that the
  /// poller's error or hang-up report wakes. Mirrors get_fd_error.
  virtual std::exception_ptr get_fd_error() { return nullptr; }
  /// Whether `e` is a connection reset (closed quietly, without a warning). Mirrors _is_connreset.
  virtual bool is_connreset(const std::exception_ptr& e) const;

  // Hooks for IOStream and SSLIOStream (connect, handshakes), as in Tornado.
  virtual void handle_connect() {}
  /// Reads available data and completes the pending read if it can. Mirrors _handle_read.
  virtual void handle_read();
  /// Writes queued data and completes write futures. Mirrors _handle_write.
  virtual void handle_write();
  /// Whether to watch for writability: writing() here. SSLIOStream narrows it during its
  /// handshake to what the handshake needs, so that data queued meanwhile does not wake the stream
  /// on every poll while the handshake waits to read (Tornado spins there).
  virtual bool wants_write() const noexcept { return writing(); }
  /// Adds READ and/or WRITE to the events watched. Mirrors _add_io_state.
  void add_io_state(std::uint32_t events);
  /// The events watched, or nullopt before the first registration.
  inline std::optional<std::uint32_t> io_state() const noexcept { return state_; }
  /// Fails the other futures a subclass keeps (connect, handshake) on close.
  virtual void signal_closed_extra() {}
  /// Stops watching the descriptor and forgets it without closing it, so another stream can take
  /// it over (start_tls). The stream is closed afterwards.
  void release_fd_for_handover();
  /// Takes the close callback away (to move it to another stream, as start_tls does).
  util::Callback take_close_callback() noexcept { return std::move(close_callback_); }

  inline ioloop::IOLoop& io_loop() const noexcept { return *io_loop_; }
  /// Set by a transport whose read_from_fd came back short, which for a plain socket means its
  /// receive queue was empty then; cleared by the next poller event on the descriptor. While it is
  /// set and READ is watched, a new read waits for the poller instead of trying the descriptor
  /// first (where it would most likely only meet EAGAIN): data that came since is reported anyway.
  bool fd_drained_ = false;
  bool connecting_ = false;
  std::exception_ptr error_;
  std::optional<Future<void>> connect_future_;

 private:
  struct ReadBuffer;
  struct WriteChunk;
  enum class ReadKind : std::uint8_t { none, bytes, delimiter, regex, until_close, more };
  struct RegexHolder;

  void handle_events(int fd, std::uint32_t events);
  Future<std::string> start_string_read();
  void try_inline_read();
  std::optional<std::size_t> read_to_buffer_loop();
  std::size_t read_to_buffer();
  std::optional<std::size_t> find_read_pos();
  void check_max_bytes(std::size_t size);
  void read_from_buffer(std::size_t pos);
  void finish_read(std::size_t size);
  void maybe_add_error_listener();
  void signal_closed();
  void check_closed() const;
  Future<void> enqueue_write(WriteChunk chunk, std::size_t size);
  void run_inline_read();
  std::size_t current_size() const noexcept;

  ioloop::IOLoop* io_loop_;
  std::size_t max_buffer_size_;
  std::size_t read_chunk_size_;
  std::size_t max_write_buffer_size_;

  std::unique_ptr<ReadBuffer> rbuf_;
  // The pending read: one of these is set (Tornado's _read_bytes/_read_delimiter/_read_regex).
  ReadKind read_kind_ = ReadKind::none;
  std::size_t read_bytes_ = 0;
  bool read_partial_ = false;
  std::string read_delimiter_;
  std::unique_ptr<RegexHolder> read_regex_;
  std::size_t read_max_bytes_ = 0;  // 0: unlimited
  std::size_t scan_pos_ = 0;        // where the next delimiter/regex search starts (linear scans)
  std::optional<Future<std::string>> read_future_;
  std::optional<Future<std::size_t>> read_into_future_;
  std::optional<Future<void>> read_more_future_;
  std::size_t read_more_threshold_ = 0;  // read_more completes once more than this is buffered
  std::span<char> user_buf_;        // read_into's target while a read_into is pending
  std::size_t user_filled_ = 0;

  StreamQueue<WriteChunk> wbuf_;
  std::size_t write_buffer_size_ = 0;
  std::size_t wbuf_first_offset_ = 0;
  std::uint64_t total_write_index_ = 0;
  std::uint64_t total_write_done_index_ = 0;
  StreamQueue<std::pair<std::uint64_t, Future<void>>> write_futures_;

  util::Callback close_callback_;
  std::optional<std::uint32_t> state_;
  bool closed_ = false;
  bool deferred_ = false;  // write_deferred() data not yet tried (handle_write clears it)
};

class SSLIOStream;

/// A stream over a connected (or connecting) socket. Takes ownership of the descriptor.
/// Mirrors tornado.iostream.IOStream.
class IOStream : public BaseIOStream {
 public:
  /// @param socket  a stream socket; made non-blocking. Owned (closed with the stream).
  explicit IOStream(int socket, std::size_t max_buffer_size = 0, std::size_t read_chunk_size = 0,
                    std::size_t max_write_buffer_size = 0);
  ~IOStream() override;

  /// Connects the (unconnected) socket to `address` without blocking.
  /// @returns a future completing when connected; it fails with StreamClosedError (whose
  /// real_error says why, e.g. ECONNREFUSED) if the connection fails. Reads and writes may be
  /// queued before it completes. Virtual, so that connecting an SSLIOStream through an IOStream&
  /// still waits for its handshake. Mirrors IOStream.connect.
  virtual Future<void> connect(const netutil::SocketAddress& address);

  int fileno() const noexcept override { return fd_; }
  void set_nodelay(bool value) override;
  /// The address of the peer, or an empty address if unknown.
  netutil::SocketAddress peer_address() const;
  /// Takes the descriptor away from this stream (which is left closed) without closing it.
  /// Used to hand a connection to another stream type (start_tls). @returns the descriptor.
  int detach_fd();

  /// Upgrades this idle connection to TLS (STARTTLS in SMTP, IMAP...): the socket moves to a new
  /// SSLIOStream (with this stream's close callback), this stream is left closed, and the future
  /// completes with the new stream once the handshake finished.
  /// @param server_hostname  for a client: the name to send (SNI) and to verify.
  /// @throws std::invalid_argument (through the future) if a read or write is pending or data is
  /// buffered; SSLError or StreamClosedError if the handshake fails. Mirrors IOStream.start_tls.
  Future<std::unique_ptr<SSLIOStream>> start_tls(bool server_side, netutil::SSLContext context,
                                                 std::string server_hostname = {});

 protected:
  void close_fd() noexcept override;
  std::optional<std::size_t> read_from_fd(char* buf, std::size_t size) override;
  std::size_t write_to_fd(const ConstBuffer* buffers, std::size_t count) override;
  std::exception_ptr get_fd_error() override;
  void handle_connect() override;

  int fd_;
};

/// A TLS stream over a socket, on OpenSSL, with a non-blocking handshake. A server-side stream (or a
/// client made from a connected socket) starts its handshake on its own; a client made from an
/// unconnected socket starts it after connect(). Reads and writes may be queued during the
/// handshake. Client contexts verify the server certificate and, with check_hostname, that it
/// names `server_hostname`. Mirrors tornado.iostream.SSLIOStream.
class SSLIOStream : public IOStream {
 public:
  /// @param socket  a stream socket (owned); connected or not.
  /// @param context  the TLS configuration (server_side must match).
  /// @param server_side  accept (true) or connect (false).
  /// @param server_hostname  for clients: SNI and the name the certificate must match. A client
  ///                         whose context checks hostnames needs one (here or in connect): without
  ///                         it the handshake fails with std::invalid_argument.
  SSLIOStream(int socket, netutil::SSLContext context, bool server_side, std::string server_hostname = {},
              std::size_t max_buffer_size = 0, std::size_t read_chunk_size = 0, std::size_t max_write_buffer_size = 0);
  ~SSLIOStream() override;

  /// Connects, then runs the handshake. @returns a future completing when the handshake did; it
  /// fails with the connection's error itself (a std::system_error such as ECONNREFUSED, an
  /// SSLError, SSLCertVerificationError), not StreamClosedError, as Tornado's does.
  /// @param server_hostname  overrides the one given to the constructor if not empty.
  /// Mirrors SSLIOStream.connect.
  Future<void> connect(const netutil::SocketAddress& address, std::string server_hostname);
  /// connect(address, "") : the name given to the constructor is used.
  Future<void> connect(const netutil::SocketAddress& address) override { return connect(address, std::string()); }
  /// A future that completes when the handshake finished (at once if it has); it fails with the
  /// handshake's error (SSLError, SSLCertVerificationError) or StreamClosedError.
  /// @throws std::logic_error if a wait is already pending. Mirrors SSLIOStream.wait_for_handshake.
  Future<void> wait_for_handshake();
  /// True once the handshake completed.
  inline bool handshake_done() const noexcept { return !ssl_accepting_; }
  /// The ALPN protocol agreed on, or "" if none.
  std::string selected_alpn_protocol() const;
  /// The peer's certificate in DER form, or "" if it sent none. Mirrors SSLSocket.getpeercert(True).
  std::string peer_certificate_der() const;

  bool reading() const noexcept override;
  bool writing() const noexcept override;

 protected:
  bool wants_write() const noexcept override;
  void close_fd() noexcept override;
  std::optional<std::size_t> read_from_fd(char* buf, std::size_t size) override;
  std::size_t write_to_fd(const ConstBuffer* buffers, std::size_t count) override;
  void handle_read() override;
  void handle_write() override;
  void handle_connect() override;
  void signal_closed_extra() override;

 private:
  void do_ssl_handshake();
  void finish_ssl_connect();
  void configure_client_hostname();

  netutil::SSLContext context_;
  void* ssl_ = nullptr;  // SSL*
  bool server_side_;
  std::string server_hostname_;
  bool ssl_accepting_ = true;
  bool handshake_reading_ = false;
  bool handshake_writing_ = false;
  std::optional<Future<void>> ssl_connect_future_;
};

/// A stream over a pipe (or any non-socket descriptor). Takes ownership of the descriptor.
/// Mirrors tornado.iostream.PipeIOStream.
class PipeIOStream : public BaseIOStream {
 public:
  explicit PipeIOStream(int fd, std::size_t max_buffer_size = 0, std::size_t read_chunk_size = 0,
                        std::size_t max_write_buffer_size = 0);
  ~PipeIOStream() override;
  int fileno() const noexcept override { return fd_; }

 protected:
  void close_fd() noexcept override;
  std::optional<std::size_t> read_from_fd(char* buf, std::size_t size) override;
  std::size_t write_to_fd(const ConstBuffer* buffers, std::size_t count) override;
  /// Also EBADF: reading the write end of a pipe whose reader went away (an idle stream with a
  /// close callback listens for reads) closes it quietly, as Tornado's PipeIOStream does.
  bool is_connreset(const std::exception_ptr& e) const override;

 private:
  int fd_;
};

}  // namespace tornado::iostream
