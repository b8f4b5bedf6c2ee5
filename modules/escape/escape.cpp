module;
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "entities.inc"
#include "unicode_classes.inc"
module tornado.escape;

namespace tornado::escape {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool url_safe(unsigned char c, bool plus) {
  // urllib's always-safe set, plus "/" for quote() (not quote_plus()).
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-' || c == '~' || (!plus && c == '/');
}
}  // namespace

std::string xhtml_escape(std::string_view value) {
  std::string out;
  out.reserve(value.size() + value.size() / 8);
  for (char c : value) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string xhtml_unescape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  std::size_t i = 0;
  while (i < value.size()) {
    char c = value[i];
    if (c != '&') {
      out += c;
      ++i;
      continue;
    }
    // Tornado's pattern: &(#?)(\w+?);  the entity body is word characters up to the first ';'.
    std::size_t j = i + 1;
    bool numeric = j < value.size() && value[j] == '#';
    if (numeric) ++j;
    std::size_t start = j;
    while (j < value.size() && (std::isalnum(static_cast<unsigned char>(value[j])) || value[j] == '_')) ++j;
    if (j == start || j >= value.size() || value[j] != ';') {
      out += c;
      ++i;
      continue;
    }
    std::string_view body = value.substr(start, j - start);
    bool ok = false;
    if (numeric) {
      std::uint32_t cp = 0;
      bool hex = body[0] == 'x' || body[0] == 'X';
      std::string_view digits = hex ? body.substr(1) : body;
      ok = !digits.empty();
      for (char d : digits) {
        int v = hex ? hex_value(d) : (d >= '0' && d <= '9' ? d - '0' : -1);
        if (v < 0) {
          ok = false;
          break;
        }
        // Leading zeros are fine (Python's int() reads them); past U+10FFFF chr() fails in
        // Tornado and the reference is kept, so stop counting there instead of overflowing.
        cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(v);
        if (cp > 0x10FFFF) ok = false;
        if (!ok) break;
      }
      if (ok) append_utf8(out, cp);
    } else {
      auto* b = std::begin(detail::kNamedEntities);
      auto* e = std::end(detail::kNamedEntities);
      auto it = std::lower_bound(b, e, body, [](const detail::NamedEntity& n, std::string_view k) { return std::string_view(n.name) < k; });
      if (it != e && std::string_view(it->name) == body) {
        append_utf8(out, it->codepoint);
        ok = true;
      }
    }
    if (ok) {
      i = j + 1;
    } else {
      out.append(value.substr(i, j + 1 - i));
      i = j + 1;
    }
  }
  return out;
}

std::string url_escape(std::string_view value, bool plus) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() * 3 / 2);
  for (unsigned char c : value) {
    if (url_safe(c, plus)) {
      out += static_cast<char>(c);
    } else if (plus && c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string url_unescape(std::string_view value, bool plus) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '%' && i + 2 < value.size()) {
      int h = hex_value(value[i + 1]);
      int l = hex_value(value[i + 2]);
      if (h >= 0 && l >= 0) {
        out += static_cast<char>(h * 16 + l);
        i += 2;
        continue;
      }
    }
    out += (plus && c == '+') ? ' ' : c;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_qsl(std::string_view qs, bool keep_blank_values,
                                                           bool strict_parsing) {
  std::vector<std::pair<std::string, std::string>> out;
  // Python's parse_qsl: an empty query string has no pairs, even with strict_parsing.
  if (qs.empty()) return out;
  std::size_t pos = 0;
  while (pos <= qs.size()) {
    std::size_t amp = qs.find('&', pos);
    if (amp == std::string_view::npos) amp = qs.size();
    std::string_view pair = qs.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty() && !strict_parsing) {
      if (amp == qs.size()) break;
      continue;
    }
    std::size_t eq = pair.find('=');
    std::string_view name = pair, val;
    if (eq == std::string_view::npos) {
      if (strict_parsing) throw std::invalid_argument("bad query field: '" + std::string(pair) + "'");
      if (!keep_blank_values) {
        if (amp == qs.size()) break;
        continue;
      }
    } else {
      name = pair.substr(0, eq);
      val = pair.substr(eq + 1);
    }
    if (!val.empty() || keep_blank_values) out.emplace_back(url_unescape(name, true), url_unescape(val, true));
    if (amp == qs.size()) break;
  }
  return out;
}

QueryArguments parse_qs_bytes(std::string_view qs, bool keep_blank_values, bool strict_parsing) {
  QueryArguments out;
  for (auto& [k, v] : parse_qsl(qs, keep_blank_values, strict_parsing)) out[std::move(k)].push_back(std::move(v));
  return out;
}

