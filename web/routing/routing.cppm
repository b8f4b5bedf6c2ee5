// tornado.routing: flexible routing of HTTP requests to delegates. Rules pair a Matcher (path,
// host, anything) with a target (a nested Router, an HTTPServerConnectionDelegate such as another
// Application, a plain callback, or a target a derived router understands, like tornado.web's
// handler factories). Mirrors tornado.routing.
module;
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
export module tornado.routing;

export import tornado.httputil;
export import tornado.concurrent;

export namespace tornado::routing {

/// What a Matcher extracted from a request: the regex groups of the path, positional when the
/// pattern has no named groups, by name otherwise (each url-unescaped, nullopt for a group that
/// did not take part in the match). Mirrors the dict Matcher.match returns
/// (`path_args`, `path_kwargs`).
struct MatchResult {
  std::vector<std::optional<std::string>> path_args;
  /// Named groups in the order they appear in the pattern.
  std::vector<std::pair<std::string, std::optional<std::string>>> path_kwargs;
};

/// Decides whether a rule applies to a request. Mirrors tornado.routing.Matcher.
class Matcher {
 public:
  virtual ~Matcher() = default;
  /// @returns the parameters for the target if the request matches, nullopt otherwise (an empty
  /// MatchResult is a match). Mirrors Matcher.match.
  virtual std::optional<MatchResult> match(const httputil::HTTPServerRequest& request) const = 0;
  /// Rebuilds a URL from `args` (already strings), or nullopt if this matcher cannot.
  /// @throws std::invalid_argument if it can reverse but `args` do not fit.
  /// Mirrors Matcher.reverse.
  virtual std::optional<std::string> reverse(const std::vector<std::string>& args) const { return std::nullopt; }
};

/// Matches every request. Mirrors tornado.routing.AnyMatches.
class AnyMatches final : public Matcher {
 public:
  std::optional<MatchResult> match(const httputil::HTTPServerRequest& request) const override;
};

/// A compiled regular expression with Python's `re` flavour: Perl syntax (Boost.Regex), `^` and
/// `$` at the ends of the subject only, `(?P<name>...)` accepted for named groups. Copies share
/// the compiled form. Used by the matchers; exported for tornado.web.
class Regex {
 public:
  /// @throws std::invalid_argument if `pattern` is not a valid regular expression.
  explicit Regex(std::string pattern);
  /// The pattern as given.
  const std::string& pattern() const noexcept { return pattern_; }
  /// The number of capturing groups. Mirrors Pattern.groups.
  std::size_t groups() const noexcept;
  /// The names of the named groups, in group order ("" for an unnamed group). Mirrors
  /// Pattern.groupindex.
  const std::vector<std::string>& group_names() const noexcept;
  /// Whether the pattern has named groups.
  bool has_named_groups() const noexcept;
  /// Matches at the start of `subject` (Python's Pattern.match). @returns the groups (nullopt for a
  /// group that did not take part), or nullopt if it does not match.
  std::optional<std::vector<std::optional<std::string>>> match(std::string_view subject) const;
  /// Whether the pattern matches at the start of `subject`, without extracting groups.
  bool matches(std::string_view subject) const;

  struct Impl;

 private:
  std::string pattern_;
  std::shared_ptr<const Impl> impl_;
};

/// Matches requests whose host (request.host_name) matches `host_pattern` (anchored with a `$`
/// appended if it lacks one). Mirrors tornado.routing.HostMatches.
class HostMatches final : public Matcher {
 public:
  /// @throws std::invalid_argument for a malformed pattern.
  explicit HostMatches(std::string host_pattern);
  std::optional<MatchResult> match(const httputil::HTTPServerRequest& request) const override;
  const Regex& host_pattern() const noexcept { return host_pattern_; }

 private:
  Regex host_pattern_;
};

/// Matches every request when `default_host()` matches `host_pattern`, unless the request has an
/// X-Real-Ip header (it came through a proxy that hides the real host). Used by tornado.web's
/// Application for its default_host. Mirrors tornado.routing.DefaultHostMatches.
class DefaultHostMatches final : public Matcher {
 public:
  /// @param default_host  reads the application's current default host.
  DefaultHostMatches(std::function<std::string()> default_host, Regex host_pattern);
  std::optional<MatchResult> match(const httputil::HTTPServerRequest& request) const override;

