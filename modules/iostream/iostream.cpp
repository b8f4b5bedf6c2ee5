module;
#include <boost/regex.hpp>

#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
module tornado.iostream;

import tornado.ioloop;
import tornado.log;
import tornado.netutil;
import tornado.util;

namespace tornado::iostream {

namespace {
constexpr std::size_t kDefaultMaxBuffer = 100 * 1024 * 1024;
constexpr std::size_t kDefaultChunk = 64 * 1024;
constexpr std::size_t kScratchSize = 64 * 1024;
// A buffer this big that empties is released, so that idle connections stay small.
constexpr std::size_t kKeepCapacity = 256 * 1024;
constexpr std::size_t kMaxIov = 64;
// Small writes are appended to the previous queued chunk up to this size, so a response written in
// pieces goes out in one system call without one iovec per piece.
constexpr std::size_t kCoalesceLimit = 16 * 1024;

std::exception_ptr errno_error(int e, const char* what) {
  return std::make_exception_ptr(std::system_error(e, std::generic_category(), what));
}

void mark_retrieved(const auto& future) { future.state()->mark_retrieved(); }

// Fills `iov` (kMaxIov entries) from the write hook's buffers. @returns how many it used.
std::size_t to_iovecs(const ConstBuffer* buffers, std::size_t count, iovec* iov) {
  count = std::min(count, kMaxIov);
  for (std::size_t i = 0; i < count; ++i) {
    iov[i].iov_base = const_cast<char*>(buffers[i].data);
    iov[i].iov_len = buffers[i].size;
  }
  return count;
}
}  // namespace

// The read buffer: [begin, end) holds unread data inside a block of `cap` bytes. Grows by
// doubling, compacts instead of growing when half of it is already consumed.
struct BaseIOStream::ReadBuffer {
  std::unique_ptr<char[]> data;
  std::size_t cap = 0, begin = 0, end = 0;

  std::size_t size() const noexcept { return end - begin; }
  char* head() noexcept { return data.get() + begin; }
  std::size_t tail_room() const noexcept { return cap - end; }

  char* prepare(std::size_t n) {
    if (tail_room() >= n) return data.get() + end;
    std::size_t sz = size();
    if (begin > 0 && cap >= sz + n && sz <= cap / 2) {
      std::memmove(data.get(), data.get() + begin, sz);
      begin = 0;
      end = sz;
      return data.get() + end;
    }
    std::size_t ncap = std::max(cap * 2, sz + n);
    auto nd = std::make_unique_for_overwrite<char[]>(ncap);
    if (sz) std::memcpy(nd.get(), data.get() + begin, sz);
    data = std::move(nd);
    cap = ncap;
    begin = 0;
    end = sz;
    return data.get() + end;
  }
  void commit(std::size_t n) noexcept { end += n; }
  void consume(std::size_t n) noexcept {
    begin += n;
    if (begin == end) {
      begin = end = 0;
      if (cap > kKeepCapacity) {
        data.reset();
        cap = 0;
      }
    }
  }
  std::string take(std::size_t n) {
    std::string s(head(), n);
    consume(n);
    return s;
  }
};

struct BaseIOStream::WriteChunk {
  std::string owned;
  std::shared_ptr<const std::string> shared;
  std::string_view view() const noexcept { return shared ? std::string_view(*shared) : std::string_view(owned); }
};

struct BaseIOStream::RegexHolder {
  boost::regex re;
  std::string pattern;
};

BaseIOStream::BaseIOStream(std::size_t max_buffer_size, std::size_t read_chunk_size, std::size_t max_write_buffer_size)
    : io_loop_(&IOLoop::current()),
      max_buffer_size_(max_buffer_size ? max_buffer_size : kDefaultMaxBuffer),
      // A chunk size too close to max_buffer_size can cause spurious failures (Tornado's note).
      read_chunk_size_(std::min(read_chunk_size ? read_chunk_size : kDefaultChunk, max_buffer_size_ / 2)),
      max_write_buffer_size_(max_write_buffer_size),
      rbuf_(std::make_unique<ReadBuffer>()) {
  if (read_chunk_size_ == 0) read_chunk_size_ = 1;
}

BaseIOStream::~BaseIOStream() = default;

std::size_t BaseIOStream::read_buffer_size() const noexcept { return rbuf_->size(); }

std::string_view BaseIOStream::read_buffer() const noexcept { return {rbuf_->head(), rbuf_->size()}; }

void BaseIOStream::consume(std::size_t n) noexcept { rbuf_->consume(std::min(n, rbuf_->size())); }

Future<void> BaseIOStream::read_more() {
  if (read_future_ || read_into_future_ || read_more_future_) {
    check_closed();
    throw std::logic_error("Already reading");
  }
  read_more_future_.emplace();
  auto f = *read_more_future_;
  read_kind_ = ReadKind::more;
  read_more_threshold_ = rbuf_->size();
  read_max_bytes_ = 0;
  run_inline_read();
  return f;
}

std::size_t BaseIOStream::current_size() const noexcept {
  return user_buf_.data() ? user_filled_ : rbuf_->size();
}

bool BaseIOStream::is_connreset(const std::exception_ptr& e) const {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& se) {
    int c = se.code().value();
    return se.code().category() == std::generic_category() &&
           (c == ECONNRESET || c == ECONNABORTED || c == EPIPE || c == ETIMEDOUT);
  } catch (...) {
    return false;
  }
}

