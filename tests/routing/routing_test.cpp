// Tests of tornado.routing: ports of tornado/test/routing_test.py by class and test name, plus the
// matchers' own behaviour (anchoring, named groups, literal paths, reversing).
//
// Adapted: handlers named by a string ("tornado.test.routing_test.SecondHandler") are given as
// handler factories; WSGIContainerTestCase's WSGI app is a plain request callback (there is no
// WSGI in C++), which is the same kind of target Tornado's WSGIContainer is.
#define BOOST_TEST_MODULE routing
#include <tornado/testing.hpp>

#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

import tornado.web;
import tornado.routing;
import tornado.httputil;
import tornado.httpclient;

using namespace tornado;
using tornado::testing::FetchOptions;
using routing::Rule;

namespace {

httputil::HTTPServerRequest make_request(std::string method, std::string uri, httputil::HTTPHeaders headers = {}) {
  return httputil::HTTPServerRequest(std::move(method), std::move(uri), "HTTP/1.1", std::move(headers));
}

// Answers "OK" on the connection. Mirrors BasicRouter's MessageDelegate.
class OKDelegate : public httputil::HTTPMessageDelegate {
 public:
  explicit OKDelegate(httputil::HTTPConnection* conn, bool separate_write = false)
      : conn_(conn), separate_write_(separate_write) {}
  std::optional<Future<void>> headers_received(const httputil::StartLine&, httputil::HTTPHeaders) override {
    return std::nullopt;
  }
  std::optional<Future<void>> data_received(std::string) override { return std::nullopt; }
  void finish() override {
    if (separate_write_) {
      (void)conn_->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"},
                                 httputil::HTTPHeaders{{"Content-Length", "2"}});
      (void)conn_->write("OK");
    } else {
      (void)conn_->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"},
                                 httputil::HTTPHeaders{{"Content-Length", "2"}}, "OK");
    }
    conn_->finish();
  }
  void on_connection_close() override {}

 private:
  httputil::HTTPConnection* conn_;
  bool separate_write_;
};

class BasicRouter : public routing::Router {
 public:
  std::unique_ptr<httputil::HTTPMessageDelegate> find_handler(
      const std::shared_ptr<httputil::HTTPServerRequest>& request) override {
    return std::make_unique<OKDelegate>(request->connection);
  }
};

struct BasicRouterTestCase : tornado::testing::AsyncHTTPTestCase {
  std::unique_ptr<httputil::HTTPServerConnectionDelegate> get_server_delegate() override {
    return std::make_unique<BasicRouter>();
  }
};

// ---------------------------------------------------------------------------------------------

std::map<std::string, std::string>& resources() {
  static std::map<std::string, std::string> r;
  return r;
}

struct GetResource : web::RequestHandler {
  void get(std::string path) {
    auto it = resources().find(path);
    if (it == resources().end()) throw web::HTTPError(404);
    finish(it->second);
  }
};

struct PostResource : web::RequestHandler {
  void post(std::string path) { resources()[path] = request().body; }
};

class HTTPMethodRouter : public routing::Router {
 public:
  HTTPMethodRouter() : app_(std::make_unique<web::Application>()) {}
  std::unique_ptr<httputil::HTTPMessageDelegate> find_handler(
      const std::shared_ptr<httputil::HTTPServerRequest>& request) override {
    const auto& factory = request->method == "GET" ? *get_ : *post_;
    routing::MatchResult params;
    params.path_args.emplace_back(request->path);
    return app_->get_handler_delegate(request, factory, std::move(params));
  }

 private:
  std::unique_ptr<web::Application> app_;
  std::shared_ptr<web::HandlerFactory> get_ = web::handler<GetResource>();
  std::shared_ptr<web::HandlerFactory> post_ = web::handler<PostResource>();
};

struct HTTPMethodRouterTestCase : tornado::testing::AsyncHTTPTestCase {
  std::unique_ptr<httputil::HTTPServerConnectionDelegate> get_server_delegate() override {
    return std::make_unique<HTTPMethodRouter>();
  }
};

// ---------------------------------------------------------------------------------------------

template <const char* Name>
struct NamedHandler : web::RequestHandler {
  void get() {
    const auto& extra = application().settings().extra;
    if (auto it = extra.find("app_name"); it != extra.end()) write(it->second + ": ");
    finish(std::string(Name) + ": " + reverse_url(Name));
  }
};
constexpr char first_handler[] = "first_handler";
constexpr char second_handler[] = "second_handler";
constexpr char nested_handler[] = "nested_handler";
using FirstHandler = NamedHandler<first_handler>;
using SecondHandler = NamedHandler<second_handler>;