 private:
  std::function<std::string()> default_host_;
  Regex host_pattern_;
};

/// Matches requests whose path matches `path_pattern`, anchored at both ends (a `$` is appended
/// if the pattern lacks one; matching starts at the beginning as Python's re.match). Groups are
/// url-unescaped (not `+`) and passed on: by name if the pattern has named groups (then every
/// group must be named), by position otherwise. A pattern with no regex syntax at all is matched
/// by plain string comparison, without the regex engine.
/// Mirrors tornado.routing.PathMatches.
class PathMatches final : public Matcher {
 public:
  /// @throws std::invalid_argument for a malformed pattern, or one mixing named and unnamed groups.
  explicit PathMatches(std::string path_pattern);
  std::optional<MatchResult> match(const httputil::HTTPServerRequest& request) const override;
  /// Fills the groups with `args` (each url_escape'd, `plus=false`).
  /// @throws std::invalid_argument ("Cannot reverse url regex ...") if the pattern is not simple
  /// enough to reverse, or if the number of args differs from the number of groups.
  /// Mirrors PathMatches.reverse.
  std::optional<std::string> reverse(const std::vector<std::string>& args) const override;
  /// The compiled pattern (with the `$` appended). Mirrors PathMatches.regex.
  const Regex& regex() const noexcept { return regex_; }
  /// The path with `%s` for each group if the pattern is reversible. Mirrors PathMatches._path.
  const std::optional<std::string>& path() const noexcept { return path_; }
  /// The number of groups, if reversible. Mirrors PathMatches._group_count.
  std::optional<std::size_t> group_count() const noexcept { return group_count_; }
  /// Whether matching is a plain string comparison (the pattern has no regex syntax).
  bool is_literal() const noexcept { return literal_.has_value(); }

 private:
  Regex regex_;
  std::optional<std::string> literal_;
  std::optional<std::string> path_;
  std::optional<std::size_t> group_count_;
};

class Router;
struct Rule;

/// The base of targets that only a particular router understands (tornado.web's handler
/// factories are one): a RuleRouter passes them to its get_target_delegate, where a derived
/// router recognises them (Tornado's duck-typed `target`).
class CustomTarget {
 public:
  virtual ~CustomTarget() = default;
};

/// A plain request callback: called with the whole request (body read); it answers through
/// `request.connection`. Mirrors a callable target of a Rule.
using RequestCallback = std::function<void(httputil::HTTPServerRequest& request)>;

/// What a Rule routes to. Mirrors the `target` argument of tornado.routing.Rule, which in Python
/// may be anything: here a nested Router (owned or not), an HTTPServerConnectionDelegate (owned or
/// not; an Application is taken as a Router, as Tornado checks Router first), a RequestCallback, a
/// list of rules (a nested router of the same kind, as tornado.web's _ApplicationRouter makes
/// from a list), or a CustomTarget.
class Target {
 public:
  Target() = default;
  /// A router owned by the rule.
  template <class R>
    requires std::is_base_of_v<Router, R>
  Target(std::shared_ptr<R> router) : router_(std::move(router)) {}  // NOLINT: implicit by design
  /// A router that must outlive the rule.
  template <class R>
    requires std::is_base_of_v<Router, R>
  Target(R& router) : router_(std::shared_ptr<Router>(std::shared_ptr<Router>{}, &router)) {}  // NOLINT
  /// A connection delegate (not a Router) owned by the rule.
  template <class D>
    requires(std::is_base_of_v<httputil::HTTPServerConnectionDelegate, D> && !std::is_base_of_v<Router, D>)
  Target(std::shared_ptr<D> delegate) : delegate_(std::move(delegate)) {}  // NOLINT
  /// A connection delegate (not a Router) that must outlive the rule.
  template <class D>
    requires(std::is_base_of_v<httputil::HTTPServerConnectionDelegate, D> && !std::is_base_of_v<Router, D>)
  Target(D& delegate)  // NOLINT
      : delegate_(std::shared_ptr<httputil::HTTPServerConnectionDelegate>(
            std::shared_ptr<httputil::HTTPServerConnectionDelegate>{}, &delegate)) {}
  /// A request callback.
  Target(RequestCallback callback) : callback_(std::move(callback)) {}  // NOLINT
  /// Any callable taking the request (a lambda), as a RequestCallback.
  template <class F>
    requires(std::is_invocable_v<F&, httputil::HTTPServerRequest&> &&
             !std::is_same_v<std::remove_cvref_t<F>, RequestCallback>)
  Target(F callback) : callback_(std::move(callback)) {}  // NOLINT
  /// A custom target (see CustomTarget).
  template <class C>
    requires std::is_base_of_v<CustomTarget, C>
  Target(std::shared_ptr<C> custom) : custom_(std::move(custom)) {}  // NOLINT
  /// A list of rules, made into a nested router by RuleRouter::process_rule.
  Target(std::vector<Rule> rules);  // NOLINT

