module;
#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <ctime>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>
module tornado.httputil;

import tornado.escape;

namespace tornado::httputil {

namespace {
bool is_tchar(unsigned char c) {
  // RFC 9110 5.6.2: token = 1*tchar
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// ASCII case mapping, inline: header names are ASCII tokens, and std::tolower/toupper are calls
// into the C library (through the locale) that showed in profiles of every header lookup.
constexpr unsigned char ascii_lower(unsigned char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c;
}
constexpr unsigned char ascii_upper(unsigned char c) noexcept {
  return c >= 'a' && c <= 'z' ? static_cast<unsigned char>(c - 32) : c;
}

bool ieq(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  // Names are usually asked for as they are stored (Http-Header-Case): one memcmp settles it.
  if (a == b) return true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(static_cast<unsigned char>(a[i])) != ascii_lower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string_view trim(std::string_view s, std::string_view chars = " \t\r\n\f\v") {
  auto b = s.find_first_not_of(chars);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(chars);
  return s.substr(b, e - b + 1);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(ascii_lower(static_cast<unsigned char>(c)));
  return out;
}

// Where the port of `netloc` starts (after its colon), or npos: Tornado's ^(.+):(\d+)$, with at
// most 9 digits so that the port fits an int.
std::size_t port_start(std::string_view netloc) {
  // The digits are scanned from the end: a port is at most 9 of them, then the colon.
  std::size_t i = netloc.size();
  while (i > 0 && netloc.size() - i < 10 && netloc[i - 1] >= '0' && netloc[i - 1] <= '9') --i;
  std::size_t digits = netloc.size() - i;
  if (digits == 0 || digits > 9 || i < 2 || netloc[i - 1] != ':') return std::string_view::npos;
  return i;
}

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::mutex& config_mutex() {
  static std::mutex m;
  return m;
}
ParseBodyConfig& global_config() {
  static ParseBodyConfig c;
  return c;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Headers

namespace {
// Puts `name` in Http-Header-Case in place. Most names arrive already so (clients and handlers
// write "Content-Type"), so the usual case rewrites each byte with itself.
// Http-Header-Case for 8 bytes at a time (SWAR): lower-case every ASCII letter, then upper-case
// each letter that starts a word (the first byte of the name, or one after '-'). `word_start`
// has 0x80 in byte 0 when the first of these 8 bytes starts a word. Bytes other than letters are
// left as they are, so a name that is not a token comes out as the byte loop would make it.
constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
// 0x80 in each byte of x that is an ASCII byte in [lo, hi].
constexpr std::uint64_t bytes_in_range(std::uint64_t x, unsigned char lo, unsigned char hi) noexcept {
  std::uint64_t low7 = x & ~kHigh;
  std::uint64_t ge_lo = low7 + (0x80 - lo) * kOnes;      // high bit: byte >= lo
  std::uint64_t gt_hi = low7 + (0x80 - hi - 1) * kOnes;  // high bit: byte > hi
  return (ge_lo ^ gt_hi) & ~x & kHigh;
}
constexpr std::uint64_t normalize_word(std::uint64_t x, std::uint64_t word_start) noexcept {
  std::uint64_t lower = x | (bytes_in_range(x, 'A', 'Z') >> 2);
  std::uint64_t dash = bytes_in_range(lower, '-', '-');
  std::uint64_t starts = (dash << 8) | word_start;
  return lower & ~((starts & bytes_in_range(lower, 'a', 'z')) >> 2);
}

// Normalizes the `n` bytes at `p`; `room` (at least `n`) bytes from `p` may be read and written
// back unchanged, which lets a short name be done as one 8-byte word instead of byte by byte.
void normalize_in_place(char* p, std::size_t n, std::size_t room) noexcept {
  static_assert(std::endian::native == std::endian::little, "normalize_word's byte order");
  std::uint64_t word_start = 0x80;  // the name's first byte starts a word
  for (; n >= 8; p += 8, n -= 8, room -= 8) {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    x = normalize_word(x, word_start);
    std::memcpy(p, &x, 8);
    word_start = p[7] == '-' ? 0x80 : 0;
  }
  if (n == 0) return;
  if (room >= 8) {
    // The last bytes with the ones after them, which are written back as they were.
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    std::uint64_t mask = (std::uint64_t{1} << (8 * n)) - 1;
    x = (normalize_word(x, word_start) & mask) | (x & ~mask);
    std::memcpy(p, &x, 8);
    return;
  }
  std::uint64_t x = 0;
  std::memcpy(&x, p, n);
  x = normalize_word(x, word_start);
  std::memcpy(p, &x, n);
}
}  // namespace

std::string normalize_header(std::string_view name) {
  std::string out(name);
  normalize_in_place(out.data(), out.size(), out.size());
  return out;
}

bool is_valid_header_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_valid_header_value(std::string_view value) noexcept {
  // No early exit: the loop vectorizes, and valid values (the usual case) are read whole anyway.
  unsigned bad = 0;
  for (unsigned char c : value) bad |= static_cast<unsigned>((c < 0x20) & (c != '\t')) | static_cast<unsigned>(c == 0x7f);
  return bad == 0;
}

HTTPHeaders::HTTPHeaders(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  entries_.reserve(fields.size());
  for (auto& [n, v] : fields) add(n, v);
}

bool HTTPHeaders::views_text(std::string_view s) const noexcept {
  return !s.empty() && std::less_equal<>()(text_.data(), s.data()) &&
         std::less<>()(s.data(), text_.data() + text_.capacity());
}

void HTTPHeaders::add(std::string_view name, std::string_view value) {
  // A view into our own text (headers.add(n, *headers.find(m))) would dangle once the buffer
  // grows: copy it first (rare: outside the usual path).
  if (views_text(name) || views_text(value)) [[unlikely]] {
    std::string own_name(name);
    std::string own_value(value);
    add(own_name, own_value);
    return;
  }
  // Room for a usual request's or response's fields at once, rather than growing 1, 2, 4, 8.
  if (entries_.capacity() == 0) {
    entries_.reserve(kInitialCapacity);
    text_.reserve(kInitialText);
  }
  std::size_t off = text_.size();
  std::size_t line = name.size() + 2 + value.size() + 2;
  if (line > std::numeric_limits<std::uint32_t>::max() - off) throw std::length_error("HTTPHeaders too large");
  Entry e;
  e.name_off = static_cast<std::uint32_t>(off);
  e.name_len = static_cast<std::uint32_t>(name.size());
  e.value_off = static_cast<std::uint32_t>(off + name.size() + 2);
  e.value_len = static_cast<std::uint32_t>(value.size());
  // One resize and plain copies: four appends would each check and grow the string.
  text_.resize(off + line);
  char* p = text_.data() + off;
  if (!name.empty()) std::memcpy(p, name.data(), name.size());
  p[name.size()] = ':';
  p[name.size() + 1] = ' ';
  if (!value.empty()) std::memcpy(p + name.size() + 2, value.data(), value.size());
  p[line - 2] = '\r';
  p[line - 1] = '\n';
  normalize_in_place(p, name.size(), line);
  // Names are normalized, so a repeat is an exact one; the length check rejects nearly all.
  // Past kGroupByScan fields, grouping goes by hash anyway: say "may repeat" without the
  // quadratic scan.
  if (!may_repeat_ && entries_.size() >= kGroupByScan) {
    may_repeat_ = true;
  } else if (!may_repeat_) {
    std::string_view n = name_of(e);
    for (const Entry& o : entries_) {
      if (o.name_len == e.name_len && name_of(o) == n) {
        may_repeat_ = true;
        break;
      }
    }
  }
  entries_.push_back(e);
  last_field_ = static_cast<std::int32_t>(entries_.size()) - 1;
}

void HTTPHeaders::splice(std::size_t at, std::size_t old_len, std::string_view replacement) {
  if (replacement.size() > old_len &&
      replacement.size() - old_len > std::numeric_limits<std::uint32_t>::max() - text_.size())
    throw std::length_error("HTTPHeaders too large");
  // std::string::replace copes with a replacement that is a view into text_ itself.
  text_.replace(at, old_len, replacement.data(), replacement.size());
  if (replacement.size() == old_len) return;
  auto delta = static_cast<std::uint32_t>(replacement.size() - old_len);  // modulo 2^32: may move down
  for (Entry& e : entries_) {
    if (e.name_off > at) e.name_off += delta;
    if (e.value_off > at) e.value_off += delta;
  }
}

std::string HTTPHeaders::setdefault(std::string_view name, std::string_view default_value) {
  if (auto existing = get(name)) return *existing;
  add(name, default_value);
  return std::string(default_value);
}

void HTTPHeaders::set(std::string_view name, std::string_view value) {
  // Keep the name's position (Python dicts keep a key's place when it is reassigned).
  auto matches = [&](const Entry& e) { return e.name_len == name.size() && ieq(name_of(e), name); };
  auto it = std::find_if(entries_.begin(), entries_.end(), matches);
  if (it == entries_.end()) {
    add(name, value);
    return;
  }
  auto first = it - entries_.begin();
  if (may_repeat_) {
    // Removing lines below would move a value that is a view into text_: copy it first.
    std::string own_value;
    if (views_text(value)) value = own_value.assign(value);
    // The later values of the name go first, from the last, so that `first` stays where it is.
    for (auto i = static_cast<std::ptrdiff_t>(entries_.size()) - 1; i > first; --i) {
      Entry& e = entries_[static_cast<std::size_t>(i)];
      if (!matches(e)) continue;
      splice(e.name_off, e.value_off + e.value_len + 2 - e.name_off, {});
      entries_.erase(entries_.begin() + i);
    }
    Entry& e = entries_[static_cast<std::size_t>(first)];
    splice(e.value_off, e.value_len, value);
    e.value_len = static_cast<std::uint32_t>(value.size());
    last_field_ = static_cast<std::int32_t>(first);
    return;
  }
  Entry& e = entries_[static_cast<std::size_t>(first)];
  splice(e.value_off, e.value_len, value);
  e.value_len = static_cast<std::uint32_t>(value.size());
  last_field_ = static_cast<std::int32_t>(first);
}

bool HTTPHeaders::remove(std::string_view name) {
  bool found = false;
  for (auto i = static_cast<std::ptrdiff_t>(entries_.size()) - 1; i >= 0; --i) {
    Entry& e = entries_[static_cast<std::size_t>(i)];
    if (e.name_len != name.size() || !ieq(name_of(e), name)) continue;
    splice(e.name_off, e.value_off + e.value_len + 2 - e.name_off, {});
    entries_.erase(entries_.begin() + i);
    found = true;
  }
  last_field_ = -1;
  return found;
}

bool HTTPHeaders::contains(std::string_view name) const noexcept { return find(name).has_value(); }

std::optional<std::string_view> HTTPHeaders::find(std::string_view name) const noexcept {
  for (const Entry& e : entries_) {
    if (e.name_len == name.size() && ieq(name_of(e), name)) return value_of(e);
  }
  return std::nullopt;
}

std::optional<std::string> HTTPHeaders::get(std::string_view name) const {
  std::optional<std::string> out;
  for (const Entry& e : entries_) {
    if (e.name_len != name.size() || !ieq(name_of(e), name)) continue;
    if (out) {
      *out += ',';
      *out += value_of(e);
    } else {
      out.emplace(value_of(e));
    }
  }
  return out;
}

std::string HTTPHeaders::get(std::string_view name, std::string_view default_value) const {
  auto v = get(name);
  return v ? std::move(*v) : std::string(default_value);
}

std::vector<std::string_view> HTTPHeaders::get_list(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const Entry& e : entries_) {
    if (e.name_len == name.size() && ieq(name_of(e), name)) out.push_back(value_of(e));
  }
  return out;
}

std::vector<std::pair<std::string_view, std::string_view>> HTTPHeaders::get_all() const {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  out.reserve(entries_.size());
  // A response's or request's usual dozen fields: for_each groups them by scanning.
  if (!may_repeat_ || entries_.size() <= kGroupByScan) {
    for_each([&out](std::string_view n, std::string_view v) { out.emplace_back(n, v); });
    return out;
  }
  // Many fields (a peer can send thousands of distinct names): group with a hash map, since
  // comparing each with all the others would be quadratic. Names are stored normalized.
  std::unordered_map<std::string_view, std::size_t> group_of;
  std::vector<std::vector<const Entry*>> groups;
  for (const Entry& e : entries_) {
    auto [it, inserted] = group_of.try_emplace(name_of(e), groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(&e);
  }
  for (const auto& g : groups) {
    for (const Entry* e : g) out.emplace_back(name_of(*e), value_of(*e));
  }
  return out;
}

std::vector<std::string_view> HTTPHeaders::keys() const {
  std::unordered_set<std::string_view> seen;
  std::vector<std::string_view> out;
  for (const Entry& e : entries_) {
    if (seen.insert(name_of(e)).second) out.push_back(name_of(e));
  }
  return out;
}

std::size_t HTTPHeaders::size() const noexcept {
  if (!may_repeat_) return entries_.size();
  // Counting distinct names needs a set; if it cannot be allocated, fall back to the slow way
  // rather than break noexcept.
  try {
    std::unordered_set<std::string_view> seen;
    for (const Entry& e : entries_) seen.insert(name_of(e));
    return seen.size();
  } catch (...) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      bool dup = false;
      for (std::size_t j = 0; j < i && !dup; ++j) dup = name_of(entries_[j]) == name_of(entries_[i]);
      if (!dup) ++n;
    }
    return n;
  }
}

void HTTPHeaders::parse_line(std::string_view line) {
  if (line.empty()) return;
  if (line[0] == ' ' || line[0] == '\t') {
    // obs-fold (RFC 9112 5.2): a continuation of the previous value.
    if (last_field_ < 0) throw HTTPInputError("first header line cannot start with whitespace");
    auto part = trim(line, " \t");
    if (!is_valid_header_value(part)) throw HTTPInputError("Invalid header value");
    Entry& e = entries_[static_cast<std::size_t>(last_field_)];
    std::string more;
    more.reserve(1 + part.size());
    more += ' ';
    more += part;
    splice(e.value_off + e.value_len, 0, more);
    e.value_len += static_cast<std::uint32_t>(1 + part.size());
    return;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) throw HTTPInputError("no colon in header line");
  auto name = line.substr(0, colon);
  // RFC 9112 5.1: no whitespace is allowed between the field name and the colon.
  if (!is_valid_header_name(name)) throw HTTPInputError("Invalid header name");
  auto value = trim(line.substr(colon + 1), " \t");
  if (!is_valid_header_value(value)) throw HTTPInputError("Invalid header value");
  add(name, value);
}

HTTPHeaders HTTPHeaders::parse(std::string_view text) {
  HTTPHeaders h;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    auto line = text.substr(pos, nl - pos);
    // RFC 9112 2.2: a recipient MAY recognize a single LF as a line terminator.
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) h.parse_line(line);
    pos = nl + 1;
  }
  return h;
}

std::string HTTPHeaders::to_string() const {
  std::string out;
  for (auto& [n, v] : get_all()) {
    out += n;
    out += ": ";
    out += v;
    out += '\n';
  }
  return out;
}

bool operator==(const HTTPHeaders& a, const HTTPHeaders& b) {
  // As Tornado's (a Mapping): the same names with the same values, in any order of names.
  auto names = a.keys();
  if (names.size() != b.size()) return false;
  for (auto name : names) {
    if (a.get_list(name) != b.get_list(name)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Start lines

namespace {
bool is_http1_version(std::string_view v) {
  return v.size() == 8 && v.substr(0, 7) == "HTTP/1." && v[7] >= '0' && v[7] <= '9';
}
}  // namespace

RequestStartLine parse_request_start_line(std::string_view line) {
  auto s1 = line.find(' ');
  auto s2 = s1 == std::string_view::npos ? s1 : line.find(' ', s1 + 1);
  if (s1 == std::string_view::npos || s2 == std::string_view::npos || line.find(' ', s2 + 1) != std::string_view::npos)
    throw HTTPInputError("Malformed HTTP request line");
  RequestStartLine r{std::string(line.substr(0, s1)), std::string(line.substr(s1 + 1, s2 - s1 - 1)),
                     std::string(line.substr(s2 + 1))};
  if (!is_http1_version(r.version))
    throw HTTPInputError("Malformed HTTP version in HTTP Request-Line: '" + r.version + "'");
  return r;
}

ResponseStartLine parse_response_start_line(std::string_view line) {
  // Tornado's pattern: (HTTP/1.[0-9]) ([0-9]+) ([^\r]*)
  if (line.size() < 10 || line.substr(0, 5) != "HTTP/" || line[5] != '1' || line[7] < '0' || line[7] > '9' ||
      line[8] != ' ')
    throw HTTPInputError("Error parsing response start line");
  std::size_t i = 9, start = 9;
  while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
  if (i == start || i - start > 9) throw HTTPInputError("Error parsing response start line");
  ResponseStartLine r;
  r.version = std::string(line.substr(0, 8));
  r.code = std::stoi(std::string(line.substr(start, i - start)));
  if (i < line.size()) {
    if (line[i] != ' ') throw HTTPInputError("Error parsing response start line");
    auto reason = line.substr(i + 1);
    r.reason = std::string(reason.substr(0, reason.find('\r')));
  } else {
    throw HTTPInputError("Error parsing response start line");
  }
  return r;
}

std::string_view responses(int code) noexcept {
  struct Entry {
    int code;
    const char* reason;
  };
  // Python's http.client.responses, which Tornado uses for reason phrases.
  static constexpr Entry table[] = {
#include "responses.inc"
  };
  auto it = std::lower_bound(std::begin(table), std::end(table), code, [](const Entry& e, int c) { return e.code < c; });
  if (it != std::end(table) && it->code == code) return it->reason;
  return "Unknown";
}

// ---------------------------------------------------------------------------------------------
// Bodies

void set_parse_body_config(const ParseBodyConfig& config) {
  std::lock_guard lock(config_mutex());
  global_config() = config;
}

ParseBodyConfig get_parse_body_config() {
  std::lock_guard lock(config_mutex());
  return global_config();
}

void parse_body_arguments(std::string_view content_type, std::string_view body, Arguments& arguments, Files& files,
                          const HTTPHeaders* headers, const ParseBodyConfig* config) {
  ParseBodyConfig cfg = config ? *config : get_parse_body_config();
  if (content_type.starts_with("application/x-www-form-urlencoded")) {
    if (headers && headers->contains("Content-Encoding"))
      throw HTTPInputError("Unsupported Content-Encoding: " + headers->get("Content-Encoding", ""));
    for (auto& [k, v] : escape::parse_qsl(body, true)) arguments[k].push_back(std::move(v));
  } else if (content_type.starts_with("multipart/form-data")) {
    if (headers && headers->contains("Content-Encoding"))
      throw HTTPInputError("Unsupported Content-Encoding: " + headers->get("Content-Encoding", ""));
    std::size_t pos = 0;
    while (pos <= content_type.size()) {
      auto semi = content_type.find(';', pos);
      if (semi == std::string_view::npos) semi = content_type.size();
      auto field = trim(content_type.substr(pos, semi - pos));
      auto eq = field.find('=');
      if (eq != std::string_view::npos && field.substr(0, eq) == "boundary" && eq + 1 < field.size()) {
        try {
          parse_multipart_form_data(field.substr(eq + 1), body, arguments, files, &cfg.multipart);
        } catch (const HTTPInputError& e) {
          throw HTTPInputError(std::string("Invalid multipart/form-data: ") + e.what());
        }
        return;
      }
      pos = semi + 1;
    }
    throw HTTPInputError("Invalid multipart/form-data: multipart boundary not found");
  }
}

void parse_multipart_form_data(std::string_view boundary, std::string_view data, Arguments& arguments, Files& files,
                               const ParseMultipartConfig* config) {
  ParseMultipartConfig cfg = config ? *config : get_parse_body_config().multipart;
  if (!cfg.enabled) throw HTTPInputError("multipart/form-data parsing is disabled");
  // The boundary may be quoted in the header (RFC 2046 5.1.1 allows it).
  if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"')
    boundary = boundary.substr(1, boundary.size() - 2);
  std::string final_marker = "--" + std::string(boundary) + "--";
  auto final_index = data.rfind(final_marker);
  if (final_index == std::string_view::npos) throw HTTPInputError("no final boundary found");
  std::string sep = "--" + std::string(boundary) + "\r\n";
  auto content = data.substr(0, final_index);
  // Split once over the body (linear), counting parts before any is parsed.
  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  for (;;) {
    auto next = content.find(sep, pos);
    parts.push_back(content.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (parts.size() > cfg.max_parts + 1) throw HTTPInputError("multipart/form-data has too many parts");
    if (next == std::string_view::npos) break;
    pos = next + sep.size();
  }
  std::size_t nonempty = 0;
  for (auto part : parts) nonempty += !part.empty();
  if (nonempty > cfg.max_parts) throw HTTPInputError("multipart/form-data has too many parts");
  for (auto part : parts) {
    if (part.empty()) continue;
    auto eoh = part.find("\r\n\r\n");
    if (eoh == std::string_view::npos) throw HTTPInputError("multipart/form-data missing headers");
    if (eoh > cfg.max_part_header_size) throw HTTPInputError("multipart/form-data part header too large");
    auto headers = HTTPHeaders::parse(part.substr(0, eoh));
    auto [disposition, params] = parse_header(headers.get("Content-Disposition", ""));
    if (disposition != "form-data" || !part.ends_with("\r\n")) throw HTTPInputError("Invalid multipart/form-data");
    auto value = part.substr(eoh + 4, part.size() - eoh - 4 - 2);
    auto name_it = params.find("name");
    if (name_it == params.end() || name_it->second.empty()) throw HTTPInputError("multipart/form-data missing name");
    auto fn = params.find("filename");
    if (fn != params.end() && !fn->second.empty()) {
      files[name_it->second].push_back(
          HTTPFile{fn->second, std::string(value), headers.get("Content-Type", "application/unknown")});
    } else {
      arguments[name_it->second].emplace_back(value);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

std::string url_concat(std::string_view url, const std::vector<std::pair<std::string, std::string>>& args) {
  std::string_view fragment;
  if (auto hash = url.find('#'); hash != std::string_view::npos) {
    fragment = url.substr(hash);
    url = url.substr(0, hash);
  }
  std::string_view query;
  std::string_view base = url;
  if (auto q = url.find('?'); q != std::string_view::npos) {
    base = url.substr(0, q);
    query = url.substr(q + 1);
  }
  auto pairs = escape::parse_qsl(query, true);
  pairs.insert(pairs.end(), args.begin(), args.end());
  std::string out(base);
  std::string encoded = escape::urlencode(pairs);
  if (!encoded.empty()) {
    out += '?';
    out += encoded;
  }
  out += fragment;
  return out;
}

std::string format_timestamp(double timestamp) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // Python's gmtime rounds toward minus infinity (-0.5 is 23:59:59 the day before), a cast
  // would round toward zero.
  std::time_t t = static_cast<std::time_t>(std::floor(timestamp));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string format_timestamp(const std::tm& utc_time) {
  // Python's calendar.timegm: the fields as UTC, whatever the local zone.
  std::tm copy = utc_time;
  return format_timestamp(static_cast<double>(timegm(&copy)));
}

std::string format_timestamp(std::chrono::system_clock::time_point time) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(time.time_since_epoch());
  return format_timestamp(static_cast<double>(seconds.count()));
}

std::string_view http_date_now() noexcept {
  static constexpr char days[] = "SunMonTueWedThuFriSat";
  static constexpr char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  struct Cache {
    std::time_t second = std::numeric_limits<std::time_t>::min();
    char text[29];
  };
  thread_local Cache cache;
  // time() is a vDSO read of the kernel's clock on Linux: no system call on this path.
  std::time_t now = std::time(nullptr);
  if (now != cache.second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char* p = cache.text;
    auto two = [&p](int v) {
      *p++ = static_cast<char>('0' + v / 10);
      *p++ = static_cast<char>('0' + v % 10);
    };
    std::memcpy(p, days + 3 * tm.tm_wday, 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    two(tm.tm_mday);
    *p++ = ' ';
    std::memcpy(p, months + 3 * tm.tm_mon, 3);
    p += 3;
    *p++ = ' ';
    int year = tm.tm_year + 1900;
    // IMF-fixdate has a 4-digit year; the years outside 0-9999 are not worth a branch of their own.
    year = year < 0 ? 0 : year > 9999 ? 9999 : year;
    two(year / 100);
    two(year % 100);
    *p++ = ' ';
    two(tm.tm_hour);
    *p++ = ':';
    two(tm.tm_min);
    *p++ = ':';
    two(tm.tm_sec);
    std::memcpy(p, " GMT", 4);
    cache.second = now;
  }
  return {cache.text, sizeof cache.text};
}

std::optional<double> parse_http_date(std::string_view value) {
  static constexpr const char* months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                           "jul", "aug", "sep", "oct", "nov", "dec"};
  std::string v(trim(value));
  std::tm tm{};
  char mon[4] = {};
  char wday[16] = {};
  int day, year, hh, mm, ss;
  auto month_index = [&](const char* m) {
    for (int i = 0; i < 12; ++i) {
      if (ieq(m, months[i])) return i;
    }
    return -1;
  };
  bool ok = false;
  // RFC 1123: Sun, 06 Nov 1994 08:49:37 GMT
  if (std::sscanf(v.c_str(), "%15[A-Za-z], %d %3s %d %d:%d:%d", wday, &day, mon, &year, &hh, &mm, &ss) == 7) ok = true;
  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
  else if (std::sscanf(v.c_str(), "%15[A-Za-z], %d-%3s-%d %d:%d:%d", wday, &day, mon, &year, &hh, &mm, &ss) == 7) {
    ok = true;
    if (year < 100) year += year < 70 ? 2000 : 1900;
  }
  // asctime: Sun Nov  6 08:49:37 1994
  else if (std::sscanf(v.c_str(), "%15[A-Za-z] %3s %d %d:%d:%d %d", wday, mon, &day, &hh, &mm, &ss, &year) == 7) ok = true;
  if (!ok) return std::nullopt;
  int m = month_index(mon);
  if (m < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = m;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  return static_cast<double>(timegm(&tm));
}

std::pair<std::string, std::optional<int>> split_host_and_port(std::string_view netloc) {
  auto p = port_start(netloc);
  if (p == std::string_view::npos) return {std::string(netloc), std::nullopt};
  return {std::string(netloc.substr(0, p - 1)), std::stoi(std::string(netloc.substr(p)))};
}

namespace {
// Python's http.cookies._unquote: strip surrounding quotes, then decode \ooo octal and \c escapes.
std::string unquote_cookie(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return std::string(s);
  s = s.substr(1, s.size() - 2);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    if (i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
        s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i + 1];
      i += 1;
    }
  }
  return out;
}
}  // namespace

std::map<std::string, std::string, std::less<>> parse_cookie(std::string_view cookie) {
  std::map<std::string, std::string, std::less<>> out;
  std::size_t pos = 0;
  while (pos <= cookie.size()) {
    auto semi = cookie.find(';', pos);
    if (semi == std::string_view::npos) semi = cookie.size();
    auto chunk = cookie.substr(pos, semi - pos);
    std::string_view key, val;
    if (auto eq = chunk.find('='); eq != std::string_view::npos) {
      key = chunk.substr(0, eq);
      val = chunk.substr(eq + 1);
    } else {
      // An empty name, as browsers do (https://bugzilla.mozilla.org/show_bug.cgi?id=169091).
      val = chunk;
    }
    key = trim(key);
    val = trim(val);
    if (!key.empty() || !val.empty()) out[std::string(key)] = unquote_cookie(val);
    pos = semi + 1;
  }
  return out;
}

std::string encode_username_password(std::string_view username, std::string_view password) {
  std::string out(username);
  out += ':';
  out += password;
  return out;
}

namespace {
// Python's email.utils.unquote plus _parse_header's own quote stripping.
std::string unquote_param(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    v = v.substr(1, v.size() - 2);
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '\\' && i + 1 < v.size() && (v[i + 1] == '\\' || v[i + 1] == '"')) {
        out += v[i + 1];
        ++i;
      } else {
        out += v[i];
      }
    }
    return out;
  }
  return std::string(v);
}

// RFC 2231 / 5987 extended value: charset'language'percent-encoded
std::string decode_rfc2231(std::string_view v) {
  auto q1 = v.find('\'');
  auto q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return escape::url_unescape(v, false);
  auto charset = lower(v.substr(0, q1));
  std::string raw = escape::url_unescape(v.substr(q2 + 1), false);
  if (charset == "iso-8859-1" || charset == "latin-1" || charset == "latin1") {
    std::string utf8;
    for (unsigned char c : raw) {
      if (c < 0x80) utf8 += static_cast<char>(c);
      else {
        utf8 += static_cast<char>(0xC0 | (c >> 6));
        utf8 += static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    return utf8;
  }
  return raw;
}
}  // namespace

std::pair<std::string, std::map<std::string, std::string, std::less<>>> parse_header(std::string_view line) {
  // Split on ';' outside quoted strings (Tornado's _parseparam).
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || (line[i] == ';' && !quoted)) {
      parts.push_back(trim(line.substr(start, i - start)));
      start = i + 1;
    } else if (line[i] == '"' && (i == 0 || line[i - 1] != '\\')) {
      quoted = !quoted;
    }
  }
  std::pair<std::string, std::map<std::string, std::string, std::less<>>> out;
  out.first = std::string(parts.empty() ? std::string_view{} : parts[0]);
  std::map<std::string, std::string> extended;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    auto p = parts[i];
    auto eq = p.find('=');
    if (eq == std::string_view::npos) continue;
    auto name = lower(trim(p.substr(0, eq)));
    auto value = trim(p.substr(eq + 1));
    if (name.ends_with('*')) {
      extended[name.substr(0, name.size() - 1)] = decode_rfc2231(unquote_param(value));
    } else {
      out.second[name] = unquote_param(value);
    }
  }
  // name*= takes precedence over name= (RFC 6266 4.3).
  for (auto& [k, v] : extended) out.second[k] = v;
  return out;
}

std::string encode_header(std::string_view key, const std::map<std::string, std::optional<std::string>>& params) {
  std::string out(key);
  for (const auto& [k, v] : params) {
    out += "; ";
    out += k;
    if (v) {
      out += '=';
      out += *v;
    }
  }
  return out;
}

std::optional<ByteRange> parse_request_range(std::string_view range_header) {
  // Python's str.partition: with no "=", the whole header is the unit and the value is empty.
  auto eq = range_header.find('=');
  auto unit = trim(range_header.substr(0, eq));
  if (unit != "bytes") return std::nullopt;
  auto value = eq == std::string_view::npos ? std::string_view{} : trim(range_header.substr(eq + 1));
  auto dash = value.find('-');
  auto start_s = trim(value.substr(0, dash));
  auto end_s = dash == std::string_view::npos ? std::string_view{} : trim(value.substr(dash + 1));
  auto parse_int = [](std::string_view s, std::optional<std::int64_t>& out) {
    if (s.empty()) return true;
    if (s.size() > 18) return false;
    std::int64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    out = v;
    return true;
  };
  ByteRange r;
  if (!parse_int(start_s, r.start) || !parse_int(end_s, r.end)) return std::nullopt;
  if (r.end) {
    if (!r.start) {
      if (*r.end != 0) {
        r.start = -*r.end;
        r.end.reset();
      }
    } else {
      *r.end += 1;
    }
  }
  return r;
}

std::string get_content_range(std::optional<std::int64_t> start, std::optional<std::int64_t> end, std::int64_t total) {
  std::int64_t s = start.value_or(0);
  std::int64_t e = (end && *end ? *end : total) - 1;
  return "bytes " + std::to_string(s) + "-" + std::to_string(e) + "/" + std::to_string(total);
}

// ---------------------------------------------------------------------------------------------
// HTTPServerRequest

namespace {
// The members a request derives from its connection, headers and uri, made by these helpers in
// the constructors' member initializers: a string copy-constructed in place costs less than a
// default one assigned over (every request of a server comes through here).
std::string context_remote_ip(const HTTPConnection* c) { return c ? c->context().remote_ip : std::string(); }
std::string context_protocol(const HTTPConnection* c) { return c ? c->context().protocol : std::string("http"); }
std::string host_of(std::string host, const HTTPHeaders& headers) {
  if (!host.empty()) return host;
  auto h = headers.find("Host");
  if (h && !h->empty()) return std::string(h->data(), h->size());
  return std::string("127.0.0.1");
}
// Tornado: split_host_and_port(host.lower())[0].
std::string host_name_of(std::string_view host) {
  if (auto p = port_start(host); p != std::string_view::npos) host = host.substr(0, p - 1);
  std::string name(host);
  for (char& c : name) c = static_cast<char>(ascii_lower(static_cast<unsigned char>(c)));
  return name;
}
std::string path_of(const std::string& uri) { return std::string(uri, 0, uri.find('?')); }
std::string query_of(const std::string& uri) {
  auto q = uri.find('?');
  return q == std::string::npos ? std::string() : std::string(uri, q + 1);
}
}  // namespace

HTTPServerRequest::HTTPServerRequest(std::string method_, std::string uri_, std::string version_, HTTPHeaders headers_,
                                     std::string body_, std::string host_, Files files_, HTTPConnection* connection_,
                                     const void* server_connection_)
    : method(std::move(method_)),
      uri(std::move(uri_)),
      version(std::move(version_)),
      path(path_of(uri)),
      query(query_of(uri)),
      headers(std::move(headers_)),
      body(std::move(body_)),
      remote_ip(context_remote_ip(connection_)),
      protocol(context_protocol(connection_)),
      host(host_of(std::move(host_), headers)),
      host_name(host_name_of(host)),
      files(std::move(files_)),
      connection(connection_),
      server_connection(server_connection_) {
  init();
}

HTTPServerRequest::HTTPServerRequest(const RequestStartLine& sl, HTTPHeaders headers_, HTTPConnection* connection_,
                                     const void* server_connection_)
    : method(sl.method),
      uri(sl.path),
      version(sl.version),
      path(path_of(uri)),
      query(query_of(uri)),
      headers(std::move(headers_)),
      remote_ip(context_remote_ip(connection_)),
      protocol(context_protocol(connection_)),
      host(host_of({}, headers)),
      host_name(host_name_of(host)),
      connection(connection_),
      server_connection(server_connection_) {
  init();
}

void HTTPServerRequest::init() {
  start_time_ = wall_time();
  if (!query.empty()) {
    arguments = escape::parse_qs_bytes(query, true);
    query_arguments = arguments;
  }
}

namespace {
// Whether Python's http.cookies.SimpleCookie takes `name` as a key: not a reserved attribute
// name (in any case), and made only of _LegalChars.
bool simple_cookie_key(std::string_view name) {
  static constexpr std::string_view reserved[] = {"expires", "path",     "comment", "domain",  "max-age",
                                                  "secure",  "httponly", "version", "samesite"};
  if (name.empty()) return false;
  for (char c : name) {
    bool legal = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 (c != 0 && std::string_view("!#$%&'*+-.^_`|~:").find(c) != std::string_view::npos);
    if (!legal) return false;
  }
  return std::find(std::begin(reserved), std::end(reserved), lower(name)) == std::end(reserved);
}
}  // namespace

const std::map<std::string, std::string, std::less<>>& HTTPServerRequest::cookies() {
  if (!cookies_) {
    cookies_.emplace();
    for (auto v : headers.get_list("Cookie")) {
      // A malformed cookie header is ignored rather than failing the request (Tornado does too).
      // Tornado stores the cookies in a SimpleCookie, which refuses some names that parse_cookie
      // accepts ("/", "a b", "Path"...): those cookies are dropped.
      for (auto& [k, val] : parse_cookie(v))
        if (simple_cookie_key(k)) (*cookies_)[k] = val;
    }
  }
  return *cookies_;
}

std::string HTTPServerRequest::full_url() const { return protocol + "://" + host + uri; }

double HTTPServerRequest::request_time() const noexcept {
  return (finish_time_ ? *finish_time_ : wall_time()) - start_time_;
}

void HTTPServerRequest::set_finish_time() noexcept { finish_time_ = wall_time(); }

std::string HTTPServerRequest::get_ssl_certificate() const {
  return connection ? connection->context().peer_certificate_der : std::string();
}

void HTTPServerRequest::parse_body() {
  // Without a Content-Type there is nothing to parse (parse_body_arguments reads no other kind
  // of body): most requests (GET) need neither the joined header copy nor the body settings.
  if (headers.contains("Content-Type"))
    parse_body_arguments(headers.get("Content-Type", ""), body, body_arguments, files, &headers);
  for (const auto& [k, vs] : body_arguments) {
    auto& dst = arguments[k];
    dst.insert(dst.end(), vs.begin(), vs.end());
  }
}

}  // namespace tornado::httputil