void BaseIOStream::check_closed() const {
  if (closed_) throw StreamClosedError(error_);
}

// ---------------------------------------------------------------------------------------------
// Reads

Future<std::string> BaseIOStream::start_string_read() {
  // Our own pending read, not reading() (which subclasses widen, e.g. for a TLS handshake).
  if (read_future_ || read_into_future_ || read_more_future_) {
    check_closed();
    throw std::logic_error("Already reading");
  }
  read_future_.emplace();
  return *read_future_;
}

void BaseIOStream::run_inline_read() {
  try {
    try_inline_read();
  } catch (const UnsatisfiableReadError& e) {
    log::gen_log().info("Unsatisfiable read, closing connection: {}", e.what());
    close(std::current_exception());
  } catch (...) {
    // The pending read's future fails with StreamClosedError carrying this error.
    close(std::current_exception());
  }
}

Future<std::string> BaseIOStream::read_until(std::string_view delimiter, std::size_t max_bytes) {
  if (delimiter.empty()) throw std::invalid_argument("read_until: empty delimiter");
  auto f = start_string_read();
  read_kind_ = ReadKind::delimiter;
  read_delimiter_.assign(delimiter);
  read_max_bytes_ = max_bytes;
  scan_pos_ = 0;
  run_inline_read();
  return f;
}

Future<std::string> BaseIOStream::read_until_regex(std::string_view regex, std::size_t max_bytes) {
  auto holder = std::make_unique<RegexHolder>();
  try {
    holder->re.assign(regex.data(), regex.size(), boost::regex::perl);
  } catch (const boost::regex_error& e) {
    throw std::invalid_argument(std::string("read_until_regex: bad regex: ") + e.what());
  }
  holder->pattern.assign(regex);
  auto f = start_string_read();
  read_kind_ = ReadKind::regex;
  read_regex_ = std::move(holder);
  read_max_bytes_ = max_bytes;
  run_inline_read();
  return f;
}

Future<std::string> BaseIOStream::read_bytes(std::size_t num_bytes, bool partial) {
  auto f = start_string_read();
  read_kind_ = ReadKind::bytes;
  read_bytes_ = num_bytes;
  read_partial_ = partial;
  read_max_bytes_ = 0;
  run_inline_read();
  return f;
}