class CustomRouter : public routing::ReversibleRouter {
 public:
  void add_routes(std::map<std::string, std::pair<web::Application*, std::shared_ptr<web::HandlerFactory>>> routes) {
    for (auto& r : routes) routes_.insert(std::move(r));
  }
  std::unique_ptr<httputil::HTTPMessageDelegate> find_handler(
      const std::shared_ptr<httputil::HTTPServerRequest>& request) override {
    auto it = routes_.find(request->path);
    if (it == routes_.end()) return nullptr;
    return it->second.first->get_handler_delegate(request, *it->second.second);
  }
  std::optional<std::string> reverse_url(std::string_view name, const std::vector<std::string>& = {}) override {
    std::string path = "/" + std::string(name);
    if (routes_.contains(path)) return path;
    return std::nullopt;
  }

 private:
  std::map<std::string, std::pair<web::Application*, std::shared_ptr<web::HandlerFactory>>> routes_;
};

class CustomApplication : public web::Application {
 public:
  CustomApplication(CustomRouter& router, web::Settings settings) : web::Application({}, std::move(settings)), router_(router) {}
  std::optional<std::string> reverse_url(std::string_view name, const std::vector<std::string>& args = {}) override {
    return router_.reverse_url(name, args);
  }

 private:
  CustomRouter& router_;
};

web::Settings named_app(std::string name) {
  web::Settings s;
  s.extra["app_name"] = std::move(name);
  return s;
}

// The router owns the two applications it routes to.
class CustomRouterWithApps : public CustomRouter {
 public:
  CustomRouterWithApps()
      : app1_(std::make_unique<CustomApplication>(*this, named_app("app1"))),
        app2_(std::make_unique<CustomApplication>(*this, named_app("app2"))) {
    add_routes({{"/first_handler", {app1_.get(), web::handler<FirstHandler>()}},
                {"/second_handler", {app2_.get(), web::handler<SecondHandler>()}},
                {"/first_handler_second_app", {app2_.get(), web::handler<FirstHandler>()}}});
  }

 private:
  std::unique_ptr<CustomApplication> app1_, app2_;
};

struct CustomRouterTestCase : tornado::testing::AsyncHTTPTestCase {
  std::unique_ptr<httputil::HTTPServerConnectionDelegate> get_server_delegate() override {
    return std::make_unique<CustomRouterWithApps>();
  }
};

// ---------------------------------------------------------------------------------------------

class ConnectionDelegate : public httputil::HTTPServerConnectionDelegate {
 public:
  std::unique_ptr<httputil::HTTPMessageDelegate> start_request(const void*, httputil::HTTPConnection* conn) override {
    return std::make_unique<OKDelegate>(conn, true);
  }
};

struct RuleRouterTest : tornado::testing::AsyncHTTPTestCase {
  std::unique_ptr<web::Application> get_app() override {
    auto app = std::make_unique<web::Application>();
    auto request_callable = [](httputil::HTTPServerRequest& request) {
      (void)request.connection->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"},
                                              httputil::HTTPHeaders{{"Content-Length", "2"}});
      (void)request.connection->write("OK");
      request.connection->finish();
    };
    auto router = std::make_shared<CustomRouter>();
    router->add_routes({{"/nested_handler", {app.get(), web::handler<NamedHandler<nested_handler>>()}}});
    app->add_handlers(
        ".*", {
                  Rule(std::make_shared<routing::HostMatches>("www.example.com"),
                       std::vector<Rule>{Rule(std::make_shared<routing::PathMatches>("/first_handler"),
                                              web::handler<SecondHandler>(), "second_handler")}),
                  Rule(std::make_shared<routing::PathMatches>("/.*handler"), router),
                  Rule(std::make_shared<routing::PathMatches>("/first_handler"), web::handler<FirstHandler>(),
                       "first_handler"),
                  Rule(std::make_shared<routing::PathMatches>("/request_callable"), request_callable),
                  Rule("/connection_delegate", std::make_shared<ConnectionDelegate>()),
              });
    return app;
  }
};

// ---------------------------------------------------------------------------------------------

struct ReverseHandler : web::RequestHandler {
  void get() { finish(reverse_url("tornado")); }
};

