module;
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>
module tornado.httpserver;

import tornado.concurrent;
import tornado.http1connection;
import tornado.httputil;
import tornado.iostream;
import tornado.log;
import tornado.netutil;

namespace tornado::httpserver {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Collects a whole request and calls the legacy callback with it. Mirrors _CallableAdapter.
class CallableAdapter final : public httputil::HTTPMessageDelegate {
 public:
  CallableAdapter(const HTTPServer::RequestCallback& cb, httputil::HTTPConnection* conn) : cb_(cb), conn_(conn) {}
  std::optional<Future<void>> headers_received(const httputil::StartLine& start_line,
                                               httputil::HTTPHeaders headers) override {
    request_.emplace(std::get<httputil::RequestStartLine>(start_line), std::move(headers), conn_);
    return std::nullopt;
  }
  std::optional<Future<void>> data_received(std::string chunk) override {
    body_ += chunk;
    return std::nullopt;
  }
  void finish() override {
    request_->body = std::move(body_);
    request_->parse_body();
    cb_(*request_);
  }
  void on_connection_close() override { body_.clear(); }

 private:
  const HTTPServer::RequestCallback& cb_;
  httputil::HTTPConnection* conn_;
  std::optional<httputil::HTTPServerRequest> request_;
  std::string body_;
};

// Applies the proxy headers to this request's context before the application sees the request.
// Mirrors _ProxyAdapter (undoing is not needed: each request has its own context).
class ProxyAdapter final : public httputil::HTTPMessageDelegate {
 public:
  ProxyAdapter(std::unique_ptr<httputil::HTTPMessageDelegate> d, http1connection::HTTP1Connection* conn,
               const std::vector<std::string>& trusted)
      : d_(std::move(d)), conn_(conn), trusted_(trusted) {}
  std::optional<Future<void>> headers_received(const httputil::StartLine& start_line,
                                               httputil::HTTPHeaders headers) override {
    apply_xheaders(conn_->mutable_context(), headers, trusted_);
    return d_->headers_received(start_line, std::move(headers));
  }
  std::optional<Future<void>> data_received(std::string chunk) override { return d_->data_received(std::move(chunk)); }
  void finish() override { d_->finish(); }
  void on_connection_close() override { d_->on_connection_close(); }

 private:
  std::unique_ptr<httputil::HTTPMessageDelegate> d_;
  http1connection::HTTP1Connection* conn_;
  const std::vector<std::string>& trusted_;
};

http1connection::HTTP1ConnectionParameters make_params(const HTTPServerOptions& o) {
  http1connection::HTTP1ConnectionParameters p;
  p.no_keep_alive = o.no_keep_alive;
  if (o.chunk_size) p.chunk_size = o.chunk_size;
  if (o.max_header_size) p.max_header_size = o.max_header_size;
  p.header_timeout = o.idle_connection_timeout ? o.idle_connection_timeout : std::optional<double>(3600.0);
  p.max_body_size = o.max_body_size;
  p.body_timeout = o.body_timeout;
  p.decompress = o.decompress_request;
  return p;
}

}  // namespace

void apply_xheaders(httputil::RequestContext& context, const httputil::HTTPHeaders& headers,
                    const std::vector<std::string>& trusted_downstream) {
  // Squid uses X-Forwarded-For, others X-Real-Ip.
  std::string ip = headers.get("X-Forwarded-For", context.remote_ip);
  // Walk the hops from the nearest; skip the proxies we trust.
  std::string_view list = ip;
  std::string candidate;
  while (true) {
    auto comma = list.rfind(',');
    std::string_view hop = trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
    candidate = std::string(hop);
    if (std::find(trusted_downstream.begin(), trusted_downstream.end(), candidate) == trusted_downstream.end()) break;
    if (comma == std::string_view::npos) break;
    list = list.substr(0, comma);
  }
  ip = headers.get("X-Real-Ip", candidate);
  if (netutil::is_valid_ip(ip)) context.remote_ip = ip;
  // AWS uses X-Forwarded-Proto.
  auto proto = headers.get("X-Scheme");
  if (!proto) proto = headers.get("X-Forwarded-Proto");
  if (proto) {
    std::string_view p = *proto;
    if (auto comma = p.rfind(','); comma != std::string_view::npos) p = p.substr(comma + 1);
    p = trim(p);
    if (p == "http" || p == "https") context.protocol = std::string(p);
  }
}

