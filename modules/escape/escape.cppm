// tornado.escape: escaping and unescaping for HTML, URLs and JSON. Mirrors tornado.escape.
// Strings are bytes (std::string holding UTF-8), as Tornado's utf8() values.
module;
#include <map>
#include <string>
#include <string_view>
#include <vector>
#include <boost/json.hpp>
export module tornado.escape;

export namespace tornado::escape {

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML and XML. Mirrors tornado.escape.xhtml_escape.
std::string xhtml_escape(std::string_view value);

/// Un-escapes an XML-escaped string: `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;`, numeric
/// references (`&#62;`, `&#x3e;`) and HTML's named entities. Unknown entities are left as they
/// are. Mirrors tornado.escape.xhtml_unescape.
std::string xhtml_unescape(std::string_view value);

/// Percent-encodes `value` for a URL. With `plus` (the default) spaces become `+` and `/` is
/// encoded too (for query strings); without it, spaces become `%20` and `/` stays (for paths).
/// Mirrors tornado.escape.url_escape (urllib's quote_plus / quote).
std::string url_escape(std::string_view value, bool plus = true);

/// Decodes a percent-encoded URL component; with `plus`, `+` also becomes a space. Invalid
/// escapes are kept literally, as Python's unquote does. Mirrors tornado.escape.url_unescape
/// (with encoding=None: the bytes).
std::string url_unescape(std::string_view value, bool plus = true);

/// A parsed query string: each name with its values in order. Mirrors the dict parse_qs returns.
using QueryArguments = std::map<std::string, std::vector<std::string>, std::less<>>;

/// Parses `application/x-www-form-urlencoded` data (a query string): pairs split on `&`, `+` as
/// space, percent-decoding of names and values. Pairs without a value are dropped unless
/// `keep_blank_values`. Linear in the input. Mirrors tornado.escape.parse_qs_bytes.
/// @throws std::invalid_argument with `strict_parsing` on a pair without `=`.
QueryArguments parse_qs_bytes(std::string_view qs, bool keep_blank_values = false, bool strict_parsing = false);

/// Like parse_qs_bytes but keeps the pairs in order, duplicates included. Mirrors parse_qsl.
std::vector<std::pair<std::string, std::string>> parse_qsl(std::string_view qs, bool keep_blank_values = false,
                                                           bool strict_parsing = false);

/// Encodes pairs as a query string (`a=1&b=x+y`). Mirrors urllib.parse.urlencode.
std::string urlencode(const std::vector<std::pair<std::string, std::string>>& pairs);

/// Serializes a JSON value; `</` is written `<\/` so the result is safe inside a `<script>` tag.
/// Mirrors tornado.escape.json_encode.
std::string json_encode(const boost::json::value& value);

/// Parses JSON. @throws boost::system::system_error on malformed input.
/// Mirrors tornado.escape.json_decode.
boost::json::value json_decode(std::string_view value);

/// Replaces every run of whitespace and control characters (bytes 0x00 to 0x20) with one space
/// and trims the ends.
/// Mirrors tornado.escape.squeeze.
std::string squeeze(std::string_view value);

}  // namespace tornado::escape
