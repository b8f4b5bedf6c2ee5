module;
#include <unistd.h>

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
#include <utility>
#include <vector>
module tornado.tcpserver;

import tornado.ioloop;
import tornado.log;
import tornado.netutil;
import tornado.iostream;
import tornado.process;

namespace tornado::tcpserver {

TCPServer::TCPServer(std::size_t max_buffer_size, std::size_t read_chunk_size)
    : max_buffer_size_(max_buffer_size), read_chunk_size_(read_chunk_size) {}

TCPServer::TCPServer(std::optional<netutil::SSLContext> ssl_options, std::size_t max_buffer_size,
                     std::size_t read_chunk_size)
    : TCPServer(max_buffer_size, read_chunk_size) {
  if (ssl_options) {
    if (!ssl_options->server_side()) throw std::invalid_argument("TCPServer: ssl_options must be a server-side context");
    if (!ssl_options->has_certificate()) throw std::invalid_argument("TCPServer: ssl_options has no certificate (certfile)");
  }
  ssl_options_ = std::move(ssl_options);
}

TCPServer::~TCPServer() {
  stop();
  close_pending();
}

void TCPServer::listen(std::uint16_t port, std::string_view address, int family, int backlog, bool reuse_port) {
  add_sockets(netutil::bind_sockets(port, address, family, backlog, reuse_port));
}

void TCPServer::add_sockets(const std::vector<int>& sockets) {
  for (int fd : sockets) {
    try {
      handlers_[fd] = netutil::add_accept_handler(
          fd, [this](int connection, netutil::SocketAddress address) { handle_connection(connection, address); });
    } catch (...) {
      // The server owns these descriptors from now on, the ones it could not watch included.
      ::close(fd);
      throw;
    }
  }
}

void TCPServer::add_socket(int socket) { add_sockets({socket}); }

void TCPServer::bind(std::uint16_t port, std::string_view address, int family, int backlog, bool reuse_port) {
  auto sockets = netutil::bind_sockets(port, address, family, backlog, reuse_port);
  if (started_) add_sockets(sockets);
  else pending_sockets_.insert(pending_sockets_.end(), sockets.begin(), sockets.end());
}

void TCPServer::start(int num_processes, std::optional<int> max_restarts) {
  if (started_) throw std::logic_error("TCPServer.start called twice");
  if (num_processes != 1) {
    // Only the children return: each goes on to accept on the sockets bound before the fork.
    process::fork_processes(num_processes, max_restarts);
  }
  started_ = true;
  auto sockets = std::exchange(pending_sockets_, {});
  add_sockets(sockets);
}

void TCPServer::stop() {
  // Take the handlers first: stop() may be called from handle_stream, inside the accept loop of
  // one of these sockets (Tornado issue #2069); the accept handler checks that it was removed
  // before it accepts again, so the descriptor closed here is never used.
  auto handlers = std::exchange(handlers_, {});
  for (auto& [fd, remove] : handlers) {
    remove();
    ::close(fd);
  }
}

void TCPServer::close_pending() noexcept {
  for (int fd : pending_sockets_) ::close(fd);
  pending_sockets_.clear();
}

void TCPServer::handle_connection(int connection, netutil::SocketAddress address) {
  std::optional<Future<void>> future;
  try {
    std::unique_ptr<iostream::IOStream> stream;
    try {
      if (ssl_options_) {
        // The handshake starts on its own; a plaintext client or a failed handshake closes the
        // stream (logged by SSLIOStream), which handle_stream sees as StreamClosedError.
        stream = std::make_unique<iostream::SSLIOStream>(connection, *ssl_options_, true, std::string(),
                                                         max_buffer_size_, read_chunk_size_);
      } else {
        stream = std::make_unique<iostream::IOStream>(connection, max_buffer_size_, read_chunk_size_);
      }
    } catch (...) {
      ::close(connection);
      throw;
    }
    future.emplace(handle_stream(std::move(stream), address));
  } catch (...) {
    log::app_log().log_exception(log::Level::ERROR, std::current_exception(), "Error in connection callback");
    return;
  }
  // As Tornado's IOLoop.add_future(future, lambda f: f.result()): a failure is logged as an
  // exception in a callback; accepting does not wait for the handler.
  future->add_done_callback([](const Future<void>& f) {
    if (f.cancelled()) return;
    if (auto e = f.exception()) tornado::detail::log_callback_exception(e);
  });
}

Future<void> TCPServer::handle_stream(std::unique_ptr<iostream::IOStream> stream, netutil::SocketAddress) {
  stream->close();
  throw std::logic_error("TCPServer::handle_stream is not implemented: override it");
}

}  // namespace tornado::tcpserver
