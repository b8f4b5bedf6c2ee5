// tornado.web:signing implementation: signed values, XSRF tokens and Set-Cookie formatting, step
// by step as Python Tornado 6.2's web.py (and http.cookies, binascii, base64) do them.
module;
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>
module tornado.web;

import tornado.escape;
import tornado.httputil;
import tornado.log;

namespace tornado::web {

namespace {

double time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double call_clock(const SigningClock& clock) { return clock ? clock() : time_now(); }

// Python's int(x) on bytes, base 10: ASCII whitespace around, an optional sign, digits with single
// underscores between them. nullopt where int() raises ValueError. Python's ints are unbounded;
// here values past int64 saturate, which keeps every comparison these functions make (with
// times, lengths and small key versions) as Python makes it.
std::optional<std::int64_t> py_int(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  std::size_t b = 0, e = s.size();
  while (b < e && space(s[b])) ++b;
  while (e > b && space(s[e - 1])) --e;
  bool negative = false;
  if (b < e && (s[b] == '+' || s[b] == '-')) negative = s[b++] == '-';
  if (b == e) return std::nullopt;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t v = 0;
  bool saturated = false, prev_digit = false;
  for (std::size_t i = b; i < e; ++i) {
    char c = s[i];
    if (c == '_') {
      // An underscore only between two digits.
      if (!prev_digit || i + 1 == e || s[i + 1] < '0' || s[i + 1] > '9') return std::nullopt;
      prev_digit = false;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    prev_digit = true;
    int d = c - '0';
    if (!saturated && v > (kMax - d) / 10) saturated = true;
    if (!saturated) v = v * 10 + d;
  }
  if (saturated) v = kMax;
  return negative ? -v : v;
}

// _signed_value_version_re = br"^([1-9][0-9]*)\|(.*)$": the leading version number, or nullopt if
// the pattern does not match. "." stops at a newline and "$" also matches before a final one, so
// what follows the "|" may hold a newline only as its last byte.
std::optional<std::int64_t> leading_version(std::string_view value) {
  std::size_t i = 0;
  if (value.empty() || value[0] < '1' || value[0] > '9') return std::nullopt;
  while (i < value.size() && value[i] >= '0' && value[i] <= '9') ++i;
  if (i == value.size() || value[i] != '|') return std::nullopt;
  std::size_t nl = value.find('\n', i + 1);
  if (nl != std::string_view::npos && nl != value.size() - 1) return std::nullopt;
  return py_int(value.substr(0, i));
}

// _get_version: numbers above 999 are format-1 base64 payloads that happen to look like versions.
std::int64_t get_version(std::string_view value) {
  auto v = leading_version(value);
  if (!v || *v > 999) return 1;
  return *v;
}

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// base64.b64encode: the standard alphabet with "=" padding.
std::string b64encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(data[k]); };
  for (; i + 3 <= data.size(); i += 3) {
    std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kBase64Alphabet[n >> 18];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += kBase64Alphabet[(n >> 6) & 63];
    out += kBase64Alphabet[n & 63];
  }
  if (data.size() - i == 1) {
    std::uint32_t n = byte(i) << 16;
    out += kBase64Alphabet[n >> 18];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += "==";
  } else if (data.size() - i == 2) {
    std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kBase64Alphabet[n >> 18];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += kBase64Alphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

// base64.b64decode(s) without validate: binascii.a2b_base64 in its non-strict mode, which skips
// characters outside the alphabet, stops at padding that completes a quantum, and fails on a
// leftover partial quantum ("Incorrect padding"). nullopt where Python raises binascii.Error.
std::optional<std::string> b64decode(std::string_view s) {
  std::string out;
  out.reserve(s.size() / 4 * 3);
  int quad_pos = 0, pads = 0;
  unsigned left = 0;
  for (char ch : s) {
    if (ch == '=') {
      if (quad_pos >= 2 && quad_pos + ++pads >= 4) return out;
      continue;
    }
    const char* p = ch ? std::strchr(kBase64Alphabet, ch) : nullptr;
    if (p == nullptr) continue;
    unsigned v = static_cast<unsigned>(p - kBase64Alphabet);
    pads = 0;
    switch (quad_pos) {
      case 0:
        quad_pos = 1;
        left = v;
        break;
      case 1:
        quad_pos = 2;
        out += static_cast<char>((left << 2) | (v >> 4));
        left = v & 0x0f;
        break;
      case 2:
        quad_pos = 3;
        out += static_cast<char>(((left << 4) | (v >> 2)) & 0xff);
        left = v & 0x03;
        break;
      default:
        quad_pos = 0;
        out += static_cast<char>(((left << 6) | v) & 0xff);
        left = 0;
        break;
    }
  }
  if (quad_pos != 0) return std::nullopt;
  return out;
}

// binascii.b2a_hex: lowercase.
std::string hex_encode(std::string_view data) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// binascii.a2b_hex: an even number of hex digits of either case, nothing else.
std::optional<std::string> hex_decode(std::string_view s) {
  if (s.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(s.size() / 2);
  for (std::size_t i = 0; i < s.size(); i += 2) {
    int h = hex_digit(s[i]), l = hex_digit(s[i + 1]);
    if (h < 0 || l < 0) return std::nullopt;
    out += static_cast<char>(h * 16 + l);
  }
  return out;
}

// hmac.new(secret, digestmod=...).update(data).hexdigest()
std::string hmac_hex(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // A zero-length key or message still needs a valid pointer.
  static const unsigned char empty = 0;
  const unsigned char* k = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
  const unsigned char* d = data.empty() ? &empty : reinterpret_cast<const unsigned char*>(data.data());
  if (HMAC(md, k, static_cast<int>(key.size()), d, data.size(), digest, &len) == nullptr)
    throw std::runtime_error("HMAC failed");
  return hex_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string create_signature_v1(std::string_view secret, std::string_view name, std::string_view value,
                                std::string_view timestamp) {
  std::string data;
  data.reserve(name.size() + value.size() + timestamp.size());
  data.append(name).append(value).append(timestamp);
  return hmac_hex(EVP_sha1(), secret, data);
}

std::string create_signature_v2(std::string_view secret, std::string_view to_sign) {
  return hmac_hex(EVP_sha256(), secret, to_sign);
}

// Python's repr() of bytes (`is_bytes`: the b prefix, and bytes >= 0x80 escaped as \xNN) or of
// a str given as UTF-8 (bytes >= 0x80 kept, so characters print as they are), for log lines and
// exception messages that print a value with %r.
std::string repr(std::string_view s, bool is_bytes) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out = is_bytes ? "b" : "";
  out += quote;
  for (unsigned char c : s) {
    if (c == static_cast<unsigned char>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f || (is_bytes && c >= 0x80)) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}
std::string repr_bytes(std::string_view s) { return repr(s, true); }
std::string repr_str(std::string_view s) { return repr(s, false); }

// Python's len() of a str given as UTF-8: the number of code points.
std::size_t char_count(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// The timestamp field: str(int(clock())), int() truncating toward zero.
std::string timestamp_string(double t) {
  if (!std::isfinite(t)) throw std::invalid_argument("cannot convert float to integer: the clock is not finite");
  double whole = std::trunc(t);
  if (whole >= 9.2e18 || whole <= -9.2e18) throw std::invalid_argument("clock value out of range");
  return std::to_string(static_cast<std::int64_t>(whole));
}

struct FieldsV2 {
  std::int64_t key_version;
  std::string_view timestamp, name, value, signature;
};

// Python's slice index normalisation for a sequence of `len` items.
std::size_t slice_index(std::int64_t x, std::size_t len) {
  auto l = static_cast<std::int64_t>(len);
  if (x < 0) x += l;
  return static_cast<std::size_t>(std::clamp<std::int64_t>(x, 0, l));
}

// _consume_field: "<n>:<n bytes>|", with n read by int() and used as a Python slice index (so a
// negative n indexes from the end, as it does in Tornado).
bool consume_field(std::string_view& s, std::string_view& field) {
  std::size_t colon = s.find(':');
  std::string_view length = colon == std::string_view::npos ? s : s.substr(0, colon);
  std::string_view rest = colon == std::string_view::npos ? std::string_view() : s.substr(colon + 1);
  auto n = py_int(length);
  if (!n) return false;
  // Past +-(len + 2) every index normalises to an end; clamping first keeps n + 1 from overflowing.
  const auto bound = static_cast<std::int64_t>(rest.size()) + 2;
  std::int64_t k = std::clamp<std::int64_t>(*n, -bound, bound);
  field = rest.substr(0, slice_index(k, rest.size()));
  std::size_t start = slice_index(k, rest.size()), stop = slice_index(k + 1, rest.size());
  if (stop <= start || rest[start] != '|' || stop - start != 1) return false;
  s = rest.substr(stop);
  return true;
}

// _decode_fields_v2
std::optional<FieldsV2> decode_fields_v2(std::string_view value) {
  std::string_view rest = value.size() > 2 ? value.substr(2) : std::string_view();
  std::string_view key_version, timestamp, name, payload;
  if (!consume_field(rest, key_version) || !consume_field(rest, timestamp) || !consume_field(rest, name) ||
      !consume_field(rest, payload))
    return std::nullopt;
  auto kv = py_int(key_version);
  if (!kv) return std::nullopt;
  return FieldsV2{*kv, timestamp, name, payload, rest};
}

std::optional<std::string> decode_signed_value_v1(const CookieSecret& secret, std::string_view name,
                                                  std::string_view value, double max_age_days,
                                                  const SigningClock& clock) {
  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  for (;;) {
    std::size_t bar = value.find('|', pos);
    parts.push_back(value.substr(pos, bar == std::string_view::npos ? std::string_view::npos : bar - pos));
    if (bar == std::string_view::npos) break;
    pos = bar + 1;
  }
  if (parts.size() != 3) return std::nullopt;
  std::string signature = create_signature_v1(secret.secret(), name, parts[0], parts[1]);
  if (!compare_digest(parts[2], signature)) {
    log::gen_log().warning("Invalid cookie signature {}", repr_bytes(value));
    return std::nullopt;
  }
  auto timestamp = py_int(parts[1]);
  if (!timestamp) return std::nullopt;
  auto ts = static_cast<double>(*timestamp);
  if (ts < call_clock(clock) - max_age_days * 86400) {
    log::gen_log().warning("Expired cookie {}", repr_bytes(value));
    return std::nullopt;
  }
  // The v1 signature hashes no delimiter between the parts, so trailing digits of the payload
  // could be moved into the timestamp without changing it; Tornado checks the timestamp instead
  // of changing the signature, and so does this.
  if (ts > call_clock(clock) + 31 * 86400) {
    log::gen_log().warning("Cookie timestamp in future; possible tampering {}", repr_bytes(value));
    return std::nullopt;
  }
  if (parts[1].starts_with('0')) {
    log::gen_log().warning("Tampered cookie {}", repr_bytes(value));
    return std::nullopt;
  }
  return b64decode(parts[0]);
}

std::optional<std::string> decode_signed_value_v2(const CookieSecret& secret, std::string_view name,
                                                  std::string_view value, double max_age_days,
                                                  const SigningClock& clock) {
  auto fields = decode_fields_v2(value);
  if (!fields) return std::nullopt;
  // value[:-len(passed_sig)]: with an empty signature that is value[:0], the empty string.
  std::string_view signed_string = fields->signature.empty() ? std::string_view()
                                                             : value.substr(0, value.size() - fields->signature.size());
  const std::string* key = secret.find(fields->key_version);
  if (key == nullptr) return std::nullopt;
  std::string expected = create_signature_v2(*key, signed_string);
  if (!compare_digest(fields->signature, expected)) return std::nullopt;
  if (fields->name != name) return std::nullopt;
  auto timestamp = py_int(fields->timestamp);
  if (!timestamp) return std::nullopt;
  if (static_cast<double>(*timestamp) < call_clock(clock) - max_age_days * 86400) return std::nullopt;
  return b64decode(fields->value);
}

// tornado.util._websocket_mask: XOR with the mask repeated. Tornado's C extension reads the
// mask's first four bytes whatever its length (Python bytes end in a NUL byte, and a short mask
// was seen to read as zero-padded); zero padding is what this does.
std::string apply_mask(std::string_view mask, std::string_view data) {
  std::array<unsigned char, 4> m{};
  for (std::size_t i = 0; i < 4 && i < mask.size(); ++i) m[i] = static_cast<unsigned char>(mask[i]);
  std::string out(data);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(static_cast<unsigned char>(out[i]) ^ m[i % 4]);
  return out;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("RAND_bytes failed: no random bytes available");
  return out;
}

// http.cookies._LegalChars: what a cookie name may hold, and what a value may hold unquoted.
bool legal_cookie_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~:", c) != nullptr);
}

// http.cookies._UnescapedChars: _LegalChars plus the ones that need quotes but no escape.
bool unescaped_cookie_char(unsigned char c) {
  return legal_cookie_char(c) || (c != 0 && std::strchr(" ()/<=>?@[]{}", c) != nullptr);
}

// http.cookies._quote on a str given as UTF-8 (already validated): unchanged when every character
// is legal, otherwise double-quoted with code points 0-255 outside the unescaped set written as
// \ooo (so U+00E9 is \351), '"' and '\' backslash-escaped, and code points past 255 as they are.
std::string cookie_quote(std::string_view s) {
  if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return legal_cookie_char(static_cast<unsigned char>(c)); }))
    return std::string(s);
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    unsigned cp = c;
    std::size_t len = 1;
    if (c >= 0xC0) {
      len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      cp = c & (0x3F >> (len - 1));
      for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    if (cp == '"' || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp < 256 && !unescaped_cookie_char(static_cast<unsigned char>(cp))) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03o", cp);
      out += buf;
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  out += '"';
  return out;
}

}  // namespace

const std::string* CookieSecret::find(std::int64_t key_version) const noexcept {
  if (!versioned_) return &single_;
  if (key_version < std::numeric_limits<int>::min() || key_version > std::numeric_limits<int>::max()) return nullptr;
  auto it = secrets_.find(static_cast<int>(key_version));
  return it == secrets_.end() ? nullptr : &it->second;
}

bool compare_digest(std::string_view a, std::string_view b) noexcept {
  // Like hmac.compare_digest, only the lengths may show in the timing.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string create_signed_value(const CookieSecret& secret, std::string_view name, std::string_view value,
                                std::optional<int> version, const SigningClock& clock,
                                std::optional<int> key_version) {
  int v = version.value_or(DEFAULT_SIGNED_VALUE_VERSION);
  if (v != 1 && v != 2) throw std::invalid_argument("Unsupported version " + std::to_string(v));
  std::string timestamp = timestamp_string(call_clock(clock));
  std::string encoded = b64encode(value);
  if (v == 1) {
    if (secret.is_versioned()) throw std::invalid_argument("Format 1 signed values take a single secret, not a key map");
    std::string signature = create_signature_v1(secret.secret(), name, encoded, timestamp);
    return encoded + "|" + timestamp + "|" + signature;
  }
  // The v2 format: a version number and length-prefixed "%d:%s" fields, separated by pipes, the
  // last of which is an HMAC-SHA256 of everything before it (the final pipe included). Numbers
  // are decimal without leading zeros. Fields: key version, timestamp, name, base64 value.
  auto field = [](std::string_view s, std::size_t length) { return std::to_string(length) + ":" + std::string(s); };
  std::string kv = std::to_string(key_version.value_or(0));
  // Tornado takes len() of the name as a str: characters, not bytes.
  (void)escape::to_unicode(name);
  std::string to_sign = "2|" + field(kv, kv.size()) + "|" + field(timestamp, timestamp.size()) + "|" +
                        field(name, char_count(name)) + "|" + field(encoded, encoded.size()) + "|";
  const std::string* key = &secret.secret();
  if (secret.is_versioned()) {
    if (!key_version) throw std::invalid_argument("Key version must be set when sign key dict is used");
    key = secret.find(*key_version);
    if (key == nullptr) throw std::invalid_argument("No secret for key version " + std::to_string(*key_version));
  }
  return to_sign + create_signature_v2(*key, to_sign);
}

std::optional<std::string> decode_signed_value(const CookieSecret& secret, std::string_view name,
                                               std::string_view value, double max_age_days,
                                               const SigningClock& clock, std::optional<int> min_version) {
  int min = min_version.value_or(DEFAULT_SIGNED_VALUE_MIN_VERSION);
  if (min > 2) throw std::invalid_argument("Unsupported min_version " + std::to_string(min));
  if (value.empty()) return std::nullopt;
  std::int64_t version = get_version(value);
  if (version < min) return std::nullopt;
  if (version == 1) {
    // Tornado asserts here; a stray format-1 cookie is not worth an exception.
    if (secret.is_versioned()) return std::nullopt;
    return decode_signed_value_v1(secret, name, value, max_age_days, clock);
  }
  if (version == 2) return decode_signed_value_v2(secret, name, value, max_age_days, clock);
  return std::nullopt;
}

std::optional<int> get_signature_key_version(std::string_view value) {
  if (get_version(value) < 2) return std::nullopt;
  auto fields = decode_fields_v2(value);
  if (!fields || fields->key_version < std::numeric_limits<int>::min() ||
      fields->key_version > std::numeric_limits<int>::max())
    return std::nullopt;
  return static_cast<int>(fields->key_version);
}

std::string new_xsrf_token() { return random_bytes(16); }

std::string encode_xsrf_token(std::string_view token, double timestamp, int version) {
  if (version != 1 && version != 2) throw std::invalid_argument("unknown xsrf cookie version " + std::to_string(version));
  return encode_xsrf_token(token, timestamp, version, version == 2 ? random_bytes(4) : std::string());
}

std::string encode_xsrf_token(std::string_view token, double timestamp, int version, std::string_view mask) {
  if (version == 1) return hex_encode(token);
  if (version != 2) throw std::invalid_argument("unknown xsrf cookie version " + std::to_string(version));
  std::string m(mask.substr(0, 4));
  m.resize(4, '\0');
  return "2|" + hex_encode(m) + "|" + hex_encode(apply_mask(m, token)) + "|" + timestamp_string(timestamp);
}

std::optional<XsrfToken> decode_xsrf_token(std::string_view value, const SigningClock& clock) {
  if (auto version = leading_version(value)) {
    // Unknown versions count as no token rather than as an error.
    if (*version != 2) return std::nullopt;
    std::vector<std::string_view> parts;
    std::size_t pos = 0;
    for (;;) {
      std::size_t bar = value.find('|', pos);
      parts.push_back(value.substr(pos, bar == std::string_view::npos ? std::string_view::npos : bar - pos));
      if (bar == std::string_view::npos) break;
      pos = bar + 1;
    }
    if (parts.size() != 4) return std::nullopt;
    auto mask = hex_decode(parts[1]);
    auto masked = hex_decode(parts[2]);
    auto timestamp = py_int(parts[3]);
    if (!mask || !masked || !timestamp) return std::nullopt;
    return XsrfToken{2, apply_mask(*mask, *masked), *timestamp};
  }
  // Version 1 is the hex token, or any other string taken as it is; it has no timestamp.
  auto token = hex_decode(value);
  double now = std::trunc(call_clock(clock));
  return XsrfToken{1, token ? std::move(*token) : std::string(value), static_cast<std::int64_t>(now)};
}

std::string xsrf_form_html(std::string_view encoded_token) {
  return "<input type=\"hidden\" name=\"_xsrf\" value=\"" + escape::xhtml_escape(encoded_token) + "\"/>";
}

std::string format_set_cookie(std::string_view name, std::string_view value, const CookieOptions& options,
                              std::optional<double> now) {
  // Tornado turns both into str first (native_str), which fails on bytes that are not UTF-8.
  (void)escape::to_unicode(name);
  (void)escape::to_unicode(value);
  (void)escape::to_unicode(options.comment);
  auto control = [](std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20; });
  };
  // Tornado refuses these so that a value cannot inject another header or attribute.
  if (control(name) || control(value))
    throw std::invalid_argument("Invalid cookie " + repr_str(name) + ": " + repr_str(value));
  // http.cookies.Morsel.set: reserved attribute names (in any case), then the legal characters.
  static constexpr std::string_view reserved[] = {"expires", "path",    "comment", "domain",  "max-age",
                                                  "secure",  "httponly", "version", "samesite"};
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; });
  if (std::find(std::begin(reserved), std::end(reserved), lower) != std::end(reserved))
    throw CookieError("Attempt to set a reserved key " + repr_str(name));
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return legal_cookie_char(static_cast<unsigned char>(c)); }))
    throw CookieError("Illegal key " + repr_str(name));

  // The attributes are written as they are; Tornado's add_header refuses the header if one holds
  // a character from 0x00 to 0x1f (a CR LF would start another header), and so does this, when
  // the cookie is set rather than when it is sent.
  std::string_view domain = options.domain ? std::string_view(*options.domain) : std::string_view();
  std::string_view samesite = options.samesite ? std::string_view(*options.samesite) : std::string_view();
  for (std::string_view attribute : {domain, std::string_view(options.path), samesite, std::string_view(options.version)}) {
    if (std::any_of(attribute.begin(), attribute.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      throw std::invalid_argument("Unsafe header value " + repr_str(attribute));
  }

  std::string out(name);
  out += '=';
  out += cookie_quote(value);
  // Morsel.OutputString writes the attributes sorted by their lower-case names: comment, domain,
  // expires, httponly, max-age, path, samesite, secure, version.
  if (!options.comment.empty()) out += "; Comment=" + cookie_quote(options.comment);
  if (options.domain && !options.domain->empty()) out += "; Domain=" + *options.domain;
  std::optional<double> expires;
  if (options.expires && *options.expires != 0) expires = options.expires;
  if (options.expires_days && !expires) expires = now.value_or(time_now()) + *options.expires_days * 86400;
  if (expires) out += "; expires=" + httputil::format_timestamp(*expires);
  if (options.httponly) out += "; HttpOnly";
  if (options.max_age) out += "; Max-Age=" + std::to_string(*options.max_age);
  if (!options.path.empty()) out += "; Path=" + options.path;
  if (options.samesite && !options.samesite->empty()) out += "; SameSite=" + *options.samesite;
  if (options.secure) out += "; Secure";
  if (!options.version.empty()) out += "; Version=" + options.version;
  return out;
}

}  // namespace tornado::web