struct WSGIContainerTestCase : tornado::testing::AsyncHTTPTestCase {
  std::unique_ptr<httputil::HTTPServerConnectionDelegate> get_server_delegate() override {
    auto wsgi_app = [](httputil::HTTPServerRequest& request) {
      (void)request.connection->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"},
                                              httputil::HTTPHeaders{{"Content-Length", "4"}}, "WSGI");
      request.connection->finish();
    };
    auto tornado_app =
        std::make_shared<web::Application>(std::vector<Rule>{{"/tornado/test", web::handler<ReverseHandler>(), "tornado"}});
    return std::make_unique<routing::RuleRouter>(std::vector<Rule>{
        Rule(std::make_shared<routing::PathMatches>("/tornado.*"), tornado_app),
        Rule(std::make_shared<routing::PathMatches>("/wsgi"), wsgi_app),
    });
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(BasicRouterTestCaseSuite)
BOOST_FIXTURE_TEST_CASE(test_basic_router, BasicRouterTestCase) { BOOST_TEST(fetch("/any_request").body == "OK"); }
BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(HTTPMethodRouterTestCaseSuite)
BOOST_FIXTURE_TEST_CASE(test_http_method_router, HTTPMethodRouterTestCase) {
  auto response = fetch("/post_resource", FetchOptions{.method = "POST", .body = "data"});
  BOOST_TEST(response.code == 200);
  response = fetch("/get_resource");
  BOOST_TEST(response.code == 404);
  response = fetch("/post_resource");
  BOOST_TEST(response.code == 200);
  BOOST_TEST(response.body == "data");
}
BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(CustomRouterTestCaseSuite)
BOOST_FIXTURE_TEST_CASE(test_custom_router, CustomRouterTestCase) {
  BOOST_TEST(fetch("/first_handler").body == "app1: first_handler: /first_handler");
  BOOST_TEST(fetch("/second_handler").body == "app2: second_handler: /second_handler");
  BOOST_TEST(fetch("/first_handler_second_app").body == "app2: first_handler: /first_handler");
}
BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(RuleRouterTestSuite)
BOOST_FIXTURE_TEST_CASE(test_rule_based_router, RuleRouterTest) {
  BOOST_TEST(fetch("/first_handler").body == "first_handler: /first_handler");
  BOOST_TEST(fetch("/first_handler", FetchOptions{.headers = httputil::HTTPHeaders{{"Host", "www.example.com"}}}).body ==
             "second_handler: /first_handler");
  BOOST_TEST(fetch("/nested_handler").body == "nested_handler: /nested_handler");
  BOOST_TEST(fetch("/nested_not_found_handler").code == 404);
  BOOST_TEST(fetch("/connection_delegate").body == "OK");
  BOOST_TEST(fetch("/request_callable").body == "OK");
  BOOST_TEST(fetch("/404").code == 404);
}
BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(WSGIContainerTestCaseSuite)
BOOST_FIXTURE_TEST_CASE(test_wsgi_container, WSGIContainerTestCase) {
  BOOST_TEST(fetch("/tornado/test").body == "/tornado/test");
  BOOST_TEST(fetch("/wsgi").body == "WSGI");
}
BOOST_FIXTURE_TEST_CASE(test_delegate_not_found, WSGIContainerTestCase) { BOOST_TEST(fetch("/404").code == 404); }
BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// Matchers (no Python counterpart file: these pin down the behaviour routing.py gets from re)

BOOST_AUTO_TEST_SUITE(MatcherTest)

BOOST_AUTO_TEST_CASE(test_path_matches_anchored) {
  routing::PathMatches m("/foo/([0-9]+)");
  BOOST_TEST(m.match(make_request("GET", "/foo/12")).has_value());
  BOOST_TEST(!m.match(make_request("GET", "/foo/12/bar")).has_value());  // `$` appended
  BOOST_TEST(!m.match(make_request("GET", "/x/foo/12")).has_value());    // matched from the start
  auto r = m.match(make_request("GET", "/foo/12?q=1"));
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->path_args.size() == 1u);
  BOOST_TEST(*r->path_args[0] == "12");
}

BOOST_AUTO_TEST_CASE(test_path_matches_literal) {
  routing::PathMatches m("/hello");
  BOOST_TEST(m.is_literal());
  BOOST_TEST(m.match(make_request("GET", "/hello")).has_value());
  BOOST_TEST(!m.match(make_request("GET", "/hello/")).has_value());
  BOOST_TEST(!m.match(make_request("GET", "/hell")).has_value());
  BOOST_TEST(!routing::PathMatches("/hel+o").is_literal());
  BOOST_TEST(routing::PathMatches("^/hello$").is_literal());
}

