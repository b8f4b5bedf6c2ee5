// Fetches URLs and prints what came back: Tornado's command-line client,
// `python -m tornado.httpclient [options] URL...`, with the same flags:
//
//   --print_headers      print the response headers first (default false)
//   --print_body         print the response body (default true)
//   --follow_redirects   follow 3xx redirects (default true)
//   --validate_cert      check an HTTPS server's certificate (default true)
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
//                                   validate_cert=options.validate_cert)
//       except HTTPError as e:
//           if e.response is not None: response = e.response
//           else: raise
//       if options.print_headers: print(response.headers)
//       if options.print_body: print(native_str(response.body))
//   client.close()
#include <cctype>
#include <cstdio>
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
               "          [--validate_cert[=BOOL]] URL...\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, bool, std::less<>> flags = {
      {"print_headers", false}, {"print_body", true}, {"follow_redirects", true}, {"validate_cert", true}};
  std::vector<std::string> urls;
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
