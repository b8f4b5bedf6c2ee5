module;
#include <boost/regex.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>
module tornado.routing;

import tornado.escape;
import tornado.httputil;
import tornado.log;

namespace tornado::routing {

// ---------------------------------------------------------------------------------------------
// Regex

struct Regex::Impl {
  boost::regex re;
  std::vector<std::string> names;
  bool named = false;
};

namespace {

// Python's `(?P<name>...)` and `(?P=name)` are spelled `(?<name>...)` and `\k<name>` in Boost's
// Perl syntax; the group names are collected on the way, in group order.
std::string translate_python_regex(std::string_view p, std::vector<std::string>& names) {
  std::string out;
  out.reserve(p.size());
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      out += c;
      out += p[++i];
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == '(') {
      std::string_view rest = p.substr(i);
      if (rest.starts_with("(?P<")) {
        auto end = rest.find('>');
        if (end == std::string_view::npos) throw std::invalid_argument("unterminated group name in " + std::string(p));
        names.emplace_back(rest.substr(4, end - 4));
        out += "(?<";
        out += rest.substr(4, end - 4 + 1);
        i += end;
        continue;
      }
      if (rest.starts_with("(?P=")) {
        auto end = rest.find(')');
        if (end == std::string_view::npos) throw std::invalid_argument("unterminated backreference in " + std::string(p));
        out += "\\k<";
        out += rest.substr(4, end - 4);
        out += ">";
        i += end;
        continue;
      }
      if (rest.starts_with("(?<") && rest.size() > 3 && rest[3] != '=' && rest[3] != '!') {
        auto end = rest.find('>');
        if (end != std::string_view::npos) names.emplace_back(rest.substr(3, end - 3));
      } else if (rest.starts_with("(?'")) {
        auto end = rest.find('\'', 3);
        if (end != std::string_view::npos) names.emplace_back(rest.substr(3, end - 3));
      } else if (!rest.starts_with("(?") && !rest.starts_with("(*")) {
        names.emplace_back();  // an unnamed capturing group
      }
    }
    out += c;
  }
  return out;
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Characters that make a pattern more than a literal string.
bool has_regex_syntax(std::string_view s) { return s.find_first_of(".^$*+?()[]{}|\\") != std::string_view::npos; }

std::optional<std::string> unquote_or_none(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  if (s->find('%') == std::string::npos) return s;
  return escape::url_unescape(*s, false);
}

}  // namespace

Regex::Regex(std::string pattern) : pattern_(std::move(pattern)) {
  auto impl = std::make_shared<Impl>();
  std::vector<std::string> names;
  std::string translated = translate_python_regex(pattern_, names);
  try {
    // no_mod_m: `^` and `$` anchor at the ends of the subject, as in Python without re.M.
    impl->re.assign(translated, boost::regex::perl | boost::regex::no_mod_m);
  } catch (const boost::regex_error& e) {
    throw std::invalid_argument("invalid regular expression " + pattern_ + ": " + e.what());
  }
  names.resize(impl->re.mark_count());
  for (const auto& n : names) impl->named = impl->named || !n.empty();
  impl->names = std::move(names);
  impl_ = std::move(impl);
}

std::size_t Regex::groups() const noexcept { return impl_->re.mark_count(); }
const std::vector<std::string>& Regex::group_names() const noexcept { return impl_->names; }
bool Regex::has_named_groups() const noexcept { return impl_->named; }

std::optional<std::vector<std::optional<std::string>>> Regex::match(std::string_view subject) const {
  boost::match_results<std::string_view::const_iterator> m;
  if (!boost::regex_search(subject.begin(), subject.end(), m, impl_->re, boost::match_continuous)) return std::nullopt;
  std::vector<std::optional<std::string>> groups;
  groups.reserve(impl_->re.mark_count());
  for (std::size_t i = 1; i <= impl_->re.mark_count(); ++i) {
    if (m[i].matched) groups.emplace_back(std::string(m[i].first, m[i].second));
    else groups.emplace_back(std::nullopt);
  }
  return groups;
}

bool Regex::matches(std::string_view subject) const {
  return boost::regex_search(subject.begin(), subject.end(), impl_->re,
                             boost::match_continuous | boost::match_any | boost::match_nosubs);
}

