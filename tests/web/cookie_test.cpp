// Tests of RequestHandler's cookie, signed-cookie and XSRF methods beyond the ports of
// web_test.py (CookieTest, ClearAllCookiesTest, XSRFTest, XSRFCookieKwargsTest and
// ErrorHandlerXSRFTest are in web_test.cpp; the :signing functions in signing_test.cpp):
// invalid and unsafe cookies, the request cookies Tornado drops because http.cookies refuses
// their names, the order replaced cookies are sent in, the XSRF cookie being set only for a new
// token, signed cookies through requests (formats, tampering, key versions, the cookie_secret
// requirement), xsrf_form_html, and a login flow with signed cookies behind XSRF protection.
#define BOOST_TEST_MODULE web_cookies
#include <tornado/testing.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

import tornado.web;
import tornado.routing;
import tornado.httputil;
import tornado.httpclient;
import tornado.escape;
import tornado.log;

using namespace tornado;
using tornado::testing::ExpectLog;
using tornado::testing::FetchOptions;

namespace {

// An Application made of get_handlers() and get_app_kwargs(). Mirrors web_test.WebTestCase.
struct WebTestCase : tornado::testing::AsyncHTTPTestCase {
  virtual std::vector<routing::Rule> get_handlers() = 0;
  virtual web::Settings get_app_kwargs() { return {}; }
  std::unique_ptr<web::Application> get_app() override {
    return std::make_unique<web::Application>(get_handlers(), get_app_kwargs());
  }
};

// One handler at "/". Mirrors web_test.SimpleHandlerTestCase.
template <class H>
struct SimpleHandlerTestCase : WebTestCase {
  std::vector<routing::Rule> get_handlers() override { return {{"/", web::handler<H>()}}; }
};

std::vector<std::string> set_cookies(const httpclient::HTTPResponse& response) {
  std::vector<std::string> out;
  for (auto v : response.headers.get_list("Set-Cookie")) out.emplace_back(v);
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

using Strings = std::vector<std::string>;

// The date of an `expires=` attribute, as seconds since the epoch.
double expires_of(const std::string& header) {
  std::smatch match;
  BOOST_REQUIRE_MESSAGE(std::regex_search(header, match, std::regex("expires=([^;]+)")), header);
  auto t = httputil::parse_http_date(match[1].str());
  BOOST_REQUIRE(t.has_value());
  return *t;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CookieExtrasTest

namespace {
struct GetCookieHandler : web::RequestHandler {
  void get() { write(get_cookie("foo").value_or("default")); }
};
struct ClearAllCookiesHandler : web::RequestHandler {
  void get() {
    clear_all_cookies();
    write("ok");
  }
};
struct SetCookieOverwriteHandler : web::RequestHandler {
  void get() {
    set_cookie("a", "b", {.domain = "example.com"});
    set_cookie("c", "d", {.domain = "example.com"});
    set_cookie("a", "e");
  }
};
// Invalid names and values raise in the handler (a 500), before anything is sent.
struct SetCookieInvalidHandler : web::RequestHandler {
  void get() {
    std::string which = get_argument("which");
    if (which == "value") set_cookie("a", "b c");
    else if (which == "name") set_cookie("a=b", "c");
    else if (which == "reserved") set_cookie("Path", "c");
    else set_cookie("a", "b", {.domain = "example.com\r\nX-Injected: 1"});
  }
};
struct XSRFTokenHandler : web::RequestHandler {
  void get() { write(xsrf_token()); }
};

struct CookieExtrasTest : WebTestCase {
  std::vector<routing::Rule> get_handlers() override {
    return {
        {"/get", web::handler<GetCookieHandler>()},
        {"/clear_all", web::handler<ClearAllCookiesHandler>()},
        {"/set_overwrite", web::handler<SetCookieOverwriteHandler>()},
        {"/set_invalid", web::handler<SetCookieInvalidHandler>()},
        {"/xsrf", web::handler<XSRFTokenHandler>()},
    };
  }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(CookieExtrasTestSuite)

BOOST_FIXTURE_TEST_CASE(test_set_cookie_invalid, CookieExtrasTest) {
  for (std::string which : {"value", "name", "reserved", "unsafe_domain"}) {
    ExpectLog expect(log::app_log(), "Uncaught exception");
    auto response = fetch("/set_invalid?which=" + which);
    BOOST_TEST(response.code == 500);
    BOOST_TEST(set_cookies(response).empty());
    BOOST_TEST(!response.headers.get("X-Injected").has_value());
  }
}

// Tornado loads request cookies into a SimpleCookie, which refuses some names that parse_cookie
// accepts: those cookies are dropped, the others kept, and clear_all_cookies does not trip on them.
BOOST_FIXTURE_TEST_CASE(test_request_cookie_names, CookieExtrasTest) {
  BOOST_TEST(fetch("/get", {.headers = httputil::HTTPHeaders({{"Cookie", "foo=bar; /=x"}})}).body == "bar");
  BOOST_TEST(fetch("/get", {.headers = httputil::HTTPHeaders({{"Cookie", "Path=/; foo=baz"}})}).body == "baz");
  auto response = fetch("/clear_all", {.headers = httputil::HTTPHeaders({{"Cookie", "/=x; foo=bar; expires=1"}})});
  BOOST_TEST(response.code == 200);
  auto headers = set_cookies(response);
  BOOST_REQUIRE(headers.size() == 1u);
  BOOST_TEST(headers[0].starts_with("foo=\"\"; expires="));
}

// A cookie set again is sent last, without its old attributes, as Tornado's dict of outgoing
// cookies (delete, then insert) sends it.
BOOST_FIXTURE_TEST_CASE(test_set_cookie_overwrite_order, CookieExtrasTest) {
  BOOST_TEST(set_cookies(fetch("/set_overwrite")) == (Strings{"c=d; Domain=example.com; Path=/", "a=e; Path=/"}));
}

// A new token comes with its cookie; a valid cookie is reused without setting a new one.
BOOST_FIXTURE_TEST_CASE(test_xsrf_cookie_set_once, CookieExtrasTest) {
  auto fresh = fetch("/xsrf");
  auto headers = set_cookies(fresh);
  BOOST_REQUIRE(headers.size() == 1u);
  BOOST_TEST(headers[0] == "_xsrf=" + fresh.body + "; Path=/");
  auto again = fetch("/xsrf", {.headers = httputil::HTTPHeaders({{"Cookie", "_xsrf=" + fresh.body}})});
  BOOST_TEST(set_cookies(again).empty());
  BOOST_TEST(again.body != fresh.body);
  BOOST_TEST(web::decode_xsrf_token(again.body).value().token == web::decode_xsrf_token(fresh.body).value().token);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// Signed cookies through a handler

namespace {
struct SignedCookieHandler : web::RequestHandler {
  void get() {
    if (auto value = get_argument("set", std::nullopt)) {
      auto version = get_argument("version", std::nullopt);
      set_signed_cookie("foo", *value, 30, version ? std::optional<int>(std::stoi(*version)) : std::nullopt);
      return;
    }
    auto value = get_signed_cookie("foo");
    auto key_version = get_signed_cookie_key_version("foo");
    write(boost::json::object{{"value", value ? boost::json::value(*value) : nullptr},
                              {"key_version", key_version ? boost::json::value(*key_version) : nullptr},
                              {"secure_alias", get_secure_cookie("foo") == value}});
  }
};
struct FormHandler : web::RequestHandler {
  void get() { write(xsrf_form_html()); }
};

struct SignedCookieTest : WebTestCase {
  std::vector<routing::Rule> get_handlers() override {
    return {{"/", web::handler<SignedCookieHandler>()}, {"/form", web::handler<FormHandler>()}};
  }
  web::Settings get_app_kwargs() override {
    web::Settings s;
    s.cookie_secret = secret;
    s.key_version = key_version;
    return s;
  }
  // The cookie's value from a response's Set-Cookie header, without the double quotes
  // http.cookies puts around a value with characters such as "=" (base64 padding).
  static std::string cookie_value(const httpclient::HTTPResponse& response) {
    auto header = response.headers.get("Set-Cookie");
    BOOST_REQUIRE(header.has_value());
    auto eq = header->find('='), semi = header->find(';');
    std::string value = header->substr(eq + 1, semi - eq - 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  boost::json::object read(const std::string& cookie) {
    auto response = fetch("/", {.headers = httputil::HTTPHeaders({{"Cookie", "foo=" + cookie}})});
    response.rethrow();
    return boost::json::parse(response.body).as_object();
  }
  web::CookieSecret secret = "0123456789";
  std::optional<int> key_version;
};
struct VersionedSignedCookieTest : SignedCookieTest {
  VersionedSignedCookieTest() {
    secret = web::CookieSecret{{0, "ajklasdf0ojaisdf"}, {1, "aslkjasaolwkjsdf"}};
    key_version = 1;
  }
};
struct NoSecretTest : SignedCookieTest {
  NoSecretTest() { secret = web::CookieSecret(); }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(SignedCookieTestSuite)

BOOST_FIXTURE_TEST_CASE(test_round_trip, SignedCookieTest) {
  auto response = fetch("/?set=hello%20world");
  std::string cookie = cookie_value(response);
  BOOST_TEST(cookie.starts_with("2|1:0|10:"));
  // The base64 of "hello world" ends in "=", so the value is quoted, as Tornado's is.
  BOOST_TEST(response.headers.get("Set-Cookie").value().starts_with("foo=\"2|1:0|10:"));
  // Signed cookies last 30 days in the browser by default.
  double expected = static_cast<double>(std::time(nullptr)) + 30 * 86400;
  BOOST_TEST(std::abs(expires_of(*response.headers.get("Set-Cookie")) - expected) < 10);
  auto read_back = read(cookie);
  BOOST_TEST(read_back.at("value").as_string() == "hello world");
  BOOST_TEST(read_back.at("key_version").as_int64() == 0);
  BOOST_TEST(read_back.at("secure_alias").as_bool());
  // The server's secret decodes it outside a handler too.
  BOOST_TEST(web::decode_signed_value("0123456789", "foo", cookie).value_or("<none>") == "hello world");
}

BOOST_FIXTURE_TEST_CASE(test_version_1, SignedCookieTest) {
  std::string cookie = cookie_value(fetch("/?set=abc&version=1"));
  BOOST_TEST(!cookie.starts_with("2|"));
  BOOST_TEST(read(cookie).at("value").as_string() == "abc");
  BOOST_TEST(read(cookie).at("key_version").is_null());
}

BOOST_FIXTURE_TEST_CASE(test_tampered, SignedCookieTest) {
  std::string cookie = cookie_value(fetch("/?set=abc"));
  cookie.back() = cookie.back() == '0' ? '1' : '0';
  BOOST_TEST(read(cookie).at("value").is_null());
  // No cookie at all.
  auto response = fetch("/");
  BOOST_TEST(boost::json::parse(response.body).at("value").is_null());
}

BOOST_FIXTURE_TEST_CASE(test_key_version_setting, VersionedSignedCookieTest) {
  std::string cookie = cookie_value(fetch("/?set=abc"));
  BOOST_TEST(cookie.starts_with("2|1:1|"));
  auto read_back = read(cookie);
  BOOST_TEST(read_back.at("value").as_string() == "abc");
  BOOST_TEST(read_back.at("key_version").as_int64() == 1);
  // A value signed with key version 0 of the same map still reads.
  std::string old = web::create_signed_value(secret, "foo", "old", 2, {}, 0);
  BOOST_TEST(read(old).at("value").as_string() == "old");
}

BOOST_FIXTURE_TEST_CASE(test_cookie_secret_required, NoSecretTest) {
  ExpectLog expect(log::app_log(), "Uncaught exception");
  auto response = fetch("/?set=abc");
  BOOST_TEST(response.code == 500);
  BOOST_TEST(!response.headers.get("Set-Cookie").has_value());
}

BOOST_FIXTURE_TEST_CASE(test_xsrf_form_html, SignedCookieTest) {
  auto response = fetch("/form");
  std::smatch match;
  BOOST_REQUIRE(std::regex_match(response.body, match,
                                 std::regex(R"re(<input type="hidden" name="_xsrf" value="(2\|[0-9a-f]{8}\|[0-9a-f]{32}\|[0-9]+)"/>)re")));
  // The form's token is the cookie's token, masked differently.
  auto cookie = response.headers.get("Set-Cookie");
  BOOST_REQUIRE(cookie.has_value());
  std::string cookie_token = cookie->substr(6, cookie->find(';') - 6);
  BOOST_TEST(web::decode_xsrf_token(match[1].str()).value().token == web::decode_xsrf_token(cookie_token).value().token);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// A login flow: signed cookies behind XSRF protection

namespace {
struct LoginHandler : web::RequestHandler {
  void post() {
    set_signed_cookie("user", get_argument("name"));  // signed with the cookie_secret setting
    redirect("/");
  }
};

struct HomeHandler : web::RequestHandler {
  std::optional<std::string> get_current_user() override { return get_signed_cookie("user"); }
  void get() {
    if (!current_user()) {
      write("<form action=\"/login\" method=\"post\">" + xsrf_form_html() +
            "<input name=\"name\"><input type=\"submit\"></form>");
      return;
    }
    write("Hello, " + escape::xhtml_escape(*current_user()));
  }
};

std::unique_ptr<web::Application> make_cookie_app() {
  web::Settings settings;
  settings.cookie_secret = "__TODO:_GENERATE_YOUR_OWN_RANDOM_VALUE_HERE__";
  settings.xsrf_cookies = true;  // every POST must carry the _xsrf token
  return std::make_unique<web::Application>(
      std::vector<routing::Rule>{{"/", web::handler<HomeHandler>()}, {"/login", web::handler<LoginHandler>()}},
      settings);
}

struct LoginFlowTestCase : tornado::testing::AsyncHTTPTestCase {
  std::unique_ptr<web::Application> get_app() override { return make_cookie_app(); }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(LoginFlowTest)

BOOST_FIXTURE_TEST_CASE(test_login_flow, LoginFlowTestCase) {
  auto page = fetch("/");
  std::smatch match;
  BOOST_REQUIRE(std::regex_search(page.body, match, std::regex(R"re(name="_xsrf" value="([^"]+)")re")));
  std::string form_token = match[1].str();
  std::string xsrf_cookie = page.headers.get("Set-Cookie").value();
  xsrf_cookie = xsrf_cookie.substr(0, xsrf_cookie.find(';'));
  // Without the token the login is refused; with it the user cookie is set.
  {
    ExpectLog expect(log::gen_log(), ".*'_xsrf' argument missing");
    BOOST_TEST(fetch("/login", {.method = "POST", .body = "name=ann"}).code == 403);
  }
  auto login = fetch("/login", {.method = "POST",
                                .body = escape::urlencode({{"name", "ann"}, {"_xsrf", form_token}}),
                                .headers = httputil::HTTPHeaders({{"Cookie", xsrf_cookie}}),
                                .follow_redirects = false});
  BOOST_TEST(login.code == 302);
  std::string user_cookie = login.headers.get("Set-Cookie").value();
  user_cookie = user_cookie.substr(0, user_cookie.find(';'));
  BOOST_TEST(user_cookie.starts_with("user=2|1:0|10:"));
  BOOST_TEST(fetch("/", {.headers = httputil::HTTPHeaders({{"Cookie", user_cookie}})}).body == "Hello, ann");
  // A forged cookie is nobody.
  BOOST_TEST(fetch("/", {.headers = httputil::HTTPHeaders({{"Cookie", "user=ann"}})}).body.starts_with("<form"));
}

BOOST_AUTO_TEST_SUITE_END()
