// tornado.web:signing: signed values (create_signed_value / decode_signed_value, formats 1 and 2),
// Set-Cookie formatting and XSRF token masking, byte-compatible with Python Tornado 6.2.
//
// Values are bytes (std::string), as the bytes Tornado's functions take and return; text
// arguments (cookie names and values) are UTF-8. The cryptography (HMAC-SHA1, HMAC-SHA256, the
// random bytes) is OpenSSL's, used only in signing.cpp.
module;
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
export module tornado.web:signing;

export namespace tornado::web {

/// The signed-value format create_signed_value writes when no version is given: 2 (HMAC-SHA256,
/// length-prefixed fields, key versions). Mirrors tornado.web.DEFAULT_SIGNED_VALUE_VERSION.
inline constexpr int DEFAULT_SIGNED_VALUE_VERSION = 2;

/// The oldest signed-value format decode_signed_value accepts when no min_version is given: 1.
/// Mirrors tornado.web.DEFAULT_SIGNED_VALUE_MIN_VERSION.
inline constexpr int DEFAULT_SIGNED_VALUE_MIN_VERSION = 1;

/// The secret signed values are signed with: one secret, or a map from key version to secret
/// (for rotating keys: values are signed with the current key version's secret, and each value
/// records its key version so that older ones still verify). Converts implicitly from a string
/// and from a braced map, so calls read as Tornado's:
///
///     create_signed_value("It's a secret", "name", "value");
///     create_signed_value({{0, "old secret"}, {1, "new secret"}}, "name", "value", 2, {}, 1);
///
/// Secrets are bytes (a Python str secret is used as its UTF-8 encoding, the same bytes).
/// Mirrors the `cookie_secret` application setting (a str, bytes or dict of them).
class CookieSecret {
 public:
  /// No secret: the `cookie_secret` setting is not set (see empty()).
  CookieSecret() = default;
  /// One secret, for every key version.
  CookieSecret(std::string secret) : single_(std::move(secret)) {}
  /// @copydoc CookieSecret(std::string)
  CookieSecret(std::string_view secret) : single_(secret) {}
  /// @copydoc CookieSecret(std::string)
  CookieSecret(const char* secret) : single_(secret) {}
  /// Key version -> secret.
  CookieSecret(std::map<int, std::string> secrets) : versioned_(true), secrets_(std::move(secrets)) {}
  /// @copydoc CookieSecret(std::map<int, std::string>)
  CookieSecret(std::initializer_list<std::pair<const int, std::string>> secrets)
      : versioned_(true), secrets_(secrets) {}

  /// Whether no secret is set: an empty single secret or an empty map (Tornado's
  /// require_setting("cookie_secret") refuses both, as falsy values).
  bool empty() const noexcept { return versioned_ ? secrets_.empty() : single_.empty(); }
  /// Whether this is a key version -> secret map (Tornado: `isinstance(secret, dict)`).
  bool is_versioned() const noexcept { return versioned_; }
  /// The single secret ("" for a map).
  const std::string& secret() const noexcept { return single_; }
  /// The key version -> secret map (empty for a single secret).
  const std::map<int, std::string>& secrets() const noexcept { return secrets_; }
  /// The secret that signs values of `key_version`: the single secret whatever the version, or
  /// the map's entry. @returns null if the map has no such key version.
  const std::string* find(std::int64_t key_version) const noexcept;