std::string re_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char c = s[++i];
      if (is_alnum(c)) throw std::invalid_argument(std::string("cannot unescape '\\") + c + "'");
      out += c;
    } else {
      out += s[i];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Recycled memory


// ---------------------------------------------------------------------------------------------
// Matchers

std::optional<MatchResult> AnyMatches::match(const httputil::HTTPServerRequest&) const { return MatchResult{}; }

namespace {
std::string anchor(std::string pattern) {
  if (!pattern.ends_with('$')) pattern += '$';
  return pattern;
}
}  // namespace

HostMatches::HostMatches(std::string host_pattern) : host_pattern_(anchor(std::move(host_pattern))) {}

std::optional<MatchResult> HostMatches::match(const httputil::HTTPServerRequest& request) const {
  if (host_pattern_.matches(request.host_name)) return MatchResult{};
  return std::nullopt;
}

DefaultHostMatches::DefaultHostMatches(std::function<std::string()> default_host, Regex host_pattern)
    : default_host_(std::move(default_host)), host_pattern_(std::move(host_pattern)) {}

std::optional<MatchResult> DefaultHostMatches::match(const httputil::HTTPServerRequest& request) const {
  if (!request.headers.contains("X-Real-Ip")) {
    if (host_pattern_.matches(default_host_())) return MatchResult{};
  }
  return std::nullopt;
}

PathMatches::PathMatches(std::string path_pattern) : regex_(anchor(std::move(path_pattern))) {
  const auto& names = regex_.group_names();
  if (regex_.has_named_groups()) {
    for (const auto& n : names) {
      if (n.empty())
        throw std::invalid_argument("groups in url regexes must either be all named or all positional: " +
                                    regex_.pattern());
    }
  }
  // _find_groups: the pattern without its anchors, each group replaced by %s, if every '('
  // opens a capturing group and the rest unescapes to plain text.
  std::string_view pattern = regex_.pattern();
  if (pattern.starts_with('^')) pattern.remove_prefix(1);
  if (pattern.ends_with('$')) pattern.remove_suffix(1);
  std::size_t parens = 0;
  for (char c : pattern) parens += c == '(';
  if (regex_.groups() == parens) {
    std::string path;
    bool ok = true;
    std::size_t start = 0;
    while (ok) {
      auto open = pattern.find('(', start);
      std::string_view fragment =
          pattern.substr(start, open == std::string_view::npos ? std::string_view::npos : open - start);
      try {
        // As Python's pattern.split("("): a fragment holding a ')' began with a group.
        if (auto close = fragment.find(')'); close != std::string_view::npos) {
          path += "%s";
          path += re_unescape(fragment.substr(close + 1));
        } else {
          path += re_unescape(fragment);
        }
      } catch (const std::invalid_argument&) {
        ok = false;
      }
      if (open == std::string_view::npos) break;
      start = open + 1;
    }
    if (ok) {
      path_ = std::move(path);
      group_count_ = regex_.groups();
    }
  }
  std::string_view body = regex_.pattern();
  if (body.starts_with('^')) body.remove_prefix(1);
  body.remove_suffix(1);  // the '$'
  if (!has_regex_syntax(body)) literal_ = std::string(body);
}

std::optional<MatchResult> PathMatches::match(const httputil::HTTPServerRequest& request) const {
  if (literal_) {
    if (request.path == *literal_) return MatchResult{};
    return std::nullopt;
  }
  auto groups = regex_.match(request.path);
  if (!groups) return std::nullopt;
  MatchResult result;
  if (groups->empty()) return result;
  if (regex_.has_named_groups()) {
    const auto& names = regex_.group_names();
    result.path_kwargs.reserve(groups->size());
    for (std::size_t i = 0; i < groups->size(); ++i) result.path_kwargs.emplace_back(names[i], unquote_or_none((*groups)[i]));
  } else {
    result.path_args.reserve(groups->size());
    for (auto& g : *groups) result.path_args.push_back(unquote_or_none(g));
  }
  return result;
}

std::optional<std::string> PathMatches::reverse(const std::vector<std::string>& args) const {
  if (!path_) throw std::invalid_argument("Cannot reverse url regex " + regex_.pattern());
  if (args.size() != *group_count_) throw std::invalid_argument("required number of arguments not found");
  if (args.empty()) return *path_;
  std::string out;
  std::size_t next = 0;
  const std::string& p = *path_;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '%' && i + 1 < p.size() && p[i + 1] == 's' && next < args.size()) {
      out += escape::url_escape(args[next++], false);
      ++i;
    } else {
      out += p[i];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Targets and rules

Target::Target(std::vector<Rule> rules) : rules_(std::make_shared<std::vector<Rule>>(std::move(rules))) {}

Rule::Rule(std::shared_ptr<Matcher> m, Target t, std::string n)
    : matcher(std::move(m)), target(std::move(t)), name(std::move(n)) {}
Rule::Rule(std::string path_pattern, Target t, std::string n)
    : matcher(std::make_shared<PathMatches>(std::move(path_pattern))), target(std::move(t)), name(std::move(n)) {}
Rule::Rule(const char* path_pattern, Target t, std::string n) : Rule(std::string(path_pattern), std::move(t), std::move(n)) {}

Rule url(std::string pattern, Target target, std::string name) {
  return Rule(std::move(pattern), std::move(target), std::move(name));
}

// ---------------------------------------------------------------------------------------------
// Delegates

namespace {

// Answers 404 to a request no rule routes. Mirrors _DefaultMessageDelegate.
class DefaultMessageDelegate final : public RequestDelegate {
 public:
  explicit DefaultMessageDelegate(httputil::HTTPConnection* conn) : conn_(conn) {}
  std::optional<Future<void>> headers_received(const httputil::StartLine&, httputil::HTTPHeaders) override {
    return std::nullopt;
  }
  std::optional<Future<void>> data_received(std::string) override { return std::nullopt; }
  void finish() override {
    httputil::HTTPHeaders headers;
    headers.set("Content-Length", "0");
    (void)conn_->write_headers(httputil::ResponseStartLine{"HTTP/1.1", 404, "Not Found"}, headers);
    conn_->finish();
  }
  void on_connection_close() override {}

 private:
  httputil::HTTPConnection* conn_;
};

// Collects the body and calls a RequestCallback. Mirrors _CallableAdapter.
class CallableAdapter final : public RequestDelegate {
 public:
  CallableAdapter(const RequestCallback& cb, std::shared_ptr<httputil::HTTPServerRequest> request)
      : cb_(cb), request_(std::move(request)) {}
  std::optional<Future<void>> headers_received(const httputil::StartLine&, httputil::HTTPHeaders) override {
    return std::nullopt;
  }
  std::optional<Future<void>> data_received(std::string chunk) override {
    body_ += chunk;
    return std::nullopt;
  }
  void finish() override {
    request_->body = std::move(body_);
    request_->parse_body();
    cb_(*request_);
  }
  void on_connection_close() override { body_.clear(); }

 private:
  RequestCallback cb_;
  std::shared_ptr<httputil::HTTPServerRequest> request_;
  std::string body_;
};

// Whether `d` is a RequestDelegate. A server routes to a few delegate types, so the answer of the
// dynamic_cast is remembered for the last dynamic type seen: then the check is a type comparison.
bool is_request_delegate(httputil::HTTPMessageDelegate& d) {
  thread_local const std::type_info* last_type = nullptr;
  thread_local bool last_answer = false;
  const std::type_info* type = &typeid(d);
  if (type != last_type) {
    last_answer = dynamic_cast<RequestDelegate*>(&d) != nullptr;
    last_type = type;
  }
  return last_answer;
}

// Builds the request when its headers arrive, routes it, and forwards the message to the delegate
// found. Mirrors _RoutingDelegate.
class RoutingDelegate final : public httputil::HTTPMessageDelegate, public tornado::detail::Recycled {
 public:
  RoutingDelegate(Router& router, const void* server_conn, httputil::HTTPConnection* conn)
      : router_(router), routed_(server_conn, conn) {}

  std::optional<Future<void>> headers_received(const httputil::StartLine& start_line,
                                               httputil::HTTPHeaders headers) override {
    const auto& sl = std::get<httputil::RequestStartLine>(start_line);
    delegate_ = router_.find_handler(routed_.build(sl, std::move(headers)));
    if (!delegate_) {
      log::app_log().debug("Delegate for {} {} request not found", sl.method, sl.path);
      delegate_ = std::make_unique<DefaultMessageDelegate>(routed_.connection());
    }
    return routed_.forward_headers(*delegate_, start_line);
  }
  std::optional<Future<void>> data_received(std::string chunk) override {
    return delegate_->data_received(std::move(chunk));
  }
  void finish() override { delegate_->finish(); }
  void on_connection_close() override {
    if (delegate_) delegate_->on_connection_close();
  }

 private:
  Router& router_;
  std::unique_ptr<httputil::HTTPMessageDelegate> delegate_;
  // Last, so destroyed first: the request is cut off from the connection before the delegate goes.
  detail::RoutedRequest routed_;
};

}  // namespace

namespace detail {
RoutedRequest::~RoutedRequest() {
  if (request_) request_->connection = nullptr;
}

const std::shared_ptr<httputil::HTTPServerRequest>& RoutedRequest::build(const httputil::RequestStartLine& start_line,
                                                                         httputil::HTTPHeaders headers) {
  request_ = std::allocate_shared<httputil::HTTPServerRequest>(
      tornado::detail::RecyclingAllocator<httputil::HTTPServerRequest>(), start_line, std::move(headers), conn_,
      server_conn_);
  return request_;
}

std::optional<Future<void>> RoutedRequest::forward_headers(httputil::HTTPMessageDelegate& target,
                                                           const httputil::StartLine& start_line) {
  if (is_request_delegate(target)) return target.headers_received(start_line, {});
  return target.headers_received(start_line, request_->headers);
}
}  // namespace detail

std::unique_ptr<httputil::HTTPMessageDelegate> Router::start_request(const void* server_conn,
                                                                     httputil::HTTPConnection* request_conn) {
  return std::make_unique<RoutingDelegate>(*this, server_conn, request_conn);
}

// ---------------------------------------------------------------------------------------------
// Rule routers

RuleRouter::RuleRouter(std::vector<Rule> rules) { add_rules(std::move(rules)); }

void RuleRouter::add_rules(std::vector<Rule> rules) {
  for (auto& r : rules) rules_.push_back(process_rule(std::move(r)));
}

Rule RuleRouter::process_rule(Rule rule) {
  if (rule.target.rules()) {
    auto nested = make_nested_router(std::move(*rule.target.rules()));
    rule.target.set_router(std::move(nested));
  }
  return rule;
}

std::shared_ptr<Router> RuleRouter::make_nested_router(std::vector<Rule> rules) {
  return std::make_shared<RuleRouter>(std::move(rules));
}

std::unique_ptr<httputil::HTTPMessageDelegate> RuleRouter::find_handler(
    const std::shared_ptr<httputil::HTTPServerRequest>& request) {
  for (auto& rule : rules_) {
    auto params = rule.matcher->match(*request);
    if (!params) continue;
    if (auto d = get_target_delegate(rule.target, request, *params)) return d;
  }
  return nullptr;
}

std::unique_ptr<httputil::HTTPMessageDelegate> RuleRouter::get_target_delegate(
    const Target& target, const std::shared_ptr<httputil::HTTPServerRequest>& request, MatchResult&) {
  if (auto* r = target.router()) return r->find_handler(request);
  if (auto* d = target.delegate()) return d->start_request(request->server_connection, request->connection);
  if (auto* cb = target.callback()) return std::make_unique<CallableAdapter>(*cb, request);
  return nullptr;
}

std::optional<std::string> RuleRouter::reverse_url(std::string_view, const std::vector<std::string>&) {
  return std::nullopt;
}

ReversibleRuleRouter::ReversibleRuleRouter(std::vector<Rule> rules) : RuleRouter() { add_rules(std::move(rules)); }

Rule ReversibleRuleRouter::process_rule(Rule rule) {
  rule = RuleRouter::process_rule(std::move(rule));
  if (!rule.name.empty()) {
    if (named_rules_.contains(rule.name))
      log::app_log().warning("Multiple handlers named {}; replacing previous value", rule.name);
    named_rules_[rule.name] = rule.matcher;
  }
  return rule;
}

std::shared_ptr<Router> ReversibleRuleRouter::make_nested_router(std::vector<Rule> rules) {
  return std::make_shared<ReversibleRuleRouter>(std::move(rules));
}

std::optional<std::string> ReversibleRuleRouter::reverse_url(std::string_view name,
                                                             const std::vector<std::string>& args) {
  if (auto it = named_rules_.find(name); it != named_rules_.end()) return it->second->reverse(args);
  for (auto& rule : rules_) {
    if (auto* r = dynamic_cast<ReversibleRouter*>(rule.target.router())) {
      if (auto url = r->reverse_url(name, args)) return url;
    }
  }
  return std::nullopt;
}

}  // namespace tornado::routing