std::string urlencode(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out;
  for (const auto& [k, v] : pairs) {
    if (!out.empty()) out += '&';
    out += url_escape(k, true);
    out += '=';
    out += url_escape(v, true);
  }
  return out;
}

std::string json_encode(const boost::json::value& value) {
  std::string s = boost::json::serialize(value);
  // "</" inside a <script> block would end it early; "<\/" means the same to a JSON parser.
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    if (s[i] == '<' && i + 1 < s.size() && s[i + 1] == '/') out += '\\';
  }
  return out;
}

boost::json::value json_decode(std::string_view value) { return boost::json::parse(value); }

std::string squeeze(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    // Tornado's pattern is [\x00-\x20]+: every control character counts, not only whitespace.
    if (static_cast<unsigned char>(c) <= 0x20) {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out += c;
    }
  }
  return out;
}

// --- utf8, to_unicode -------------------------------------------------------------------------

namespace {

// Decodes one code point at `i` the way Python's "utf-8" codec does (strict: no overlong forms,
// no surrogates, nothing past U+10FFFF). Returns the code point and advances `i`, or returns -1
// with `reason` set, `i` left on the offending sequence's first byte and `bad` set to the
// number of bytes Python's error covers (the sequence's valid prefix, at least one).
long decode_one(std::string_view s, std::size_t& i, const char*& reason, std::size_t& bad) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  int len;
  std::uint32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte (Unicode table 3-7)
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // U+D800-U+DFFF are surrogates, not characters
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    reason = "invalid start byte";
    bad = 1;
    return -1;
  }
  for (int k = 1; k < len; ++k) {
    if (i + k >= s.size()) {
      reason = "unexpected end of data";
      bad = k;
      return -1;
    }
    unsigned char d = b(i + k);
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (d < l || d > h) {
      reason = "invalid continuation byte";
      bad = k;
      return -1;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  i += len;
  return static_cast<long>(cp);
}

[[noreturn]] void throw_decode_error(std::string_view s, std::size_t i, const char* reason, std::size_t bad) {
  char buf[128];
  if (bad == 1)
    std::snprintf(buf, sizeof buf, "'utf-8' codec can't decode byte 0x%02x in position %zu: %s",
                  static_cast<unsigned char>(s[i]), i, reason);
  else
    std::snprintf(buf, sizeof buf, "'utf-8' codec can't decode bytes in position %zu-%zu: %s", i, i + bad - 1, reason);
  throw UnicodeDecodeError(buf, i);
}

std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const char* reason = nullptr;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < s.size();) {
    long cp = decode_one(s, i, reason, bad);
    if (cp < 0) throw_decode_error(s, i, reason, bad);
    out += static_cast<char32_t>(cp);
  }
  return out;
}

void encode_checked(std::string& out, char32_t cp, std::size_t position) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "'utf-8' codec can't encode character '\\U%08x' in position %zu: %s",
                  static_cast<unsigned>(cp), position,
                  cp > 0x10FFFF ? "not a Unicode code point" : "surrogates not allowed");
    throw UnicodeEncodeError(buf);
  }
  append_utf8(out, cp);
}

std::string encode_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) append_utf8(out, cp);
  return out;
}

}  // namespace

std::string utf8(std::string_view value) { return std::string(value); }

std::string utf8(std::u8string_view value) {
  std::string_view bytes(reinterpret_cast<const char*>(value.data()), value.size());
  const char* reason = nullptr;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < bytes.size();) {
    if (decode_one(bytes, i, reason, bad) < 0) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "char8_t text is not valid UTF-8 at byte %zu: %s", i, reason);
      throw UnicodeEncodeError(buf);
    }
  }
  return std::string(bytes);
}

std::string utf8(std::u16string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    char32_t u = value[i];
    // A high surrogate followed by a low one is one character; any other surrogate is alone.
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < value.size() && value[i + 1] >= 0xDC00 && value[i + 1] <= 0xDFFF) {
      char32_t cp = 0x10000 + ((u - 0xD800) << 10) + (value[i + 1] - 0xDC00);
      append_utf8(out, cp);
      ++i;
      continue;
    }
    encode_checked(out, u, i);
  }
  return out;
}

std::string utf8(std::u32string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) encode_checked(out, value[i], i);
  return out;
}

std::string to_unicode(std::string_view value) {
  const char* reason = nullptr;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < value.size();) {
    // ASCII runs are the common case: skip them a byte at a time without the decoder.
    if (static_cast<unsigned char>(value[i]) < 0x80) {
      ++i;
      continue;
    }
    if (decode_one(value, i, reason, bad) < 0) throw_decode_error(value, i, reason, bad);
  }
  return std::string(value);
}

