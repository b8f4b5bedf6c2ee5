// tornado.backend:common: the event bits and the event record shared by every backend.
module;
#include <cstdint>
export module tornado.backend:common;

export namespace tornado::backend {

/// A descriptor a poller watches: a file descriptor on POSIX.
using fd_t = int;

/// Interest and readiness bits, with Tornado's values (IOLoop.READ, WRITE, ERROR).
inline constexpr std::uint32_t NONE = 0;
inline constexpr std::uint32_t READ = 0x001;
inline constexpr std::uint32_t WRITE = 0x004;
/// Error or hang-up on the descriptor; always reported, whatever the interest.
inline constexpr std::uint32_t ERROR = 0x018;

/// One readiness report: which descriptor, and which of READ, WRITE, ERROR it is ready for.
struct Event {
  fd_t fd;
  std::uint32_t events;
};

}  // namespace tornado::backend