HTTPServer::HTTPServer(httputil::HTTPServerConnectionDelegate& delegate, HTTPServerOptions options)
    : TCPServer(options.ssl_options, options.max_buffer_size, options.chunk_size),
      delegate_(&delegate),
      options_(std::move(options)),
      conn_params_(make_params(options_)) {}

HTTPServer::HTTPServer(RequestCallback callback, HTTPServerOptions options)
    : TCPServer(options.ssl_options, options.max_buffer_size, options.chunk_size),
      callback_(std::move(callback)),
      options_(std::move(options)),
      conn_params_(make_params(options_)) {}

HTTPServer::~HTTPServer() {
  // Connections still open hold references to this server; closing their streams makes their
  // loops end (on the next IOLoop iteration). Callers should await close_all_connections() first.
  for (auto* c : connections_) c->stream().close();
}

Future<void> HTTPServer::close_all_connections() {
  while (!connections_.empty()) {
    auto* conn = *connections_.begin();
    co_await conn->close();
    connections_.erase(conn);
  }
}

Future<void> HTTPServer::handle_stream(std::unique_ptr<iostream::IOStream> stream, netutil::SocketAddress address) {
  // The context is built by a plain function and handed over as a temporary, so that the
  // coroutine's frame, which lives as long as the connection, holds only the connection's copy.
  auto make_context = [this](const iostream::IOStream& s, const netutil::SocketAddress& addr) {
    httputil::RequestContext context;
    context.address = addr;
    int family = addr.family();
    // A Unix socket has no IP: Tornado fakes one.
    context.remote_ip = (family == netutil::af_inet() || family == netutil::af_inet6()) ? addr.host() : "0.0.0.0";
    if (!options_.protocol.empty()) context.protocol = options_.protocol;
    else if (dynamic_cast<const iostream::SSLIOStream*>(&s)) context.protocol = "https";
    else context.protocol = "http";
    return context;
  };
  // Responses go out whole, in as few writes as we can; Nagle's delay would only add latency.
  stream->set_nodelay(true);
  const iostream::IOStream* raw = stream.get();  // arguments are evaluated in no set order
  http1connection::HTTP1ServerConnection conn(std::shared_ptr<iostream::IOStream>(std::move(stream)), conn_params_,
                                              make_context(*raw, address));
  connections_.insert(&conn);
  try {
    co_await conn.start_serving(*this);
  } catch (...) {
    connections_.erase(&conn);
    throw;
  }
  connections_.erase(&conn);
}

std::unique_ptr<httputil::HTTPMessageDelegate> HTTPServer::start_request(const void* server_conn,
                                                                         httputil::HTTPConnection* request_conn) {
  if (options_.ssl_options) {
    // The TLS handshake is done once a request's headers are in: the client's certificate (if it
    // sent one) is what HTTPServerRequest::get_ssl_certificate returns, as Tornado's getpeercert.
    auto* conn = static_cast<http1connection::HTTP1Connection*>(request_conn);
    const auto& server = *static_cast<const http1connection::HTTP1ServerConnection*>(server_conn);
    if (conn->context().peer_certificate_der.empty())
      if (auto* ssl = dynamic_cast<iostream::SSLIOStream*>(&server.stream()))
        conn->mutable_context().peer_certificate_der = ssl->peer_certificate_der();
  }
  std::unique_ptr<httputil::HTTPMessageDelegate> d;
  if (delegate_) d = delegate_->start_request(server_conn, request_conn);
  else d = std::make_unique<CallableAdapter>(callback_, request_conn);
  if (options_.xheaders) {
    d = std::make_unique<ProxyAdapter>(std::move(d), static_cast<http1connection::HTTP1Connection*>(request_conn),
                                       options_.trusted_downstream);
  }
  return d;
}

void HTTPServer::on_close(const void* server_conn) {
  connections_.erase(static_cast<http1connection::HTTP1ServerConnection*>(const_cast<void*>(server_conn)));
}

}  // namespace tornado::httpserver
