// Load generator for line echo servers (examples/tcpecho, Python Tornado's demos/tcpecho, socat,
// bench/echo_blocking.cpp): plain sockets and epoll, no tornado-cpp, so that what it measures is
// the server. bench/run drives it, with the server pinned to one CPU and this program to the other.
//
// Usage:
//   tcpecho_load --port=P [--host=127.0.0.1] roundtrip [--connections=N] [--seconds=S] [--size=B]
//       N connections (default 50), each sending one line of B bytes (default 32, newline
//       included) and waiting for it to come back before sending the next, for S seconds (default
//       5) after a warm-up of a quarter of that. Prints
//       "roundtrip<TAB>round trips/s<TAB>round trips<TAB>seconds".
//   tcpecho_load --port=P bulk [--bytes=N] [--line=L] [--connections=C]
//       C connections (default 1) each stream N bytes (default 1 GiB) made of lines of L bytes
//       (default 65536, newline included), a writer thread sending while a reader thread reads
//       the echo back and checks it byte for byte. Prints "bulk<TAB>MB/s<TAB>bytes<TAB>seconds"
//       (MB = 10^6 bytes; the bytes counted once, not twice for both directions).
// Exits 1 (with a message on stderr) if a connection fails or echoes something else.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tcpecho_load: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "tcpecho_load: %s\n", what.c_str());
  std::exit(1);
}

int connect_to(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) fail("bad IPv4 address " + host);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) die("connect");
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void set_nonblocking(int fd) {
  int one = 1;
  if (::ioctl(fd, FIONBIO, &one) < 0) die("FIONBIO");
}

// A line of `size` bytes: printable characters, then '\n'.
std::string make_line(std::size_t size, std::size_t seed) {
  std::string line(size, 'x');
  for (std::size_t i = 0; i + 1 < size; ++i) line[i] = static_cast<char>('a' + (i + seed) % 26);
  line[size - 1] = '\n';
  return line;
}

// ---------------------------------------------------------------------------------------------
// Round trips: one line in flight per connection.

int roundtrip(const std::string& host, int port, int connections, double seconds, std::size_t size) {
  if (size < 1) fail("--size must be at least 1");
  struct Conn {
    int fd;
    std::string line;
    std::size_t received = 0;
  };
  std::vector<Conn> conns;
  int ep = ::epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < connections; ++i) {
    int fd = connect_to(host, port);
    set_nonblocking(fd);
    conns.push_back(Conn{fd, make_line(size, static_cast<std::size_t>(i))});
  }
  for (std::size_t i = 0; i < conns.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0) die("epoll_ctl");
  }
  auto send_line = [](Conn& c) {
    std::size_t off = 0;
    while (off < c.line.size()) {
      ssize_t n = ::send(c.fd, c.line.data() + off, c.line.size() - off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        // A line this small fits the socket buffer: the server read the previous one entirely.
        die("send");
      }
      off += static_cast<std::size_t>(n);
    }
    c.received = 0;
  };
  for (auto& c : conns) send_line(c);

  std::vector<char> buf(std::max<std::size_t>(size, 65536));
  std::vector<epoll_event> events(conns.size());
  const double warmup = seconds / 4;
  double start = now();
  double measure_start = start + warmup;
  double end = measure_start + seconds;
  bool measuring = false;
  std::uint64_t count = 0;
  for (;;) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    if (n == 0) fail("no reply from the server within 1 s");
    for (int i = 0; i < n; ++i) {
      Conn& c = conns[events[i].data.u64];
      for (;;) {
        ssize_t r = ::recv(c.fd, buf.data(), buf.size(), 0);
        if (r < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN) break;
          die("recv");
        }
        if (r == 0) fail("the server closed a connection");
        if (std::memcmp(buf.data(), c.line.data() + c.received, static_cast<std::size_t>(r)) != 0)
          fail("the server echoed something else");
        c.received += static_cast<std::size_t>(r);
        if (c.received > c.line.size()) fail("the server echoed more than was sent");
        if (c.received == c.line.size()) {
          ++count;
          send_line(c);
          break;
        }
      }
    }
    double t = now();
    if (!measuring && t >= measure_start) {
      measuring = true;
      measure_start = t;
      count = 0;
    } else if (measuring && t >= end) {
      double elapsed = t - measure_start;
      std::printf("roundtrip\t%.1f\t%llu\t%.3f\n", static_cast<double>(count) / elapsed,
                  static_cast<unsigned long long>(count), elapsed);
      break;
    }
  }
  for (auto& c : conns) ::close(c.fd);
  ::close(ep);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Bulk: stream bytes through the echo and read them back concurrently.