Future<std::size_t> BaseIOStream::read_into(std::span<char> buffer, bool partial) {
  // Our own pending read, not reading() (which subclasses widen, e.g. for a TLS handshake).
  if (read_future_ || read_into_future_ || read_more_future_) {
    check_closed();
    throw std::logic_error("Already reading");
  }
  read_into_future_.emplace();
  auto f = *read_into_future_;
  // First hand over what is buffered already; the rest is read straight into `buffer`.
  std::size_t n = buffer.size();
  std::size_t copied = std::min(n, rbuf_->size());
  if (copied) {
    std::memcpy(buffer.data(), rbuf_->head(), copied);
    rbuf_->consume(copied);
  }
  // A zero-length span still needs a non-null marker for "a user buffer is active".
  static char empty_marker;
  user_buf_ = buffer.data() ? buffer : std::span<char>(&empty_marker, 0);
  user_filled_ = copied;
  read_kind_ = ReadKind::bytes;
  read_bytes_ = n;
  read_partial_ = partial;
  read_max_bytes_ = 0;
  run_inline_read();
  return f;
}

Future<std::string> BaseIOStream::read_until_close() {
  auto f = start_string_read();
  if (closed_) {
    finish_read(rbuf_->size());
    return f;
  }
  read_kind_ = ReadKind::until_close;
  read_max_bytes_ = 0;
  try {
    try_inline_read();
  } catch (...) {
    // Closing the stream completed the read with what was buffered, as if the peer had closed;
    // but Tornado raises an error of the inline read from read_until_close itself, so report it
    // (through the future, as every read here does) rather than pass the data off as complete.
    close(std::current_exception());
    Future<std::string> failed;
    failed.set_exception(StreamClosedError(error_ ? error_ : std::current_exception()));
    mark_retrieved(failed);
    return failed;
  }
  return f;
}

void BaseIOStream::try_inline_read() {
  if (auto pos = find_read_pos()) {
    read_from_buffer(*pos);
    return;
  }
  check_closed();
  // The buffer cannot satisfy the read: before reading more from the peer (or waiting for it,
  // which may itself be waiting for them), send what write_deferred() held back.
  if (deferred_ && !connecting_) {
    handle_write();
    if (closed_) return;
    if (wants_write()) add_io_state(IOLoop::WRITE);
  }
  // The socket was empty at its last read and READ is still watched: what came since will be
  // reported by the poller, so skip the read that would most likely meet EAGAIN (one system call
  // per request or echoed line, which nginx does not make either).
  if (fd_drained_ && state_ && (*state_ & IOLoop::READ)) return;
  if (auto pos = read_to_buffer_loop()) {
    read_from_buffer(*pos);
    return;
  }
  if (!closed_) add_io_state(IOLoop::READ);
}

std::optional<std::size_t> BaseIOStream::read_to_buffer_loop() {
  // How much to read before looking for the delimiter again (Tornado's target_bytes): reading
  // past it would only fill the buffer.
  std::optional<std::size_t> target;
  if (read_kind_ == ReadKind::bytes) target = read_bytes_;
  else if (read_max_bytes_) target = read_max_bytes_;
  else if (reading()) target = std::nullopt;
  else target = 0;

  std::size_t next_find_pos = 0;
  while (!closed_) {
    if (read_to_buffer() == 0) break;
    if (target && current_size() >= *target) break;
    // Look again only once the buffer doubled: linear overall, even for regexes.
    if (current_size() >= next_find_pos) {
      if (auto pos = find_read_pos()) return pos;
      next_find_pos = current_size() * 2;
    }
  }
  return find_read_pos();
}

std::size_t BaseIOStream::read_to_buffer() {
  std::optional<std::size_t> n;
  try {
    if (user_buf_.data()) {
      if (user_filled_ >= user_buf_.size()) return 0;
      n = read_from_fd(user_buf_.data() + user_filled_, user_buf_.size() - user_filled_);
      if (n && *n) user_filled_ += *n;
    } else if (rbuf_->tail_room() >= read_chunk_size_ || read_chunk_size_ > kScratchSize) {
      char* dst = rbuf_->prepare(read_chunk_size_);
      n = read_from_fd(dst, read_chunk_size_);
      if (n) rbuf_->commit(*n);
    } else {
      // Read through a per-thread scratch block and keep only what arrived: a connection that
      // receives small requests never holds a 64 KiB buffer of its own.
      static thread_local std::unique_ptr<char[]> scratch = std::make_unique_for_overwrite<char[]>(kScratchSize);
      n = read_from_fd(scratch.get(), read_chunk_size_);
      if (n && *n) {
        std::memcpy(rbuf_->prepare(*n), scratch.get(), *n);
        rbuf_->commit(*n);
      }
    }
  } catch (...) {
    auto e = std::current_exception();
    close(e);
    if (is_connreset(e)) return 0;
    throw;
  }
  if (!n) return 0;  // would block
  if (*n == 0) {     // end of stream
    close();
    return 0;
  }
  if (current_size() > max_buffer_size_) {
    log::gen_log().error("Reached maximum read buffer size");
    close();
    throw StreamBufferFullError("Reached maximum read buffer size");
  }
  return *n;
}

