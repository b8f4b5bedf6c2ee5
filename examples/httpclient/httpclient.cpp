// Fetches URLs and prints what came back: Tornado's command-line client,
// `python -m tornado.httpclient [options] URL...`, with the same flags:
//
//   --print_headers      print the response headers first (default false)
//   --print_body         print the response body (default true)
//   --follow_redirects   follow 3xx redirects (default true)
//   --validate_cert      check an HTTPS server's certificate (default true)
//   --proxy_host=HOST    send the requests through this HTTP proxy (default none)
//   --proxy_port=PORT    the proxy's port (default 80)
//
// As with tornado.options, a boolean flag alone means true (`--print_headers`), `=false`, `=0` or
// `=f` mean false, and dashes may stand for underscores (`--print-headers`). A response with an
// error status is printed like any other (Tornado prints HTTPError's response); a fetch that got no
// response at all (refused, timed out, bad certificate) is reported on stderr and the program exits
// with status 1.
//
// Tornado's equivalent (tornado/httpclient.py, main()):
//
//   client = HTTPClient()
//   for arg in args:
//       try:
//           response = client.fetch(arg, follow_redirects=options.follow_redirects,
//                                   validate_cert=options.validate_cert,
//                                   proxy_host=options.proxy_host, proxy_port=options.proxy_port)
//       except HTTPError as e:
//           if e.response is not None: response = e.response
//           else: raise
//       if options.print_headers: print(response.headers)
//       if options.print_body: print(native_str(response.body))
//   client.close()
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <string_view>
#include <vector>

import tornado.httpclient;

using namespace tornado;

namespace {

// tornado.options' reading of a boolean value.
bool parse_bool(std::string_view v) {
  std::string lower(v);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower != "false" && lower != "0" && lower != "f";
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--print_headers[=BOOL]] [--print_body[=BOOL]] [--follow_redirects[=BOOL]]\n"
               "          [--validate_cert[=BOOL]] [--proxy_host=HOST] [--proxy_port=PORT] URL...\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, bool, std::less<>> flags = {
      {"print_headers", false}, {"print_body", true}, {"follow_redirects", true}, {"validate_cert", true}};
  std::vector<std::string> urls;
  std::string proxy_host;
  std::uint16_t proxy_port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") return usage(argv[0]), 0;
    if (!a.starts_with("--")) {
      urls.emplace_back(a);
      continue;
    }
    a.remove_prefix(2);
    auto eq = a.find('=');
    std::string name(a.substr(0, eq));
    for (auto& c : name)
      if (c == '-') c = '_';
    if (name == "proxy_host" || name == "proxy_port") {
      // Not booleans: tornado.options wants a value.
      if (eq == std::string_view::npos) {
        std::fprintf(stderr, "Option '%s' requires a value\n", name.c_str());
        return usage(argv[0]);
      }
      std::string value(a.substr(eq + 1));
      if (name == "proxy_host") {
        proxy_host = value;
      } else {
        char* end = nullptr;
        long port = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || port < 0 || port > 65535) {
          std::fprintf(stderr, "Unrecognized port value for proxy_port: '%s'\n", value.c_str());
          return usage(argv[0]);
        }
        proxy_port = static_cast<std::uint16_t>(port);
      }
      continue;
    }
    auto it = flags.find(name);
    if (it == flags.end()) {
      std::fprintf(stderr, "Unrecognized command line option: '%s'\n", name.c_str());
      return usage(argv[0]);
    }
    it->second = eq == std::string_view::npos ? true : parse_bool(a.substr(eq + 1));
  }
  if (urls.empty()) return usage(argv[0]);

  httpclient::HTTPClient client;
  int status = 0;
  for (const auto& url : urls) {
    httpclient::HTTPRequest request(url);
    request.follow_redirects = flags["follow_redirects"];
    request.validate_cert = flags["validate_cert"];
    request.proxy_host = proxy_host;
    request.proxy_port = proxy_port;
    try {
      // raise_error=false: an error status comes back as a response, which is printed (Tornado
      // catches HTTPError and prints its response); no response at all still throws.
      auto response = client.fetch(std::move(request), false);
      if (flags["print_headers"]) std::printf("%s\n", response.headers.to_string().c_str());
      if (flags["print_body"]) {
        std::fwrite(response.body.data(), 1, response.body.size(), stdout);
        std::fputc('\n', stdout);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", url.c_str(), e.what());
      status = 1;
      break;  // Python's main stops at the first exception it does not handle
    }
  }
  client.close();
  return status;
}