std::string native_str(std::string_view value) { return to_unicode(value); }

std::string to_basestring(std::string_view value) { return to_unicode(value); }

// --- linkify ---------------------------------------------------------------------------------

namespace {

bool in_ranges(char32_t c, const detail::CodePointRange* b, const detail::CodePointRange* e) {
  auto it = std::upper_bound(b, e, c, [](char32_t v, const detail::CodePointRange& r) { return v < r.first; });
  return it != b && c <= (it - 1)->last;
}

// Python's `\w` on str: alphanumeric (str.isalnum) or "_".
bool is_word(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return in_ranges(c, std::begin(detail::kWordRanges), std::end(detail::kWordRanges));
}

// Python's `\s` on str, which is also str.isspace and what str.strip() removes.
bool is_space(char32_t c) { return in_ranges(c, std::begin(detail::kSpaceRanges), std::end(detail::kSpaceRanges)); }

// The characters Tornado's URL pattern will not end a URL on (besides whitespace).
bool is_url_punct(char32_t c) {
  return c < 0x80 && std::u32string_view(U"!\"#$%&'()*+,.:;<=>?@[]^`{|}~").find(c) != std::u32string_view::npos;
}

// str.strip() on UTF-8: drops leading and trailing Unicode whitespace.
std::u32string strip(std::u32string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::u32string(s.substr(b, e - b));
}

std::u32string_view substr(std::u32string_view s, std::size_t pos, std::size_t n = std::u32string_view::npos) {
  return pos >= s.size() ? std::u32string_view() : s.substr(pos, n);
}

// Tornado's _URL_RE, matched by hand because std::regex has neither Python's Unicode classes nor
// its backtracking order:
//
//   \b((?:([\w-]+):(/{1,3})|www[.])(?:(?:(?:[^\s&()]|&amp;|&quot;)*(?:[^!"#$%&'()*+,.:;<=>?@\[\]^`{|}~\s]))|(?:\((?:[^\s&()]|&amp;|&quot;)*\)))+)
//
// Nothing follows the repeated body group, so once an iteration succeeds the engine never backs
// into it: the body is a greedy run of iterations, each taking the first alternative that
// matches. In the first alternative the token run (X*) backtracks until the next character is a
// permitted last character, which gives the last such character of the run.
class UrlMatcher {
 public:
  explicit UrlMatcher(std::u32string_view s) : s_(s) {}

  struct Match {
    std::size_t end;
    std::size_t proto_len;    // group 2 (0: the www. form)
    std::size_t slashes_len;  // group 3
  };

  std::optional<Match> match_at(std::size_t p) {
    const std::size_t n = s_.size();
    bool prev_word = p > 0 && is_word(s_[p - 1]);
    bool cur_word = p < n && is_word(s_[p]);
    if (prev_word == cur_word) return std::nullopt;  // \b
    // ([\w-]+): a shorter run would be followed by [\w-], not ':', so only the longest counts.
    // Every start inside one run shares its end, so it is found once per run.
    if (p >= run_end_ || p < run_start_) {
      run_start_ = p;
      run_end_ = p;
      while (run_end_ < n && (is_word(s_[run_end_]) || s_[run_end_] == U'-')) ++run_end_;
    }
    std::size_t j = run_end_;
    if (j > p && j < n && s_[j] == U':') {
      std::size_t k = j + 1, slashes = 0;
      while (slashes < 3 && k + slashes < n && s_[k + slashes] == U'/') ++slashes;
      // /{1,3} is greedy and gives back slashes if the body cannot match after them.
      for (std::size_t sl = slashes; sl >= 1; --sl)
        if (auto end = body(k + sl)) return Match{*end, j - p, sl};
    }
    if (s_.substr(p, 4) == U"www.")
      if (auto end = body(p + 4)) return Match{*end, 0, 0};
    return std::nullopt;
  }

 private:
  // One (?:[^\s&()]|&amp;|&quot;) token at i: its length, or 0.
  std::size_t token(std::size_t i) const {
    char32_t c = s_[i];
    if (c == U'&') {
      if (s_.substr(i, 5) == U"&amp;") return 5;
      if (s_.substr(i, 6) == U"&quot;") return 6;
      return 0;
    }
    if (is_space(c) || c == U'(' || c == U')') return 0;
    return 1;
  }

