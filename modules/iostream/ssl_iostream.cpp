// SSLIOStream and IOStream::start_tls, on OpenSSL.
module;
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <sys/socket.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
module tornado.iostream;

import tornado.log;
import tornado.netutil;

namespace tornado::iostream {

namespace {
SSL* as_ssl(void* p) { return static_cast<SSL*>(p); }

std::string drain_openssl_errors() {
  std::string msg;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!msg.empty()) msg += "; ";
    msg += buf;
  }
  return msg;
}

// The exception for an SSL_ERROR_SSL: a certificate that did not verify gets its own type, with
// X509's reason ("certificate has expired", "Hostname mismatch"), as Python reports it.
std::exception_ptr ssl_error(SSL* ssl) {
  long verify = SSL_get_verify_result(ssl);
  std::string detail = drain_openssl_errors();
  if (verify != X509_V_OK) {
    return std::make_exception_ptr(netutil::SSLCertVerificationError(
        std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify)));
  }
  return std::make_exception_ptr(netutil::SSLError(detail.empty() ? "SSL error" : detail));
}

bool is_ip_literal(const std::string& host) { return netutil::is_valid_ip(host); }

// A socket BIO that sends with MSG_NOSIGNAL. OpenSSL's own socket BIO uses write(2), so writing to
// a peer that went away raises SIGPIPE, which kills a program that did not ignore it (Python
// ignores it at startup, so Tornado never sees it; IOStream sends with MSG_NOSIGNAL too). The
// descriptor stays owned by the stream: the BIO never closes it.
namespace socket_bio {
int fd_of(BIO* b) { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b))); }

bool should_retry() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

int bio_write(BIO* b, const char* in, int len) {
  BIO_clear_retry_flags(b);
  ssize_t n = ::send(fd_of(b), in, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && should_retry()) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int bio_read(BIO* b, char* out, int len) {
  if (!out) return 0;
  BIO_clear_retry_flags(b);
  ssize_t n = ::recv(fd_of(b), out, static_cast<std::size_t>(len), 0);
  if (n < 0 && should_retry()) BIO_set_retry_read(b);
  // What SSL_OP_IGNORE_UNEXPECTED_EOF looks at (through BIO_CTRL_EOF) to tell EOF from an error.
  if (n == 0 && len > 0) BIO_set_flags(b, BIO_FLAGS_IN_EOF);
  return static_cast<int>(n);
}

long bio_ctrl(BIO* b, int cmd, long num, void* ptr) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DUP:
      return 1;
    case BIO_CTRL_EOF:
      return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    case BIO_C_GET_FD:
      if (ptr) *static_cast<int*>(ptr) = fd_of(b);
      return fd_of(b);
    default:
      return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_data(b, reinterpret_cast<void*>(std::intptr_t{-1}));
  return 1;
}

BIO_METHOD* method() {
  // Made once and kept for the life of the process, as OpenSSL's built-in methods are.
  static BIO_METHOD* const m = [] {
    BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "tornado socket");
    if (!bm) return bm;
    BIO_meth_set_write(bm, bio_write);
    BIO_meth_set_read(bm, bio_read);
    BIO_meth_set_ctrl(bm, bio_ctrl);
    BIO_meth_set_create(bm, bio_create);
    return bm;
  }();
  return m;
}

BIO* make(int fd) {
  BIO_METHOD* m = method();
  BIO* b = m ? BIO_new(m) : nullptr;
  if (!b) return nullptr;
  BIO_set_data(b, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  BIO_set_init(b, 1);
  return b;
}
}  // namespace socket_bio
}  // namespace

SSLIOStream::SSLIOStream(int socket, netutil::SSLContext context, bool server_side, std::string server_hostname,
                         std::size_t max_buffer_size, std::size_t read_chunk_size, std::size_t max_write_buffer_size)
    : IOStream(socket, max_buffer_size, read_chunk_size, max_write_buffer_size),
      context_(std::move(context)),
      server_side_(server_side),
      server_hostname_(std::move(server_hostname)) {
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(context_.native_handle()));
  if (!ssl) throw netutil::SSLError("SSL_new: " + drain_openssl_errors());
  ssl_ = ssl;
  BIO* bio = socket_bio::make(fd_);
  if (!bio) {
    SSL_free(ssl);
    ssl_ = nullptr;
    throw netutil::SSLError("BIO_new: " + drain_openssl_errors());
  }
  SSL_set_bio(ssl, bio, bio);  // one BIO for both directions: the SSL takes our one reference
  if (server_side_) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    configure_client_hostname();
  }
  // Already connected (an accepted socket, or start_tls): start the handshake on the next
  // iteration; the real I/O state is set in handle_events afterwards (Tornado does the same).
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) add_io_state(ioloop::IOLoop::WRITE);
}