void BaseIOStream::check_max_bytes(std::size_t size) {
  if (read_max_bytes_ && size > read_max_bytes_) {
    std::string what = read_kind_ == ReadKind::regex ? read_regex_->pattern : read_delimiter_;
    throw UnsatisfiableReadError("delimiter '" + what + "' not found within " + std::to_string(read_max_bytes_) + " bytes");
  }
}

std::optional<std::size_t> BaseIOStream::find_read_pos() {
  std::size_t size = current_size();
  switch (read_kind_) {
    case ReadKind::bytes:
      if (size >= read_bytes_ || (read_partial_ && size > 0)) return std::min(read_bytes_, size);
      break;
    case ReadKind::delimiter:
      if (size) {
        std::string_view data(rbuf_->head(), size);
        auto loc = data.find(read_delimiter_, scan_pos_);
        if (loc != std::string_view::npos) {
          check_max_bytes(loc + read_delimiter_.size());
          return loc + read_delimiter_.size();
        }
        // Next time, search only the new data (and the tail that may hold a split delimiter).
        scan_pos_ = size >= read_delimiter_.size() ? size - read_delimiter_.size() + 1 : 0;
        check_max_bytes(size);
      }
      break;
    case ReadKind::more:
      if (size > read_more_threshold_) return 0;
      break;
    case ReadKind::regex:
      if (size) {
        boost::cmatch m;
        const char* b = rbuf_->head();
        if (boost::regex_search(b, b + size, m, read_regex_->re)) {
          std::size_t end = static_cast<std::size_t>(m[0].second - b);
          check_max_bytes(end);
          return end;
        }
        check_max_bytes(size);
      }
      break;
    default:
      break;
  }
  return std::nullopt;
}

void BaseIOStream::read_from_buffer(std::size_t pos) {
  read_kind_ = ReadKind::none;
  read_partial_ = false;
  read_regex_.reset();
  finish_read(pos);
}

void BaseIOStream::finish_read(std::size_t size) {
  read_kind_ = ReadKind::none;
  if (read_more_future_) {
    // read_more consumes nothing: the caller parses the buffer in place.
    auto f = std::move(*read_more_future_);
    read_more_future_.reset();
    future_set_result_unless_cancelled(f);
  } else if (user_buf_.data()) {
    user_buf_ = {};
    user_filled_ = 0;
    if (read_into_future_) {
      auto f = std::move(*read_into_future_);
      read_into_future_.reset();
      future_set_result_unless_cancelled(f, size);
    }
  } else {
    std::string result = size ? rbuf_->take(size) : std::string();
    if (read_future_) {
      auto f = std::move(*read_future_);
      read_future_.reset();
      future_set_result_unless_cancelled(f, std::move(result));
    }
  }
  maybe_add_error_listener();
}

void BaseIOStream::handle_read() {
  std::optional<std::size_t> pos;
  try {
    pos = read_to_buffer_loop();
  } catch (const UnsatisfiableReadError&) {
    throw;
  } catch (...) {
    log::gen_log().warning("error on read: {}", describe_exception(std::current_exception()));
    close(std::current_exception());
    return;
  }
  if (pos) read_from_buffer(*pos);
}

// ---------------------------------------------------------------------------------------------
// Writes

Future<void> BaseIOStream::write(std::string&& data) {
  std::size_t n = data.size();
  return enqueue_write(WriteChunk{std::move(data), nullptr}, n);
}

