module;
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "entities.inc"
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

}  // namespace tornado::escape