BOOST_AUTO_TEST_CASE(test_path_matches_unquotes_groups) {
  routing::PathMatches m("/(.*)");
  auto r = m.match(make_request("GET", "/a%2Fb+c"));
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(*r->path_args[0] == "a/b+c");  // plus=False: '+' stays
}

BOOST_AUTO_TEST_CASE(test_named_groups) {
  routing::PathMatches m("/(?P<year>[0-9]{4})/(?P<slug>[a-z]+)?");
  auto r = m.match(make_request("GET", "/2024/"));
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->path_args.empty());
  BOOST_REQUIRE(r->path_kwargs.size() == 2u);
  BOOST_TEST(r->path_kwargs[0].first == "year");
  BOOST_TEST(*r->path_kwargs[0].second == "2024");
  BOOST_TEST(r->path_kwargs[1].first == "slug");
  BOOST_TEST(!r->path_kwargs[1].second.has_value());  // did not take part
  // As Python's _find_groups, text after a group is kept as is, the optional group's '?' too.
  BOOST_TEST(*m.reverse({"2025", "abc"}) == "/2025/abc?");
  BOOST_TEST(*routing::PathMatches("/(?P<year>[0-9]{4})/(?P<slug>[a-z]+)").reverse({"2025", "abc"}) == "/2025/abc");
}

BOOST_AUTO_TEST_CASE(test_mixed_groups_refused) {
  BOOST_CHECK_THROW(routing::PathMatches("/(?P<a>x)/(y)"), std::invalid_argument);
  BOOST_CHECK_THROW(routing::PathMatches("/(unclosed"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(test_reverse_escapes) {
  routing::PathMatches m("/files/([^/]+)");
  // url_escape(plus=False) is urllib's quote: '/' is safe.
  BOOST_TEST(*m.reverse({"a b/c?"}) == "/files/a%20b/c%3F");
  BOOST_CHECK_THROW(m.reverse({}), std::invalid_argument);
  // (?:...) is not a capturing group: the pattern cannot be reversed.
  BOOST_CHECK_THROW(routing::PathMatches("/(?:a|b)/(x)").reverse({"x"}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(test_host_matches) {
  routing::HostMatches m("www.example.com");
  BOOST_TEST(m.match(make_request("GET", "/", {{"Host", "www.example.com:8888"}})).has_value());
  BOOST_TEST(!m.match(make_request("GET", "/", {{"Host", "www.example.com.evil"}})).has_value());
  BOOST_TEST(!m.match(make_request("GET", "/", {{"Host", "other.com"}})).has_value());
  routing::AnyMatches any;
  BOOST_TEST(any.match(make_request("GET", "/")).has_value());
}

BOOST_AUTO_TEST_CASE(test_default_host_matches) {
  std::string default_host = "www.example.com";
  routing::DefaultHostMatches m([&] { return default_host; }, routing::Regex("www.example.com$"));
  BOOST_TEST(m.match(make_request("GET", "/", {{"Host", "anything"}})).has_value());
  BOOST_TEST(!m.match(make_request("GET", "/", {{"X-Real-Ip", "1.2.3.4"}})).has_value());
  default_host = "other.com";
  BOOST_TEST(!m.match(make_request("GET", "/")).has_value());
}

BOOST_AUTO_TEST_CASE(test_reversible_rule_router) {
  routing::ReversibleRuleRouter router({Rule("/a/([0-9]+)", routing::Target{}, "a"),
                                        Rule(std::make_shared<routing::AnyMatches>(),
                                             std::vector<Rule>{Rule("/nested/(.*)", routing::Target{}, "nested")})});
  BOOST_TEST(*router.reverse_url("a", {"5"}) == "/a/5");
  BOOST_TEST(*router.reverse_url("nested", {"x"}) == "/nested/x");
  BOOST_TEST(!router.reverse_url("missing").has_value());
  // The list of rules became a nested router.
  BOOST_TEST(router.rules()[1].target.router() != nullptr);
}

BOOST_AUTO_TEST_CASE(test_re_unescape) {
  BOOST_TEST(routing::re_unescape(R"(/favicon\.ico)") == "/favicon.ico");
  BOOST_CHECK_THROW(routing::re_unescape(R"(\d)"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