Future<void> BaseIOStream::write(std::string_view data) {
  check_closed();
  auto& q = wbuf_;
  // Coalesce a small write into the last queued chunk rather than queueing another iovec.
  if (!data.empty() && !q.empty() && !q.back().shared && q.back().owned.size() + data.size() <= kCoalesceLimit &&
      (q.size() > 1 || wbuf_first_offset_ == 0)) {
    if (max_write_buffer_size_ && write_buffer_size_ + data.size() > max_write_buffer_size_)
      throw StreamBufferFullError("Reached maximum write buffer size");
    q.back().owned.append(data);
    write_buffer_size_ += data.size();
    total_write_index_ += data.size();
    return enqueue_write(WriteChunk{}, 0);
  }
  return enqueue_write(WriteChunk{std::string(data), nullptr}, data.size());
}

void BaseIOStream::write_deferred(std::string_view data) {
  check_closed();
  if (data.empty()) return;
  if (max_write_buffer_size_ && write_buffer_size_ + data.size() > max_write_buffer_size_)
    throw StreamBufferFullError("Reached maximum write buffer size");
  auto& q = wbuf_;
  // Coalesced as write(string_view) does: a batch of small answers becomes one iovec.
  if (!q.empty() && !q.back().shared && q.back().owned.size() + data.size() <= kCoalesceLimit &&
      (q.size() > 1 || wbuf_first_offset_ == 0)) {
    q.back().owned.append(data);
  } else {
    q.push_back(WriteChunk{std::string(data), nullptr});
  }
  write_buffer_size_ += data.size();
  total_write_index_ += data.size();
  deferred_ = true;
  // A read already waiting for the peer will not flush it: send now.
  if (reading() && !connecting_) {
    handle_write();
    if (!closed_ && wants_write()) add_io_state(IOLoop::WRITE);
  }
}

Future<void> BaseIOStream::flush() { return enqueue_write(WriteChunk{}, 0); }

Future<void> BaseIOStream::write(std::shared_ptr<const std::string> data) {
  std::size_t n = data ? data->size() : 0;
  return enqueue_write(WriteChunk{{}, std::move(data)}, n);
}

Future<void> BaseIOStream::enqueue_write(WriteChunk chunk, std::size_t size) {
  check_closed();
  if (size) {
    if (max_write_buffer_size_ && write_buffer_size_ + size > max_write_buffer_size_)
      throw StreamBufferFullError("Reached maximum write buffer size");
    wbuf_.push_back(std::move(chunk));
    write_buffer_size_ += size;
    total_write_index_ += size;
  }
  Future<void> future;
  // A failed write is reported through this future; if nobody looks, it is not worth a log line
  // (the close callback and reads report the same failure). Tornado silences it the same way.
  mark_retrieved(future);
  write_futures_.emplace_back(total_write_index_, future);
  if (!connecting_) {
    handle_write();
    if (wants_write()) add_io_state(IOLoop::WRITE);
    maybe_add_error_listener();
  }
  return future;
}

void BaseIOStream::handle_write() {
  auto& q = wbuf_;
  deferred_ = false;
  while (write_buffer_size_ > 0) {
    ConstBuffer bufs[kMaxIov];
    std::size_t count = 0;
    std::size_t offset = wbuf_first_offset_;
    for (auto it = q.begin(); it != q.end() && count < kMaxIov; ++it) {
      auto v = it->view();
      bufs[count++] = ConstBuffer{v.data() + offset, v.size() - offset};
      offset = 0;
    }
    std::size_t n;
    try {
      n = write_to_fd(bufs, count);
    } catch (...) {
      auto e = std::current_exception();
      if (!is_connreset(e)) log::gen_log().warning("Write error on {}: {}", fileno(), describe_exception(e));
      close(e);
      return;
    }
    if (n == 0) break;
    write_buffer_size_ -= n;
    total_write_done_index_ += n;
    // Drop the chunks fully written; remember how far into the first one we got.
    while (n > 0) {
      std::size_t left = q.front().view().size() - wbuf_first_offset_;
      if (n >= left) {
        n -= left;
        q.front() = WriteChunk{};  // release the data now, not when the slot is reused
        q.pop_front();
        wbuf_first_offset_ = 0;
      } else {
        wbuf_first_offset_ += n;
        n = 0;
      }
    }
  }
  while (!write_futures_.empty() && write_futures_.front().first <= total_write_done_index_) {
    auto f = std::move(write_futures_.front().second);
    write_futures_.pop_front();
    future_set_result_unless_cancelled(f);
  }
}

