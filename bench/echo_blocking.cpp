// The reference echo server for bench/run's tcpecho rows: blocking sockets, one thread per
// connection, each copying whatever arrives straight back (read, then write it all). No
// tornado-cpp; what a plain C++ echo costs on this machine.
//
// Usage: echo_blocking [--port=0] [--address=127.0.0.1]
// Prints "Listening on TCP port N" once listening, then serves until killed.
#include "server_args.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

void serve(int fd) {
  std::vector<char> buf(64 * 1024);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = ::send(fd, buf.data() + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ::close(fd);
        return;
      }
      off += w;
    }
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  auto args = bench::parse_server_args(argc, argv, 0);
  if (!args) return 2;
  const int port = args->port;
  const std::string& address = args->address;
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) {
    std::fprintf(stderr, "bad IPv4 address %s\n", address.c_str());
    return 2;
  }
  if (::bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || ::listen(ls, 1024) < 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof sa;
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&sa), &len);
  std::printf("Listening on TCP port %d\n", ntohs(sa.sin_port));
  std::fflush(stdout);
  for (;;) {
    int fd = ::accept(ls, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::perror("accept");
      return 1;
    }
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(serve, fd).detach();
  }
}