 private:
  bool versioned_ = false;
  std::string single_;
  std::map<int, std::string> secrets_;
};

/// A clock for the signing functions: seconds since the Unix epoch. An empty function means the
/// system clock (Python's time.time). Mirrors the `clock` arguments of Tornado's functions.
using SigningClock = std::function<double()>;

/// Signs and timestamps `value` so it cannot be forged: the result holds the value
/// (base64-encoded), the time it was signed, `name` (format 2) and an HMAC signature.
///
/// Format 1: `base64value|timestamp|signature`, signed with HMAC-SHA1 over
/// name + base64value + timestamp (hex digest). Format 2: `2|1:k|10:timestamp|4:name|8:base64value|signature`
/// (each field length-prefixed, lengths and numbers in decimal), signed with HMAC-SHA256 over
/// everything before the signature. Byte for byte what Python Tornado 6.2 writes; the name's
/// length prefix counts characters, as Tornado's does.
///
/// @param secret       a single secret, or a key version -> secret map (format 2 only).
/// @param name         the cookie name the value is bound to (UTF-8).
/// @param value        any bytes.
/// @param version      1 or 2; nullopt: DEFAULT_SIGNED_VALUE_VERSION (2).
/// @param clock        seconds since the epoch; truncated to whole seconds. Empty: time.time.
/// @param key_version  the key version written into a format-2 value (nullopt: 0), and the map
///                     entry that signs it when `secret` is a map.
/// @returns the signed value (ASCII).
/// @throws std::invalid_argument for an unsupported version (Tornado: ValueError), a map secret
///         with format 1 or without key_version, a key_version the map lacks (Tornado:
///         AssertionError, KeyError), or a clock that is not finite.
/// @throws escape::UnicodeDecodeError if `name` is not UTF-8 (Tornado's names are str).
/// Mirrors tornado.web.create_signed_value.
std::string create_signed_value(const CookieSecret& secret, std::string_view name, std::string_view value,
                                std::optional<int> version = std::nullopt, const SigningClock& clock = {},
                                std::optional<int> key_version = std::nullopt);

/// Checks a value made by create_signed_value and returns what was signed, or nullopt if it does
/// not verify: a bad signature, a different `name`, older than `max_age_days`, an unparsable
/// value, an unknown key version, or a format below `min_version`. Format 1 values are also
/// refused (with a warning on gen_log, as Tornado logs them) when their timestamp lies more than
/// 31 days in the future or has a leading zero: the format-1 signature does not separate its
/// parts, so digits could move from the payload to the timestamp without changing it.
///
/// Follows Tornado 6.2 step by step (Python's int() rules for the numbers in the value, Python's
/// lenient base64 decoding of the payload). Where Tornado raises instead of returning None, this
/// returns nullopt: a format-1 value read with a map secret (Tornado: AssertionError, so a stray
/// cookie became a 500) and a correctly signed value whose timestamp is not a number.
///
/// @param value         the signed value; empty: nullopt.
/// @param max_age_days  how old (days, by `clock`) the signature may be.
/// @param clock         seconds since the epoch; empty: time.time.
/// @param min_version   1 or 2; nullopt: DEFAULT_SIGNED_VALUE_MIN_VERSION (1).
/// @throws std::invalid_argument if min_version is above 2 (Tornado: ValueError).
/// Mirrors tornado.web.decode_signed_value.
std::optional<std::string> decode_signed_value(const CookieSecret& secret, std::string_view name,
                                               std::string_view value, double max_age_days = 31,
                                               const SigningClock& clock = {},
                                               std::optional<int> min_version = std::nullopt);

/// The key version recorded in a format-2 signed value, without checking its signature.
/// @returns nullopt for a format-1 value, an unparsable one, or a key version beyond `int`.
/// Mirrors tornado.web.get_signature_key_version.
std::optional<int> get_signature_key_version(std::string_view value);

/// Compares two byte strings in time that depends only on their lengths, not on where they
/// differ, so a signature cannot be guessed byte by byte from response times.
/// Mirrors hmac.compare_digest, which Tornado uses for signatures and XSRF tokens.
bool compare_digest(std::string_view a, std::string_view b) noexcept;

// --- XSRF tokens -------------------------------------------------------------------------------

/// An XSRF token read from a cookie or a request argument: Tornado's (version, token,
/// timestamp) tuple. Mirrors the tuple RequestHandler._decode_xsrf_token returns.
struct XsrfToken {
  /// 1 (the bare hex token of old cookies, or any other string) or 2 (masked).
  int version = 2;
  /// The raw token: the random bytes (16 when Tornado or new_xsrf_token made them).
  std::string token;
  /// When the token was made, seconds since the epoch. Version 1 has no timestamp: the time of
  /// decoding is used, as Tornado does.
  std::int64_t timestamp = 0;
};

/// Makes a new raw XSRF token: 16 random bytes from the operating system's CSPRNG (OpenSSL's
/// RAND_bytes). Mirrors the os.urandom(16) of RequestHandler._get_raw_xsrf_token.
std::string new_xsrf_token();

/// Encodes a raw XSRF token for a cookie or a form field, as RequestHandler.xsrf_token does.
/// Version 2 (the default) is `2|mask|masked_token|timestamp`: a fresh random 4-byte mask, the
/// token XORed with it (both in lowercase hex) and the timestamp in whole seconds, so the
/// token's bytes differ in every response (which defeats BREACH-style compression attacks).
/// Version 1 is the token in lowercase hex.
/// @param timestamp  seconds since the epoch, truncated to whole seconds (version 2 only).
/// @throws std::invalid_argument for another version (Tornado: ValueError).
/// Mirrors the encoding part of tornado.web.RequestHandler.xsrf_token.
std::string encode_xsrf_token(std::string_view token, double timestamp, int version = 2);

/// encode_xsrf_token with a given mask instead of a random one (for tests and reproducible
/// output). Only the first 4 bytes of `mask` are used; a shorter one is padded with zero bytes.
/// @throws std::invalid_argument for a version other than 1 or 2.
std::string encode_xsrf_token(std::string_view token, double timestamp, int version, std::string_view mask);

/// Decodes an XSRF token from the `_xsrf` cookie or from the `_xsrf` argument / `X-XSRFToken`
/// header. A value starting with `2|` is version 2 (`2|mask|masked_token|timestamp`: exactly four
/// fields, hex mask and token); another leading `N|` version is unknown and refused; anything
/// else is version 1, whose token is its hex decoding, or the value itself when it is not hex.
///
/// Like Tornado's: the mask's first 4 bytes are used and a shorter mask counts as zero-padded
/// (what Tornado's C extension does); the timestamp follows Python's int() on ASCII (spaces
/// around it, `+`/`-`, `_` between digits). One difference: Python's int() on text also reads
/// non-ASCII digits and spaces, which are refused here.
///
/// @param clock  the time given to version-1 tokens; empty: time.time.
/// @returns nullopt where Tornado returns (None, None, None).
/// Mirrors tornado.web.RequestHandler._decode_xsrf_token.
std::optional<XsrfToken> decode_xsrf_token(std::string_view value, const SigningClock& clock = {});

/// The hidden form field that carries an encoded XSRF token:
/// `<input type="hidden" name="_xsrf" value="..."/>` with the token HTML-escaped.
/// Mirrors tornado.web.RequestHandler.xsrf_form_html.
std::string xsrf_form_html(std::string_view encoded_token);

// --- Set-Cookie --------------------------------------------------------------------------------

/// Raised by format_set_cookie for a name Python's http.cookies refuses: a reserved attribute
/// name (`Path`, `expires`, `Max-Age`... in any case), an empty name, or one with characters
/// outside `A-Za-z0-9!#$%&'*+-.^_`|~:`. Mirrors http.cookies.CookieError.
class CookieError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The attributes of a Set-Cookie header, named as the arguments of RequestHandler.set_cookie
/// (and the Morsel attributes it passes on), so that a call reads as Tornado's:
/// `format_set_cookie("foo", "bar", {.max_age = 10, .httponly = true})`.
struct CookieOptions {
  /// `Domain=`; nullopt or empty: none.
  std::optional<std::string> domain;
  /// `expires=` (seconds since the epoch, written as an HTTP date). nullopt or 0: none (0 is
  /// "false" to Tornado too).
  std::optional<double> expires;
  /// `Path=`; empty: none.
  std::string path = "/";
  /// Sets `expires` to now plus this many days when `expires` is not given.
  std::optional<double> expires_days;
  /// `Max-Age=` in seconds (0 included).
  std::optional<long long> max_age;
  /// `HttpOnly` when true.
  bool httponly = false;
  /// `Secure` when true.
  bool secure = false;
  /// `SameSite=` ("Strict", "Lax", "None"); nullopt or empty: none.
  std::optional<std::string> samesite;
  /// `Comment=`, quoted as a cookie value is; empty: none.
  std::string comment;
  /// `Version=`; empty: none.
  std::string version;
};

/// Formats the value of a Set-Cookie header as RequestHandler.set_cookie produces it through
/// Python's http.cookies: `name=value` (the value double-quoted when it has characters outside
/// `A-Za-z0-9!#$%&'*+-.^_`|~:` or is empty, with `"` and `\` backslash-escaped and characters
/// U+0000-U+00FF outside the safe set written as `\ooo` octal escapes), then the attributes in
/// http.cookies' order: Comment, Domain, expires, HttpOnly, Max-Age, Path, SameSite, Secure,
/// Version. For example `foo="a;b"; Domain=example.com; expires=Sat, 01 Jan 2000 00:00:00 GMT; Path=/`.
///
/// @param name   the cookie name (UTF-8).
/// @param value  the cookie value (UTF-8); "" for a cookie being cleared.
/// @param now    the time `expires_days` counts from, seconds since the epoch; nullopt: now.
/// @throws std::invalid_argument if name or value contains a character from 0x00 to 0x20
///         (Tornado's ValueError "Invalid cookie"), if domain, path, samesite or version contains
///         one from 0x00 to 0x1f (Tornado's "Unsafe header value", raised when the header is
///         added), or escape::UnicodeDecodeError if name, value or comment is not UTF-8.
/// @throws CookieError for a name http.cookies refuses (reserved or illegal).
/// Mirrors tornado.web.RequestHandler.set_cookie with http.cookies.Morsel.OutputString.
std::string format_set_cookie(std::string_view name, std::string_view value, const CookieOptions& options = {},
                              std::optional<double> now = std::nullopt);

}  // namespace tornado::web