  Router* router() const noexcept { return router_.get(); }
  httputil::HTTPServerConnectionDelegate* delegate() const noexcept { return delegate_.get(); }
  const RequestCallback* callback() const noexcept { return callback_ ? &callback_ : nullptr; }
  const CustomTarget* custom() const noexcept { return custom_.get(); }
  const std::shared_ptr<std::vector<Rule>>& rules() const noexcept { return rules_; }
  /// Replaces the target with a router (process_rule does this to a list of rules).
  void set_router(std::shared_ptr<Router> router) {
    rules_.reset();
    router_ = std::move(router);
  }
  bool empty() const noexcept { return !router_ && !delegate_ && !callback_ && !custom_ && !rules_; }

 private:
  std::shared_ptr<Router> router_;
  std::shared_ptr<httputil::HTTPServerConnectionDelegate> delegate_;
  RequestCallback callback_;
  std::shared_ptr<const CustomTarget> custom_;
  std::shared_ptr<std::vector<Rule>> rules_;
};

/// A routing rule: a matcher, a target, and an optional name for reverse_url. Mirrors
/// tornado.routing.Rule. (Python's `target_kwargs` are bound into the target in C++: see
/// tornado.web's `handler<T>(args...)`.)
struct Rule {
  /// A rule with any matcher.
  Rule(std::shared_ptr<Matcher> matcher, Target target, std::string name = {});
  /// A PathMatches rule: `{"/path/([^/]+)", target, "name"}`. Mirrors a (pattern, target, kwargs,
  /// name) tuple and tornado.web.URLSpec.
  Rule(std::string path_pattern, Target target, std::string name = {});
  Rule(const char* path_pattern, Target target, std::string name = {});

  /// Builds the URL this rule matches from `args`. Mirrors Rule.reverse.
  std::optional<std::string> reverse(const std::vector<std::string>& args) const { return matcher->reverse(args); }

  std::shared_ptr<Matcher> matcher;
  Target target;
  std::string name;
};

/// A rule with a PathMatches matcher. Mirrors tornado.web.URLSpec / tornado.routing.URLSpec.
/// @throws std::invalid_argument for a malformed pattern.
Rule url(std::string pattern, Target target, std::string name = {});
/// Mirrors tornado.routing.URLSpec (a Rule whose matcher is a PathMatches).
using URLSpec = Rule;

/// Routes requests to message delegates; as an HTTPServerConnectionDelegate it can be given to an
/// HTTPServer directly. Mirrors tornado.routing.Router.
class Router : public httputil::HTTPServerConnectionDelegate {
 public:
  /// The delegate to handle `request` (whose headers have arrived; the body has not), or null if
  /// nothing matches. The delegate then receives the message from headers_received on; a delegate
  /// derived from RequestDelegate already holds the request and gets empty headers in
  /// headers_received, any other gets a copy of the request's headers.
  /// Mirrors Router.find_handler.
  virtual std::unique_ptr<httputil::HTTPMessageDelegate> find_handler(
      const std::shared_ptr<httputil::HTTPServerRequest>& request) = 0;

  /// Makes a delegate that builds the request from its start line and headers, routes it with
  /// find_handler, and forwards the message; with no match it answers 404. Mirrors
  /// Router.start_request / _RoutingDelegate.
  std::unique_ptr<httputil::HTTPMessageDelegate> start_request(const void* server_conn,
                                                               httputil::HTTPConnection* request_conn) override;
};

/// A Router that can also build URLs by rule name. Mirrors tornado.routing.ReversibleRouter.
class ReversibleRouter : public Router {
 public:
  /// The URL of the rule named `name` filled with `args`, or nullopt if there is none.
  /// Mirrors ReversibleRouter.reverse_url.
  virtual std::optional<std::string> reverse_url(std::string_view name, const std::vector<std::string>& args = {}) = 0;
};

/// A delegate returned by find_handler that already holds its request (see Router::find_handler).
class RequestDelegate : public httputil::HTTPMessageDelegate {};

namespace detail {
/// What a routing delegate keeps of its request, shared by Router's routing delegate and
/// tornado.web's Application delegate: it builds the request when the headers arrive, hands the
/// headers to the delegate routed to as Router::find_handler says, and, when destroyed (with its
/// connection's message), cuts the request off from the connection, so that a handler still
/// running does not use it. Mirrors the request-building part of tornado.routing._RoutingDelegate.
class RoutedRequest {
 public:
  RoutedRequest(const void* server_conn, httputil::HTTPConnection* conn) noexcept
      : server_conn_(server_conn), conn_(conn) {}
  ~RoutedRequest();
  RoutedRequest(const RoutedRequest&) = delete;
  RoutedRequest& operator=(const RoutedRequest&) = delete;