// ---------------------------------------------------------------------------------------------
// Events and closing

void BaseIOStream::set_close_callback(util::Callback callback) {
  close_callback_ = std::move(callback);
  maybe_add_error_listener();
}

void BaseIOStream::maybe_add_error_listener() {
  // To notice a peer closing an idle connection we must watch for reads; but only when nothing is
  // buffered (else the close callback would not run yet anyway) and somebody wants to know.
  if (!state_ || *state_ == IOLoop::ERROR) {
    if (!closed_ && current_size() == 0 && close_callback_) add_io_state(IOLoop::READ);
  }
}

void BaseIOStream::add_io_state(std::uint32_t events) {
  if (closed_) return;
  if (!state_) {
    state_ = IOLoop::ERROR | events;
    io_loop_->add_handler(fileno(), [this](int fd, std::uint32_t ev) { handle_events(fd, ev); }, *state_);
  } else if (!(*state_ & events)) {
    state_ = *state_ | events;
    io_loop_->update_handler(fileno(), *state_);
  }
}

void BaseIOStream::release_fd_for_handover() {
  if (state_) {
    io_loop_->remove_handler(fileno());
    state_.reset();
  }
}

void BaseIOStream::handle_events(int fd, std::uint32_t events) {
  if (closed_) {
    log::gen_log().warning("Got events for closed stream {}", fd);
    return;
  }
  fd_drained_ = false;
  try {
    if (connecting_) handle_connect();
    if (closed_) return;
    // An error or a hang-up is no event of its own in Tornado 6: asyncio reports the descriptor
    // readable and writable, so whichever side is waiting reads or writes, and meets what the
    // kernel (or OpenSSL) still buffers first, then the end of the stream or the error, which
    // closes the stream. Closing at once, as Tornado 5 did, would drop that data: the rest of a
    // pipe whose writer exited, a request from a TLS 1.3 client whose close became a reset.
    const bool error_or_hangup = (events & IOLoop::ERROR) != 0;
    std::uint32_t ready = events;
    if (error_or_hangup && state_) ready |= *state_ & (IOLoop::READ | IOLoop::WRITE);
    // READ stays watched while data is buffered and no read is pending (see below), where
    // Tornado stops watching it. Data it reports then stays in the kernel, as if READ had been
    // dropped: nothing is read ahead of the next read call, and READ is dropped now.
    const bool read_ahead = (ready & IOLoop::READ) && !reading() && current_size() > 0;
    if (read_ahead) ready &= ~IOLoop::READ;
    if (ready & IOLoop::READ) handle_read();
    if (closed_) return;
    if (ready & IOLoop::WRITE) handle_write();
    if (closed_) return;
    std::uint32_t state = IOLoop::ERROR;
    if (reading()) state |= IOLoop::READ;
    if (wants_write()) state |= IOLoop::WRITE;
    // Idle: listen for reads too, to notice the peer closing.
    if (state == IOLoop::ERROR && current_size() == 0) state |= IOLoop::READ;
    // Keep watching READ, rather than drop it because data is now buffered and add it back when
    // the next read starts: that read usually comes before any more data (a request is answered,
    // then the next one awaited), and the two epoll_ctl calls per message are saved. Should data
    // come first, the check above drops READ then.
    if (!read_ahead && !error_or_hangup && state_ && (*state_ & IOLoop::READ)) state |= IOLoop::READ;
    if (error_or_hangup && state == IOLoop::ERROR) {
      // Nothing is wanted from a descriptor the poller will report on every poll (errors and
      // hang-ups cannot be masked): stop watching it, as asyncio's remove_reader does. The next
      // read or write registers it again, and then meets the data, the end or the error at once.
      if (state_) {
        io_loop_->remove_handler(fileno());
        state_.reset();
      }
      return;
    }
    if (state_ && state != *state_) {
      state_ = state;
      io_loop_->update_handler(fileno(), state);
    }
  } catch (const UnsatisfiableReadError& e) {
    log::gen_log().info("Unsatisfiable read, closing connection: {}", e.what());
    close(std::current_exception());
  } catch (...) {
    log::gen_log().log_exception(log::Level::ERROR, std::current_exception(), "Uncaught exception, closing connection.");
    close(std::current_exception());
  }
}

