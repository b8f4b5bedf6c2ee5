// tornado.escape: escaping and unescaping for HTML, URLs and JSON. Mirrors tornado.escape.
// Strings are bytes (std::string holding UTF-8), as Tornado's utf8() values.
module;
#include <cstddef>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>
#include <boost/json.hpp>
export module tornado.escape;

export namespace tornado::escape {

/// Raised when text is not valid Unicode. Derives from std::invalid_argument as Python's
/// UnicodeError derives from ValueError. Mirrors Python's UnicodeError.
class UnicodeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Raised by to_unicode (and everything that reads bytes as UTF-8 text: linkify) when the bytes
/// are not valid UTF-8, with the message Python's decoder gives ("'utf-8' codec can't decode
/// byte 0xe9 in position 0: invalid continuation byte"). Mirrors Python's UnicodeDecodeError.
class UnicodeDecodeError : public UnicodeError {
 public:
  /// @param position  offset of the first offending byte in the input, in bytes.
  UnicodeDecodeError(const std::string& what, std::size_t position) : UnicodeError(what), position_(position) {}
  /// The offset of the first offending byte, in bytes (Python's `start`).
  std::size_t position() const noexcept { return position_; }

 private:
  std::size_t position_;
};

/// Raised by utf8 when text cannot be encoded as UTF-8: a lone surrogate or a value past U+10FFFF
/// in UTF-16/UTF-32 input, or a malformed sequence in char8_t input. Mirrors Python's
/// UnicodeEncodeError ("surrogates not allowed").
class UnicodeEncodeError : public UnicodeError {
 public:
  using UnicodeError::UnicodeError;
};

/// Returns the bytes unchanged: a byte string is already what utf8 produces, and Tornado's
/// utf8(bytes) does not look inside it either (use to_unicode to check that bytes are valid
/// UTF-8). Mirrors tornado.escape.utf8 given bytes.
std::string utf8(std::string_view value);

/// Encodes text as UTF-8. `char8_t` text is checked to be well-formed UTF-8 (as Python's str
/// always is); UTF-16 surrogate pairs are combined. Mirrors tornado.escape.utf8 given a str.
/// @throws UnicodeEncodeError on a lone surrogate, a code point past U+10FFFF, or (char8_t input)
///         a malformed sequence.
std::string utf8(std::u8string_view value);
/// @copydoc utf8(std::u8string_view)
std::string utf8(std::u16string_view value);
/// @copydoc utf8(std::u8string_view)
std::string utf8(std::u32string_view value);

/// Checks that `value` is UTF-8 and returns it unchanged: the project's text type is a
/// std::string holding UTF-8, so "decoding" is validation. Strict as Python's "utf-8" codec:
/// overlong forms, surrogates (U+D800-U+DFFF), code points past U+10FFFF and truncated
/// sequences are rejected.
/// @throws UnicodeDecodeError, as Python's bytes.decode("utf-8") raises it.
/// Mirrors tornado.escape.to_unicode given bytes (to_unicode(None) has no C++ counterpart).
std::string to_unicode(std::string_view value);

/// Same as to_unicode. Mirrors tornado.escape.native_str.
std::string native_str(std::string_view value);

/// Same as to_unicode. Mirrors tornado.escape.to_basestring.
std::string to_basestring(std::string_view value);

// tornado.escape.recursive_unicode has no counterpart: it walks Python lists, tuples and dicts
// turning bytes into str, and here bytes and text are the same std::string.

/// The options of linkify, named as Tornado's keyword arguments, so a call reads as Tornado's:
/// `linkify(text, {.shorten = true, .require_protocol = true})`.
struct LinkifyOptions {
  /// Long URLs (over 30 characters) are shortened for display; the full URL goes in a `title`.
  bool shorten = false;
  /// Extra text for the `<a>` tag: a string (`rel="nofollow" class="external"`), or a function
  /// given the link's href that returns that text. Either is stripped of surrounding
  /// whitespace and written after one space. An empty string, or an empty function, adds
  /// nothing.
  std::variant<std::string, std::function<std::string(const std::string& href)>> extra_params;
  /// Only URLs that include a protocol are linked; `www.example.com` is then left as text.
  bool require_protocol = false;
  /// The protocols that are linked; others are left as text. Including `javascript` is unsafe.
  std::vector<std::string> permitted_protocols = {"http", "https"};
};

/// Converts plain text into HTML with links: the text is HTML-escaped, then every URL
/// (`http://...`, `www....`) becomes `<a href="...">...</a>`; a URL without a protocol gets
/// `http://` in its href. Tornado's exact algorithm and URL pattern, on Unicode code points
/// (Python's `\w`, `\s` and ``), so the output is the same as Tornado's for any text.
/// @param text     UTF-8 text.
/// @throws UnicodeDecodeError if `text` is not valid UTF-8 (Tornado decodes it first too).
/// Mirrors tornado.escape.linkify.
std::string linkify(std::string_view text, const LinkifyOptions& options = {});

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