  std::optional<std::size_t> body(std::size_t pos) const {
    const std::size_t n = s_.size();
    bool matched = false;
    while (pos < n) {
      // First alternative: tokens, then one character that may end a URL. A multi-character
      // token starts with '&', which may not end one, so only one-character tokens qualify.
      std::size_t t = pos, last = std::u32string_view::npos;
      while (t < n) {
        std::size_t len = token(t);
        if (len == 0) break;
        if (len == 1 && !is_url_punct(s_[t])) last = t;
        t += len;
      }
      if (last != std::u32string_view::npos) {
        pos = last + 1;
        matched = true;
        continue;
      }
      // Second alternative: a parenthesized run of tokens.
      if (s_[pos] == U'(') {
        t = pos + 1;
        while (t < n) {
          std::size_t len = token(t);
          if (len == 0) break;
          t += len;
        }
        if (t < n && s_[t] == U')') {
          pos = t + 1;
          matched = true;
          continue;
        }
      }
      break;
    }
    if (!matched) return std::nullopt;
    return pos;
  }

  std::u32string_view s_;
  std::size_t run_start_ = 0, run_end_ = 0;
};

}  // namespace

std::string linkify(std::string_view text, const LinkifyOptions& options) {
  // Tornado HTML-escapes first, so that the output is safe, and its pattern then treats &amp;
  // and &quot; as parts of URLs.
  const std::u32string s = decode_utf8(xhtml_escape(text));

  std::u32string fixed_params;
  const auto* callback = std::get_if<1>(&options.extra_params);
  if (const auto* str = std::get_if<0>(&options.extra_params); str && !str->empty())
    fixed_params = U" " + strip(decode_utf8(*str));
  const bool use_callback = callback && *callback;

  auto make_link = [&](std::u32string_view url, std::u32string_view proto, std::size_t slashes_len) -> std::u32string {
    if (options.require_protocol && proto.empty()) return std::u32string(url);  // no protocol, no link
    if (!proto.empty()) {
      std::string p = encode_utf8(proto);
      if (std::find(options.permitted_protocols.begin(), options.permitted_protocols.end(), p) ==
          options.permitted_protocols.end())
        return std::u32string(url);  // a protocol not permitted, no link
    }
    std::u32string href = proto.empty() ? U"http://" + std::u32string(url) : std::u32string(url);
    std::u32string params = use_callback ? U" " + strip(decode_utf8((*callback)(encode_utf8(href)))) : fixed_params;

    std::u32string shown(url);
    // Long URLs are clipped; 30 is only an approximation of what fits.
    constexpr std::size_t max_len = 30;
    if (options.shorten && shown.size() > max_len) {
      const std::u32string before_clip = shown;
      std::size_t proto_len = proto.empty() ? 0 : proto.size() + 1 + slashes_len;  // +1 for ':'
      std::u32string_view rest = substr(before_clip, proto_len);
      std::size_t slash = rest.find(U'/');
      if (slash != std::u32string_view::npos) {
        // The whole host plus the first bit of the path: once shortened, the path says little
        // more than that the link was shortened. parts[1] is what lies before the next '/'.
        std::u32string_view host = rest.substr(0, slash);
        std::u32string_view part1 = rest.substr(slash + 1);
        part1 = part1.substr(0, part1.find(U'/'));
        part1 = substr(part1, 0, 8);
        part1 = part1.substr(0, part1.find(U'?'));
        part1 = part1.substr(0, part1.find(U'.'));
        shown = std::u32string(substr(before_clip, 0, proto_len)) + std::u32string(host) + U"/" + std::u32string(part1);
      }
      if (shown.size() * 2 > max_len * 3) shown.resize(max_len);  // still too long (len > max_len * 1.5)
      if (shown != before_clip) {
        // Do not cut an HTML entity in half.
        std::size_t amp = shown.rfind(U'&');
        if (amp != std::u32string::npos && amp > max_len - 5) shown.resize(amp);
        shown += U"...";
        if (shown.size() >= before_clip.size()) {
          shown = before_clip;
        } else {
          // The full URL shows on mouse-over.
          params += U" title=\"" + href + U"\"";
        }
      }
    }
    return U"<a href=\"" + href + U"\"" + params + U">" + shown + U"</a>";
  };

  std::u32string out;
  out.reserve(s.size() + s.size() / 4);
  UrlMatcher matcher(s);
  std::size_t i = 0;
  while (i < s.size()) {
    if (auto m = matcher.match_at(i)) {
      std::u32string_view url = std::u32string_view(s).substr(i, m->end - i);
      out += make_link(url, url.substr(0, m->proto_len), m->slashes_len);
      i = m->end;
    } else {
      out += s[i++];
    }
  }
  return encode_utf8(out);
}

}  // namespace tornado::escape