void BaseIOStream::close(std::exception_ptr error) {
  if (!closed_ && deferred_ && !connecting_ && !error) {
    // What write_deferred() held back was accepted for sending (an HTTP answer waiting to join the
    // next pipelined one): Tornado would have sent it already, so closing must not drop it. Send
    // what the socket takes now. (handle_write clears deferred_ and may itself close the stream.)
    handle_write();
    if (closed_) return;
  }
  if (!closed_) {
    if (error) error_ = std::move(error);
    if (read_kind_ == ReadKind::until_close) {
      read_kind_ = ReadKind::none;
      finish_read(rbuf_->size());
    } else if (reading()) {
      // Deliver what is buffered if it satisfies the pending read.
      try {
        if (auto pos = find_read_pos()) read_from_buffer(*pos);
      } catch (const UnsatisfiableReadError&) {
      }
    }
    if (state_) {
      io_loop_->remove_handler(fileno());
      state_.reset();
    }
    close_fd();
    closed_ = true;
  }
  signal_closed();
}

void BaseIOStream::signal_closed() {
  auto fail = [this](auto& future) {
    if (!future.done()) future.set_exception(StreamClosedError(error_));
    mark_retrieved(future);
  };
  if (read_future_) {
    auto f = std::move(*read_future_);
    read_future_.reset();
    fail(f);
  }
  if (read_into_future_) {
    auto f = std::move(*read_into_future_);
    read_into_future_.reset();
    user_buf_ = {};
    user_filled_ = 0;
    fail(f);
  }
  if (read_more_future_) {
    auto f = std::move(*read_more_future_);
    read_more_future_.reset();
    fail(f);
  }
  read_kind_ = ReadKind::none;
  auto writes = std::move(write_futures_);
  write_futures_.clear();
  for (auto& [index, f] : writes) fail(f);
  if (connect_future_) {
    auto f = std::move(*connect_future_);
    connect_future_.reset();
    fail(f);
  }
  signal_closed_extra();
  if (close_callback_) {
    auto cb = std::move(close_callback_);
    close_callback_ = nullptr;
    io_loop_->add_callback(std::move(cb));
  }
  wbuf_.clear();
  write_buffer_size_ = 0;
  wbuf_first_offset_ = 0;
}

// ---------------------------------------------------------------------------------------------
// IOStream

IOStream::IOStream(int socket, std::size_t max_buffer_size, std::size_t read_chunk_size, std::size_t max_write_buffer_size)
    : BaseIOStream(max_buffer_size, read_chunk_size, max_write_buffer_size), fd_(socket) {
  if (fd_ >= 0) netutil::set_nonblocking(fd_);
}

IOStream::~IOStream() { close(); }

void IOStream::close_fd() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::optional<std::size_t> IOStream::read_from_fd(char* buf, std::size_t size) {
  for (;;) {
    ssize_t n = ::recv(fd_, buf, size, 0);
    if (n >= 0) {
      // A stream socket's recv returns less than asked only when its receive queue ran out.
      fd_drained_ = n > 0 && static_cast<std::size_t>(n) < size;
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      fd_drained_ = true;
      return std::nullopt;
    }
    throw std::system_error(errno, std::generic_category(), "recv");
  }
}