  /// Builds the request from its start line and headers. @returns it.
  const std::shared_ptr<httputil::HTTPServerRequest>& build(const httputil::RequestStartLine& start_line,
                                                            httputil::HTTPHeaders headers);
  /// Calls `target.headers_received`: with empty headers for a RequestDelegate (it holds the
  /// request), with a copy of the request's headers for any other delegate.
  std::optional<Future<void>> forward_headers(httputil::HTTPMessageDelegate& target,
                                              const httputil::StartLine& start_line);
  /// The request built (null before the headers arrive).
  const std::shared_ptr<httputil::HTTPServerRequest>& request() const noexcept { return request_; }
  /// The connection the message arrives on.
  httputil::HTTPConnection* connection() const noexcept { return conn_; }

 private:
  const void* server_conn_;
  httputil::HTTPConnection* conn_;
  std::shared_ptr<httputil::HTTPServerRequest> request_;
};
}  // namespace detail

/// Routes by a list of rules: the first rule whose matcher matches and whose target gives a
/// delegate wins. Mirrors tornado.routing.RuleRouter.
class RuleRouter : public ReversibleRouter {
 public:
  explicit RuleRouter(std::vector<Rule> rules = {});

  /// Appends rules (each passed through process_rule). Mirrors RuleRouter.add_rules.
  void add_rules(std::vector<Rule> rules);
  /// Called for each rule added; may change it. Turns a list-of-rules target into a nested router
  /// (make_nested_router). Mirrors RuleRouter.process_rule.
  virtual Rule process_rule(Rule rule);
  /// The router a list-of-rules target becomes (a RuleRouter here; derived routers make their own
  /// kind).
  virtual std::shared_ptr<Router> make_nested_router(std::vector<Rule> rules);

  std::unique_ptr<httputil::HTTPMessageDelegate> find_handler(
      const std::shared_ptr<httputil::HTTPServerRequest>& request) override;
  /// The delegate for `target`: a Router's find_handler, a connection delegate's start_request,
  /// or an adapter for a callback; null for targets this router does not know (derived routers
  /// handle CustomTargets here). `params` is what the matcher extracted.
  /// Mirrors RuleRouter.get_target_delegate.
  virtual std::unique_ptr<httputil::HTTPMessageDelegate> get_target_delegate(
      const Target& target, const std::shared_ptr<httputil::HTTPServerRequest>& request, MatchResult& params);

  /// A plain RuleRouter cannot reverse: always nullopt (ReversibleRuleRouter can).
  std::optional<std::string> reverse_url(std::string_view name, const std::vector<std::string>& args = {}) override;

  /// The rules, in order. Mirrors RuleRouter.rules.
  std::vector<Rule>& rules() noexcept { return rules_; }

 protected:
  std::vector<Rule> rules_;
};

/// A RuleRouter whose named rules can be reversed, looking into nested reversible routers too.
/// Mirrors tornado.routing.ReversibleRuleRouter.
class ReversibleRuleRouter : public RuleRouter {
 public:
  explicit ReversibleRuleRouter(std::vector<Rule> rules = {});
  /// Records named rules (a second rule with the same name replaces the first, with a warning on
  /// app_log). Mirrors ReversibleRuleRouter.process_rule.
  Rule process_rule(Rule rule) override;
  std::shared_ptr<Router> make_nested_router(std::vector<Rule> rules) override;
  /// Mirrors ReversibleRuleRouter.reverse_url.
  std::optional<std::string> reverse_url(std::string_view name, const std::vector<std::string>& args = {}) override;

 protected:
  std::map<std::string, std::shared_ptr<Matcher>, std::less<>> named_rules_;
};

/// Removes the backslash escapes from a regex fragment ("\\." -> ".").
/// @throws std::invalid_argument for an escape that is not a literal character ("\\d").
/// Mirrors tornado.util.re_unescape.
std::string re_unescape(std::string_view s);


}  // namespace tornado::routing
