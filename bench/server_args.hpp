// The command line every benchmark server takes: --port=N and --address=IP. Shared by
// bench/http_hello.cpp, techempower.cpp, beast_server.cpp and echo_blocking.cpp.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace bench {

struct ServerArgs {
  int port;             ///< 0: any free port
  std::string address;  ///< the address to bind
};

/// Parses --port=N and --address=IP (default 127.0.0.1). On anything else prints a usage line
/// naming the program and returns nullopt (the caller exits with status 2).
inline std::optional<ServerArgs> parse_server_args(int argc, char** argv, int default_port) {
  ServerArgs args{default_port, "127.0.0.1"};
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("--port=")) {
      args.port = std::atoi(argv[i] + 7);
    } else if (a.starts_with("--address=")) {
      args.address = argv[i] + 10;
    } else {
      std::fprintf(stderr, "usage: %s [--port=%d] [--address=127.0.0.1]\n", argv[0], default_port);
      return std::nullopt;
    }
  }
  return args;
}

}  // namespace bench
