// tornado.netutil:ssl: TLS contexts on OpenSSL, as Python's ssl.SSLContext that Tornado's
// ssl_options turn into. The OpenSSL types stay in the implementation.
module;
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>
export module tornado.netutil:ssl;

export namespace tornado::netutil {

/// A TLS failure: a handshake that failed, a protocol error. `what()` holds OpenSSL's reason.
/// Mirrors ssl.SSLError.
class SSLError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The peer's certificate did not verify: an unknown issuer, an expired certificate, or a
/// hostname that does not match. Mirrors ssl.SSLCertVerificationError.
class SSLCertVerificationError : public SSLError {
 public:
  using SSLError::SSLError;
};

/// Whether the peer must present a certificate. Mirrors ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED.
enum class CertReqs { none, optional, required };

/// Tornado's `ssl_options` dictionary as a struct: fields left empty keep the context's defaults.
/// Mirrors the keys ssl_options_to_context accepts (certfile, keyfile, cert_reqs, ca_certs, ciphers).
struct SSLOptions {
  std::string certfile;                 ///< PEM certificate chain (servers; clients with client certs)
  std::string keyfile;                  ///< PEM private key (default: in certfile)
  std::optional<CertReqs> cert_reqs;    ///< peer certificate policy
  std::string ca_certs;                 ///< PEM file of trusted CAs
  std::string ciphers;                  ///< OpenSSL cipher list for TLS <= 1.2
  std::vector<std::string> alpn_protocols;  ///< ALPN protocols in preference order ("h2", "http/1.1")
};

/// A TLS configuration shared by many connections (a counted handle: copies share it).
/// Client contexts verify the server's certificate and hostname by default; server contexts ask no
/// client certificate by default. Mirrors ssl.SSLContext.
class SSLContext {
 public:
  /// @param server_side  a context for accepting (true) or for connecting (false).
  /// @throws SSLError if OpenSSL cannot make one.
  explicit SSLContext(bool server_side);

  /// The defaults Python's ssl.create_default_context gives: for a client, CERT_REQUIRED,
  /// check_hostname and the system's trusted CAs; for a server, no client certificates.
  static SSLContext create_default_context(bool server_side);

  /// Loads a certificate chain and its private key (PEM). @throws SSLError.
  void load_cert_chain(const std::string& certfile, const std::string& keyfile = "");
  /// Trusts the CAs in `cafile` (PEM). @throws SSLError.
  void load_verify_locations(const std::string& cafile);
  /// Trusts the system's default CAs.
  void load_default_certs();
  /// Sets the cipher list for TLS <= 1.2. @throws SSLError if none is usable.
  void set_ciphers(const std::string& ciphers);
  /// Sets the peer certificate policy. CERT_NONE also turns check_hostname off, as Python requires.
  void set_verify_mode(CertReqs mode);
  CertReqs verify_mode() const noexcept;
  /// Whether clients check that the certificate names the host they connect to.
  void set_check_hostname(bool check);
  bool check_hostname() const noexcept;
  /// ALPN protocols in preference order; servers pick the first of theirs the client offers.
  void set_alpn_protocols(std::vector<std::string> protocols);
  bool server_side() const noexcept;
  /// Whether a certificate was loaded (a server context needs one).
  bool has_certificate() const noexcept;

  /// The OpenSSL `SSL_CTX*`, for settings this class does not cover.
  void* native_handle() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// Turns Tornado-style options into a context: certfile/keyfile loaded, cert_reqs, ca_certs and
/// ciphers applied, TLS compression off. A client context without `cert_reqs` verifies the server
/// (and its hostname) against `ca_certs` or the system's CAs. @throws SSLError for unusable files.
/// Mirrors tornado.netutil.ssl_options_to_context.
SSLContext ssl_options_to_context(const SSLOptions& options, bool server_side);

}  // namespace tornado::netutil