SSLIOStream::~SSLIOStream() { close(); }

void SSLIOStream::configure_client_hostname() {
  SSL* ssl = as_ssl(ssl_);
  if (server_hostname_.empty()) return;
  // SNI carries names only, never IP literals (RFC 6066 section 3).
  if (!is_ip_literal(server_hostname_)) SSL_set_tlsext_host_name(ssl, server_hostname_.c_str());
  if (context_.check_hostname()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip_literal(server_hostname_)) X509_VERIFY_PARAM_set1_ip_asc(param, server_hostname_.c_str());
    else SSL_set1_host(ssl, server_hostname_.c_str());
  }
}

bool SSLIOStream::reading() const noexcept { return handshake_reading_ || BaseIOStream::reading(); }
bool SSLIOStream::writing() const noexcept { return handshake_writing_ || BaseIOStream::writing(); }
// Until the handshake is done, queued data cannot be sent: only the handshake's own writes count.
bool SSLIOStream::wants_write() const noexcept { return ssl_accepting_ ? handshake_writing_ : BaseIOStream::writing(); }

Future<void> SSLIOStream::connect(const netutil::SocketAddress& address, std::string server_hostname) {
  if (!server_hostname.empty() && server_hostname != server_hostname_) {
    server_hostname_ = std::move(server_hostname);
    configure_client_hostname();
  }
  // A failed connect also fails the handshake wait; the connect future itself need not be looked at.
  auto f = IOStream::connect(address);
  f.state()->mark_retrieved();
  return wait_for_handshake();
}

Future<void> SSLIOStream::wait_for_handshake() {
  if (ssl_connect_future_) throw std::logic_error("Already waiting");
  ssl_connect_future_.emplace();
  auto f = *ssl_connect_future_;
  if (closed()) {
    signal_closed_extra();
  } else if (!ssl_accepting_) {
    finish_ssl_connect();
  }
  return f;
}

void SSLIOStream::finish_ssl_connect() {
  if (ssl_connect_future_) {
    auto f = std::move(*ssl_connect_future_);
    ssl_connect_future_.reset();
    future_set_result_unless_cancelled(f);
  }
}

void SSLIOStream::signal_closed_extra() {
  if (!ssl_connect_future_) return;
  auto f = std::move(*ssl_connect_future_);
  ssl_connect_future_.reset();
  if (!f.done()) {
    if (error_) f.set_exception(error_);
    else f.set_exception(StreamClosedError());
  }
  f.state()->mark_retrieved();
}

void SSLIOStream::do_ssl_handshake() {
  if (!server_side_ && server_hostname_.empty() && context_.check_hostname()) {
    // Without a name only the chain would be checked, and any certificate a trusted CA signed
    // would do. Python's wrap_socket refuses this (ValueError), which fails Tornado's handshake.
    close(std::make_exception_ptr(std::invalid_argument("check_hostname requires server_hostname")));
    return;
  }
  SSL* ssl = as_ssl(ssl_);
  handshake_reading_ = false;
  handshake_writing_ = false;
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl);
  if (rc == 1) {
    ssl_accepting_ = false;
    finish_ssl_connect();
    return;
  }
  int err = SSL_get_error(ssl, rc);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      handshake_reading_ = true;
      return;
    case SSL_ERROR_WANT_WRITE:
      handshake_writing_ = true;
      return;
    case SSL_ERROR_ZERO_RETURN:
      close(std::make_exception_ptr(netutil::SSLError("EOF occurred in violation of protocol")));
      return;
    case SSL_ERROR_SYSCALL: {
      // The peer vanished mid-handshake (a port scanner, `nc -z`): close quietly, as Tornado does
      // for ECONNRESET, EBADF, ENOTCONN and errno 0.
      int e = errno;
      drain_openssl_errors();
      if (e == 0) close(std::make_exception_ptr(netutil::SSLError("EOF occurred in violation of protocol")));
      else close(std::make_exception_ptr(std::system_error(e, std::generic_category(), "SSL handshake")));
      return;
    }
    default: {
      auto e = ssl_error(ssl);
      auto peer = peer_address();
      log::gen_log().warning("SSL Error on {} {}: {}", fd_, peer.empty() ? std::string("(not connected)") : peer.to_string(),
                             describe_exception(e));
      close(e);
      return;
    }
  }
}