std::size_t IOStream::write_to_fd(const ConstBuffer* buffers, std::size_t count) {
  iovec iov[kMaxIov];
  count = to_iovecs(buffers, count, iov);
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  for (;;) {
    // MSG_NOSIGNAL: a peer that went away gives EPIPE here, not a process-killing SIGPIPE.
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    throw std::system_error(errno, std::generic_category(), "send");
  }
}

std::exception_ptr IOStream::get_fd_error() {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0) return nullptr;
  return errno_error(err, "socket error");
}

void IOStream::set_nodelay(bool value) {
  if (fd_ < 0 || closed()) return;
  int v = value ? 1 : 0;
  // Not every socket is TCP (Unix sockets refuse the option): ignore failures, as Tornado does
  // for EINVAL.
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
}

netutil::SocketAddress IOStream::peer_address() const {
  netutil::SocketAddress a;
  socklen_t len = netutil::SocketAddress::capacity();
  if (fd_ >= 0 && ::getpeername(fd_, static_cast<sockaddr*>(a.data()), &len) == 0) a.set_size(len);
  return a;
}

Future<void> IOStream::connect(const netutil::SocketAddress& address) {
  connecting_ = true;
  Future<void> f;
  connect_future_ = f;
  if (closed()) {
    close();
    return f;
  }
  int rc;
  do {
    rc = ::connect(fd_, static_cast<const sockaddr*>(address.data()), address.size());
  } while (rc < 0 && errno == EINTR);
  if (rc < 0 && errno != EINPROGRESS && errno != EWOULDBLOCK && errno != EAGAIN) {
    // Refused at once (a Unix socket with no listener, a bad address): fail through the future,
    // which reports it; Tornado logs "Connect error" only when there is no future to fail.
    close(errno_error(errno, "connect"));
    return f;
  }
  add_io_state(IOLoop::WRITE);
  return f;
}

void IOStream::handle_connect() {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno == ENOPROTOOPT ? 0 : errno;
  if (err != 0) {
    error_ = errno_error(err, "connect");
    if (!connect_future_) log::gen_log().warning("Connect error on fd {}: {}", fd_, std::strerror(err));
    close();
    return;
  }
  connecting_ = false;
  if (connect_future_) {
    auto f = std::move(*connect_future_);
    connect_future_.reset();
    future_set_result_unless_cancelled(f);
  }
}

int IOStream::detach_fd() {
  release_fd_for_handover();
  int fd = std::exchange(fd_, -1);
  close();
  return fd;
}

// ---------------------------------------------------------------------------------------------
// PipeIOStream

PipeIOStream::PipeIOStream(int fd, std::size_t max_buffer_size, std::size_t read_chunk_size, std::size_t max_write_buffer_size)
    : BaseIOStream(max_buffer_size, read_chunk_size, max_write_buffer_size), fd_(fd) {
  netutil::set_nonblocking(fd_);
  // Pipes have no MSG_NOSIGNAL: writing to one whose reader is gone must give EPIPE, not kill the
  // process. Python ignores SIGPIPE at startup for the same reason.
  static const bool sigpipe_ignored = [] {
    struct sigaction sa {};
    if (::sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;
}

PipeIOStream::~PipeIOStream() { close(); }

void PipeIOStream::close_fd() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::optional<std::size_t> PipeIOStream::read_from_fd(char* buf, std::size_t size) {
  for (;;) {
    ssize_t n = ::read(fd_, buf, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
    // EBADF (the write end, read when its reader went away) closes quietly: see is_connreset.
    throw std::system_error(errno, std::generic_category(), "read");
  }
}

bool PipeIOStream::is_connreset(const std::exception_ptr& e) const {
  if (BaseIOStream::is_connreset(e)) return true;
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& se) {
    return se.code().category() == std::generic_category() && se.code().value() == EBADF;
  } catch (...) {
    return false;
  }
}

std::size_t PipeIOStream::write_to_fd(const ConstBuffer* buffers, std::size_t count) {
  iovec iov[kMaxIov];
  count = to_iovecs(buffers, count, iov);
  for (;;) {
    ssize_t n = ::writev(fd_, iov, static_cast<int>(count));
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    throw std::system_error(errno, std::generic_category(), "write");
  }
}

}  // namespace tornado::iostream
