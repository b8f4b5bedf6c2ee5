module;
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>
module tornado.netutil;

import tornado.ioloop;
import tornado.log;

namespace tornado::netutil {

namespace {
[[noreturn]] void throw_errno(int e, const std::string& what) { throw std::system_error(e, std::generic_category(), what); }
}  // namespace

int af_unspec() noexcept { return AF_UNSPEC; }
int af_inet() noexcept { return AF_INET; }
int af_inet6() noexcept { return AF_INET6; }
int af_unix() noexcept { return AF_UNIX; }

static_assert(sizeof(sockaddr_storage) <= 128);

SocketAddress::SocketAddress(std::string_view ip, std::uint16_t port) {
  std::string s(ip);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  sockaddr_in v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    std::memcpy(storage_, &v4, sizeof v4);
    len_ = sizeof v4;
    return;
  }
  sockaddr_in6 v6{};
  std::string addr = s, scope;
  if (auto pct = s.find('%'); pct != std::string::npos) {
    addr = s.substr(0, pct);
    scope = s.substr(pct + 1);
  }
  if (::inet_pton(AF_INET6, addr.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    if (!scope.empty()) v6.sin6_scope_id = std::strtoul(scope.c_str(), nullptr, 10);
    std::memcpy(storage_, &v6, sizeof v6);
    len_ = sizeof v6;
    return;
  }
  throw std::invalid_argument("not a numeric IP address: " + s);
}

SocketAddress SocketAddress::unix_path(std::string_view path) {
  sockaddr_un un{};
  if (path.size() >= sizeof un.sun_path) throw std::invalid_argument("unix socket path too long");
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  SocketAddress a;
  std::memcpy(a.storage_, &un, sizeof un);
  a.len_ = static_cast<std::uint32_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

SocketAddress SocketAddress::from_sockaddr(const void* sa, std::size_t len) {
  SocketAddress a;
  if (len > sizeof a.storage_) len = sizeof a.storage_;
  std::memcpy(a.storage_, sa, len);
  a.len_ = static_cast<std::uint32_t>(len);
  return a;
}

int SocketAddress::family() const noexcept {
  if (len_ < sizeof(sa_family_t)) return AF_UNSPEC;
  return reinterpret_cast<const sockaddr*>(storage_)->sa_family;
}

std::string SocketAddress::host() const {
  char buf[INET6_ADDRSTRLEN + 16] = {};
  switch (family()) {
    case AF_INET:
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(storage_)->sin_addr, buf, sizeof buf);
      return buf;
    case AF_INET6: {
      auto* v6 = reinterpret_cast<const sockaddr_in6*>(storage_);
      ::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
      std::string h = buf;
      if (v6->sin6_scope_id) h += "%" + std::to_string(v6->sin6_scope_id);
      return h;
    }
    case AF_UNIX: {
      auto* un = reinterpret_cast<const sockaddr_un*>(storage_);
      std::size_t n = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
      return std::string(un->sun_path, ::strnlen(un->sun_path, n));
    }
    default: return {};
  }
}

std::uint16_t SocketAddress::port() const noexcept {
  switch (family()) {
    case AF_INET: return ntohs(reinterpret_cast<const sockaddr_in*>(storage_)->sin_port);
    case AF_INET6: return ntohs(reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_port);
    default: return 0;
  }
}

std::string SocketAddress::to_string() const {
  switch (family()) {
    case AF_INET: return host() + ":" + std::to_string(port());
    case AF_INET6: return "[" + host() + "]:" + std::to_string(port());
    default: return host();
  }
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(a.storage_, b.storage_, a.len_) == 0;
}

bool is_valid_ip(std::string_view ip) noexcept {
  if (ip.empty() || ip.find('\0') != std::string_view::npos) return false;
  // getaddrinfo with AI_NUMERICHOST, as Tornado does, accepts exactly the numeric forms.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  std::string s(ip);
  int rc = ::getaddrinfo(s.c_str(), nullptr, &hints, &res);
  if (res) ::freeaddrinfo(res);
  return rc == 0;
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_errno(errno, "fcntl(O_NONBLOCK)");
}

void set_close_exec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) throw_errno(errno, "fcntl(FD_CLOEXEC)");
}