void SSLIOStream::handle_read() {
  if (ssl_accepting_) {
    do_ssl_handshake();
    return;
  }
  BaseIOStream::handle_read();
}

void SSLIOStream::handle_write() {
  if (ssl_accepting_) {
    do_ssl_handshake();
    return;
  }
  BaseIOStream::handle_write();
}

void SSLIOStream::handle_connect() {
  IOStream::handle_connect();
  // The SSL object was bound to the socket at construction; the WRITE event that follows a
  // successful connect runs handle_write, which starts the handshake.
}

std::optional<std::size_t> SSLIOStream::read_from_fd(char* buf, std::size_t size) {
  // Nothing can be read before the handshake completes.
  if (ssl_accepting_) return std::nullopt;
  SSL* ssl = as_ssl(ssl_);
  ERR_clear_error();
  int n = SSL_read(ssl, buf, static_cast<int>(std::min<std::size_t>(size, 1u << 30)));
  if (n > 0) return static_cast<std::size_t>(n);
  int err = SSL_get_error(ssl, n);
  switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return std::nullopt;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    case SSL_ERROR_SYSCALL: {
      int e = errno;
      drain_openssl_errors();
      if (e == 0 || n == 0) return 0;  // EOF without close_notify
      if (e == EAGAIN || e == EWOULDBLOCK) return std::nullopt;
      throw std::system_error(e, std::generic_category(), "SSL read");
    }
    default:
      std::rethrow_exception(ssl_error(ssl));
  }
}

std::size_t SSLIOStream::write_to_fd(const ConstBuffer* buffers, std::size_t count) {
  if (ssl_accepting_) return 0;
  SSL* ssl = as_ssl(ssl_);
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i) {
    ERR_clear_error();
    int want = static_cast<int>(std::min<std::size_t>(buffers[i].size, 1u << 30));
    int n = SSL_write(ssl, buffers[i].data, want);
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      if (n < want) break;
      continue;
    }
    int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) break;
    if (total > 0) break;  // report what was sent; the error comes back on the next call
    if (err == SSL_ERROR_SYSCALL) {
      int e = errno ? errno : EPIPE;
      drain_openssl_errors();
      throw std::system_error(e, std::generic_category(), "SSL write");
    }
    std::rethrow_exception(ssl_error(ssl));
  }
  return total;
}

void SSLIOStream::close_fd() noexcept {
  if (ssl_) {
    SSL* ssl = as_ssl(ssl_);
    // RFC 8446 6.1: each party MUST send close_notify before closing its write side, unless it
    // sent an error alert. One non-blocking attempt, not waiting for the peer's: peers that insist
    // on it (openssl s_client, OpenSSL 3 clients by default) then see an end, not a truncation.
    // Python's SSLSocket.close sends none; Tornado inherits that, which we do not copy.
    if (!ssl_accepting_ && !error_ && fd_ >= 0) {
      ERR_clear_error();
      SSL_shutdown(ssl);
      ERR_clear_error();
    }
    SSL_free(ssl);
    ssl_ = nullptr;
  }
  IOStream::close_fd();
}

std::string SSLIOStream::selected_alpn_protocol() const {
  if (!ssl_) return {};
  const unsigned char* data = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(as_ssl(ssl_), &data, &len);
  return data ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
}

std::string SSLIOStream::peer_certificate_der() const {
  if (!ssl_) return {};
  X509* cert = SSL_get1_peer_certificate(as_ssl(ssl_));
  if (!cert) return {};
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  std::string out;
  if (len > 0) out.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  X509_free(cert);
  return out;
}

Future<std::unique_ptr<SSLIOStream>> IOStream::start_tls(bool server_side, netutil::SSLContext context,
                                                         std::string server_hostname) {
  if (reading() || writing() || connect_future_ || closed() || read_buffer_size() > 0)
    throw std::invalid_argument("IOStream is not idle; cannot convert to SSL");
  util::Callback close_cb = take_close_callback();
  std::size_t mbs = max_buffer_size(), rcs = read_chunk_size(), mwbs = max_write_buffer_size();
  int fd = detach_fd();
  auto stream = std::make_unique<SSLIOStream>(fd, std::move(context), server_side, std::move(server_hostname), mbs,
                                              rcs, mwbs);
  if (close_cb) stream->set_close_callback(std::move(close_cb));
  co_await stream->wait_for_handshake();
  co_return stream;
}

}  // namespace tornado::iostream