int bulk(const std::string& host, int port, int connections, std::uint64_t total, std::size_t line) {
  if (line < 1) fail("--line must be at least 1");
  // One period of the stream (a whole number of lines, about 1 MiB): what the writer sends over
  // and over, and what the reader compares the echo with.
  std::size_t lines_per_block = std::max<std::size_t>(1, (1 << 20) / line);
  std::string block;
  for (std::size_t i = 0; i < lines_per_block; ++i) block += make_line(line, i);
  total = (total + line - 1) / line * line;  // whole lines, so the last one is echoed too

  std::vector<int> fds;
  for (int i = 0; i < connections; ++i) fds.push_back(connect_to(host, port));
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  double start = now();
  for (int fd : fds) {
    threads.emplace_back([&, fd] {
      std::uint64_t sent = 0;
      while (sent < total) {
        std::size_t off = static_cast<std::size_t>(sent % block.size());
        std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(block.size() - off, total - sent));
        ssize_t n = ::send(fd, block.data() + off, len, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR) continue;
          std::perror("tcpecho_load: send");
          ++errors;
          return;
        }
        sent += static_cast<std::uint64_t>(n);
      }
    });
    threads.emplace_back([&, fd] {
      std::vector<char> buf(1 << 20);
      std::uint64_t got = 0;
      while (got < total) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0) {
          if (errno == EINTR) continue;
          std::perror("tcpecho_load: recv");
          ++errors;
          return;
        }
        if (n == 0) {
          std::fprintf(stderr, "tcpecho_load: the server closed a connection after %llu bytes\n",
                       static_cast<unsigned long long>(got));
          ++errors;
          return;
        }
        // Compare with the block, in as many pieces as the block's wrap-around needs.
        std::size_t checked = 0;
        while (checked < static_cast<std::size_t>(n)) {
          std::size_t off = static_cast<std::size_t>((got + checked) % block.size());
          std::size_t len = std::min(block.size() - off, static_cast<std::size_t>(n) - checked);
          if (std::memcmp(buf.data() + checked, block.data() + off, len) != 0) {
            std::fprintf(stderr, "tcpecho_load: the server echoed something else near byte %llu\n",
                         static_cast<unsigned long long>(got + checked));
            ++errors;
            return;
          }
          checked += len;
        }
        got += static_cast<std::uint64_t>(n);
      }
    });
  }
  for (auto& t : threads) t.join();
  double elapsed = now() - start;
  for (int fd : fds) ::close(fd);
  if (errors) return 1;
  double bytes = static_cast<double>(total) * connections;
  std::printf("bulk\t%.1f\t%.0f\t%.3f\n", bytes / elapsed / 1e6, bytes, elapsed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", mode;
  int port = 0, connections = -1;
  double seconds = 5;
  std::size_t size = 32, line = 65536;
  std::uint64_t bytes = 1ull << 30;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view name) { return std::string(a.substr(name.size())); };
    if (a.starts_with("--port=")) port = std::atoi(value("--port=").c_str());
    else if (a.starts_with("--host=")) host = value("--host=");
    else if (a.starts_with("--connections=")) connections = std::atoi(value("--connections=").c_str());
    else if (a.starts_with("--seconds=")) seconds = std::atof(value("--seconds=").c_str());
    else if (a.starts_with("--size=")) size = std::strtoull(value("--size=").c_str(), nullptr, 10);
    else if (a.starts_with("--line=")) line = std::strtoull(value("--line=").c_str(), nullptr, 10);
    else if (a.starts_with("--bytes=")) bytes = std::strtoull(value("--bytes=").c_str(), nullptr, 10);
    else if (a == "roundtrip" || a == "bulk") mode = std::string(a);
    else {
      std::fprintf(stderr,
                   "usage: %s --port=P [--host=H] roundtrip [--connections=N] [--seconds=S] [--size=B]\n"
                   "       %s --port=P [--host=H] bulk [--bytes=N] [--line=L] [--connections=C]\n",
                   argv[0], argv[0]);
      return 2;
    }
  }
  if (port <= 0 || mode.empty()) {
    std::fprintf(stderr, "tcpecho_load: --port and a mode (roundtrip, bulk) are required\n");
    return 2;
  }
  if (mode == "roundtrip") return roundtrip(host, port, connections < 0 ? 50 : connections, seconds, size);
  return bulk(host, port, connections < 0 ? 1 : connections, bytes, line);
}