SocketAddress get_sock_name(int fd) {
  SocketAddress a;
  socklen_t len = SocketAddress::capacity();
  if (::getsockname(fd, static_cast<sockaddr*>(a.data()), &len) < 0) throw_errno(errno, "getsockname");
  a.set_size(len);
  return a;
}

std::vector<int> bind_sockets(std::uint16_t port, std::string_view address, int family, int backlog,
                              bool reuse_port) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  std::string host(address);
  std::string port_s = std::to_string(port);
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port_s.c_str(), &hints, &res);
  if (rc != 0) throw std::system_error(EINVAL, std::generic_category(), std::string("getaddrinfo: ") + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);

  std::vector<int> sockets;
  std::vector<SocketAddress> bound;
  std::uint16_t bound_port = 0;
  auto fail = [&](int e, const std::string& what) {
    for (int fd : sockets) ::close(fd);
    throw_errno(e, what);
  };
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    auto addr = SocketAddress::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    // getaddrinfo can list one address twice (seen with "localhost" in /etc/hosts).
    bool dup = false;
    for (auto& b : bound) dup = dup || (b.host() == addr.host() && b.family() == addr.family());
    if (dup) continue;
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      // An IPv6 address on a host without IPv6 support: skip it, as Tornado does.
      if (errno == EAFNOSUPPORT) continue;
      fail(errno, "socket");
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
      int e = errno;
      ::close(fd);
      fail(e, "setsockopt(SO_REUSEPORT)");
    }
    if (ai->ai_family == AF_INET6) {
      // On Linux an IPv6 socket also takes IPv4 unless told not to, which would clash with the
      // IPv4 socket bound next to it.
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (port == 0 && bound_port != 0) {
      // Port 0: give every socket the port the kernel picked for the first one.
      if (ai->ai_family == AF_INET) reinterpret_cast<sockaddr_in*>(addr.data())->sin_port = htons(bound_port);
      else if (ai->ai_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(addr.data())->sin6_port = htons(bound_port);
    }
    if (::bind(fd, static_cast<const sockaddr*>(addr.data()), addr.size()) < 0) {
      int e = errno;
      ::close(fd);
      // A link-local or otherwise unassignable IPv6 address is not fatal when IPv4 works.
      if (e == EADDRNOTAVAIL && ai->ai_family == AF_INET6 && host.empty()) continue;
      fail(e, "bind " + addr.to_string());
    }
    if (::listen(fd, backlog) < 0) {
      int e = errno;
      ::close(fd);
      fail(e, "listen");
    }
    if (port == 0 && bound_port == 0) bound_port = get_sock_name(fd).port();
    sockets.push_back(fd);
    bound.push_back(addr);
  }
  if (sockets.empty()) throw_errno(EADDRNOTAVAIL, "bind_sockets: no usable address for '" + host + "'");
  return sockets;
}

int bind_unix_socket(const std::string& file, unsigned mode, int backlog) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno, "socket(AF_UNIX)");
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      ::close(fd);
      throw std::invalid_argument("File " + file + " exists and is not a socket");
    }
    ::unlink(file.c_str());
  }
  auto addr = SocketAddress::unix_path(file);
  if (::bind(fd, static_cast<const sockaddr*>(addr.data()), addr.size()) < 0) {
    int e = errno;
    ::close(fd);
    throw_errno(e, "bind " + file);
  }
  ::chmod(file.c_str(), mode);
  if (::listen(fd, backlog) < 0) {
    int e = errno;
    ::close(fd);
    throw_errno(e, "listen " + file);
  }
  return fd;
}

