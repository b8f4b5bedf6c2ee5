module;
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>
module tornado.netutil;

namespace tornado::netutil {

namespace {
std::string openssl_errors(const std::string& what) {
  std::string msg = what;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    msg += msg == what ? ": " : "; ";
    msg += buf;
  }
  return msg;
}

// Server side of ALPN: the first of our protocols that the client also offers.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                void* arg) {
  auto* ours = static_cast<std::vector<std::string>*>(arg);
  for (const auto& p : *ours) {
    for (unsigned i = 0; i < inlen;) {
      unsigned len = in[i];
      if (i + 1 + len > inlen) break;
      if (len == p.size() && std::memcmp(in + i + 1, p.data(), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}
}  // namespace

struct SSLContext::Impl {
  SSL_CTX* ctx = nullptr;
  bool server_side = false;
  bool check_hostname = false;
  CertReqs verify = CertReqs::none;
  std::vector<std::string> alpn;
  ~Impl() {
    if (ctx) SSL_CTX_free(ctx);
  }
};

SSLContext::SSLContext(bool server_side) : impl_(std::make_shared<Impl>()) {
  impl_->ctx = SSL_CTX_new(server_side ? TLS_server_method() : TLS_client_method());
  if (!impl_->ctx) throw SSLError(openssl_errors("SSL_CTX_new"));
  impl_->server_side = server_side;
  SSL_CTX_set_min_proto_version(impl_->ctx, TLS1_2_VERSION);
  // Compression enables CRIME; Tornado turns it off explicitly.
  // A peer closing without close_notify reads as end of stream, as it did in Python's ssl before
  // OpenSSL 3 made it an error: many real clients and servers do it.
  SSL_CTX_set_options(impl_->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Partial writes and a write buffer that may move between retries: IOStream hands SSL_write
  // whatever is queued, which grows (and may be reallocated) while a retry is pending.
  SSL_CTX_set_mode(impl_->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!server_side) {
    // Python's PROTOCOL_TLS_CLIENT: verify the server and its name unless told otherwise.
    set_verify_mode(CertReqs::required);
    impl_->check_hostname = true;
  }
}

SSLContext SSLContext::create_default_context(bool server_side) {
  SSLContext c(server_side);
  if (!server_side) c.load_default_certs();
  return c;
}

void SSLContext::load_cert_chain(const std::string& certfile, const std::string& keyfile) {
  if (SSL_CTX_use_certificate_chain_file(impl_->ctx, certfile.c_str()) != 1)
    throw SSLError(openssl_errors("cannot load certificate chain " + certfile));
  const std::string& key = keyfile.empty() ? certfile : keyfile;
  if (SSL_CTX_use_PrivateKey_file(impl_->ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw SSLError(openssl_errors("cannot load private key " + key));
  if (SSL_CTX_check_private_key(impl_->ctx) != 1)
    throw SSLError(openssl_errors("private key does not match certificate " + certfile));
}

void SSLContext::load_verify_locations(const std::string& cafile) {
  if (SSL_CTX_load_verify_locations(impl_->ctx, cafile.c_str(), nullptr) != 1)
    throw SSLError(openssl_errors("cannot load CA file " + cafile));
}

void SSLContext::load_default_certs() { SSL_CTX_set_default_verify_paths(impl_->ctx); }

void SSLContext::set_ciphers(const std::string& ciphers) {
  if (SSL_CTX_set_cipher_list(impl_->ctx, ciphers.c_str()) != 1)
    throw SSLError(openssl_errors("no usable cipher in '" + ciphers + "'"));
}

void SSLContext::set_verify_mode(CertReqs mode) {
  impl_->verify = mode;
  int flags = SSL_VERIFY_NONE;
  if (mode == CertReqs::optional) flags = SSL_VERIFY_PEER;
  if (mode == CertReqs::required)
    flags = SSL_VERIFY_PEER | (impl_->server_side ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
  SSL_CTX_set_verify(impl_->ctx, flags, nullptr);
  if (mode == CertReqs::none) impl_->check_hostname = false;
}

CertReqs SSLContext::verify_mode() const noexcept { return impl_->verify; }

void SSLContext::set_check_hostname(bool check) {
  impl_->check_hostname = check;
  if (check && impl_->verify == CertReqs::none) set_verify_mode(CertReqs::required);
}

bool SSLContext::check_hostname() const noexcept { return impl_->check_hostname; }

void SSLContext::set_alpn_protocols(std::vector<std::string> protocols) {
  impl_->alpn = std::move(protocols);
  if (impl_->server_side) {
    SSL_CTX_set_alpn_select_cb(impl_->ctx, select_alpn, &impl_->alpn);
  } else {
    std::string wire;
    for (const auto& p : impl_->alpn) {
      wire += static_cast<char>(p.size());
      wire += p;
    }
    SSL_CTX_set_alpn_protos(impl_->ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
}

bool SSLContext::server_side() const noexcept { return impl_->server_side; }
bool SSLContext::has_certificate() const noexcept { return SSL_CTX_get0_certificate(impl_->ctx) != nullptr; }
void* SSLContext::native_handle() const noexcept { return impl_->ctx; }

SSLContext ssl_options_to_context(const SSLOptions& o, bool server_side) {
  SSLContext c(server_side);
  if (!o.certfile.empty()) c.load_cert_chain(o.certfile, o.keyfile);
  if (o.cert_reqs) c.set_verify_mode(*o.cert_reqs);
  if (!o.ca_certs.empty()) c.load_verify_locations(o.ca_certs);
  else if (!server_side) c.load_default_certs();
  if (!o.ciphers.empty()) c.set_ciphers(o.ciphers);
  if (!o.alpn_protocols.empty()) c.set_alpn_protocols(o.alpn_protocols);
  return c;
}

}  // namespace tornado::netutil