std::function<void()> add_accept_handler(int fd, std::function<void(int, SocketAddress)> callback, int backlog) {
  auto& loop = IOLoop::current();
  // Shared so that the remover and the handler agree on whether accepting stopped, even when the
  // remover is called from inside the callback.
  auto removed = std::make_shared<bool>(false);
  loop.add_handler(
      fd,
      [fd, backlog, removed, cb = std::move(callback)](int, std::uint32_t) {
        // Accept up to `backlog` connections per event: more would starve other handlers, fewer
        // would waste wake-ups. Tornado does the same.
        for (int i = 0; i < backlog; ++i) {
          if (*removed) return;
          SocketAddress addr;
          socklen_t len = SocketAddress::capacity();
          int conn = ::accept4(fd, static_cast<sockaddr*>(addr.data()), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (conn < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            // The peer gave up between SYN and accept: nothing to do.
            if (errno == ECONNABORTED || errno == EINTR) continue;
            // EMFILE and friends: log, and let the next event retry rather than spinning now.
            log::app_log().error("accept failed on fd {}: {}", fd, std::strerror(errno));
            return;
          }
          addr.set_size(len);
          cb(conn, addr);
        }
      },
      IOLoop::READ);
  return [&loop, fd, removed] {
    if (*removed) return;
    *removed = true;
    loop.remove_handler(fd);
  };
}

// ---------------------------------------------------------------------------------------------
// Name resolution

namespace {

// "[Errno -2] Name or service not known", as Python prints a socket.gaierror, and what was asked.
std::string resolve_error_message(int rc, int saved_errno, const std::string& host, std::uint16_t port) {
  std::string text = rc == EAI_SYSTEM ? std::strerror(saved_errno) : ::gai_strerror(rc);
  return "[Errno " + std::to_string(rc) + "] " + text + " (resolving '" + host + "' port " + std::to_string(port) + ")";
}

// getaddrinfo, blocking: Tornado's _resolve_addr. SOCK_STREAM keeps one entry per address (and
// is needed on some systems for a numeric port to be accepted at all).
std::vector<ResolvedAddress> resolve_addr(const std::string& host, std::uint16_t port, int family, bool numeric_only) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = numeric_only ? AI_NUMERICHOST : 0;
  std::string port_s = std::to_string(port);
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), port_s.c_str(), &hints, &res);
  if (rc != 0) throw ResolveError(rc, resolve_error_message(rc, errno, host, port));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);
  std::vector<ResolvedAddress> out;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    out.emplace_back(ai->ai_family, SocketAddress::from_sockaddr(ai->ai_addr, ai->ai_addrlen));
  }
  return out;
}

}  // namespace

Future<std::vector<ResolvedAddress>> DefaultExecutorResolver::resolve(std::string host, std::uint16_t port, int family) {
  // Answers that need no lookup are given inline: no thread, and the future is already done.
  bool inline_answer = family == AF_UNIX || is_valid_ip(host);
  if (inline_answer) {
    Future<std::vector<ResolvedAddress>> f;
    try {
      if (family == AF_UNIX) {
        f.set_result(std::vector<ResolvedAddress>{{AF_UNIX, SocketAddress::unix_path(host)}});
      } else {
        f.set_result(resolve_addr(host, port, family, true));
      }
    } catch (...) {
      f.set_exception(std::current_exception());
    }
    return f;
  }
  return IOLoop::current().run_in_executor(nullptr, [host = std::move(host), port, family] {
    return resolve_addr(host, port, family, false);
  });
}

std::uint16_t OverrideResolver::checked_port(int port) {
  if (port < 0 || port > 65535) throw std::invalid_argument("port out of range: " + std::to_string(port));
  return static_cast<std::uint16_t>(port);
}

OverrideResolver::Target OverrideResolver::Target::unix_socket(std::string path) {
  Target t(std::move(path));
  t.family = AF_UNIX;
  return t;
}

OverrideResolver::OverrideResolver(std::shared_ptr<Resolver> resolver, Mapping mapping)
    : resolver_(std::move(resolver)), mapping_(std::move(mapping)) {
  if (!resolver_) throw std::invalid_argument("OverrideResolver needs a resolver to wrap");
}

Future<std::vector<ResolvedAddress>> OverrideResolver::resolve(std::string host, std::uint16_t port, int family) {
  // Most specific first, as Tornado checks (host, port, family), then (host, port), then host.
  const Target* target = nullptr;
  if (auto it = mapping_.find(Key(host, port, family)); it != mapping_.end()) target = &it->second;
  else if (auto it2 = mapping_.find(Key(host, port)); it2 != mapping_.end()) target = &it2->second;
  else if (auto it3 = mapping_.find(Key(host)); it3 != mapping_.end()) target = &it3->second;
  if (target) {
    host = target->host;
    if (target->port) port = *target->port;
    if (target->family) family = *target->family;
  }
  return resolver_->resolve(std::move(host), port, family);
}

void OverrideResolver::close() { resolver_->close(); }

}  // namespace tornado::netutil
