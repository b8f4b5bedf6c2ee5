// "Hello, world" over HTTP: Tornado's demos/helloworld, an Application with one RequestHandler.
// Tornado's version:
//
//   define("port", default=8888, help="run on the given port", type=int)
//
//   class MainHandler(tornado.web.RequestHandler):
//       def get(self):
//           self.write("Hello, world")
//
//   def main():
//       tornado.options.parse_command_line()
//       application = tornado.web.Application([(r"/", MainHandler)])
//       http_server = tornado.httpserver.HTTPServer(application)
//       http_server.listen(options.port)
//       tornado.ioloop.IOLoop.current().start()
//
// Usage: helloworld [--port=8888] [--address=ADDRESS]   (also --port 8888)
//   --address defaults to every interface, as in Tornado; Ctrl-C stops the server.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

import tornado.httpserver;
import tornado.ioloop;
import tornado.log;
import tornado.web;

using namespace tornado;

class MainHandler : public web::RequestHandler {
 public:
  void get() { write("Hello, world"); }
};

struct Options {
  int port = 8888;
  std::string address;  // "" listens on every interface
};
Options parse_command_line(int argc, char** argv);  // --port=N or --port N (below)

int main(int argc, char** argv) {
  Options options = parse_command_line(argc, argv);
  web::Application application({{"/", web::handler<MainHandler>()}});
  httpserver::HTTPServer http_server(application);
  try {
    http_server.listen(static_cast<std::uint16_t>(options.port), options.address);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "helloworld: cannot listen on port %d: %s\n", options.port, e.what());
    return 1;
  }
  std::printf("Listening on http://%s:%d/ (Ctrl-C to stop)\n",
              options.address.empty() ? "localhost" : options.address.c_str(), options.port);
  std::fflush(stdout);
  IOLoop::current().start();
}

// Stands in for tornado.options (not written yet): `--port=N` or `--port N`, `--address=A` or
// `--address A`, and `--help`. Like tornado.options.parse_command_line, it also turns on the
// access log on stderr ("200 GET / (127.0.0.1) 0.42ms" for each request) and exits on a bad
// argument.
Options parse_command_line(int argc, char** argv) {
  Options options;
  auto usage = [&](int status) {
    std::fprintf(status ? stderr : stdout, "usage: %s [--port=PORT] [--address=ADDRESS]\n", argv[0]);
    std::exit(status);
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view name = arg, value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name == "--help" || name == "-h") usage(0);
    if (name != "--port" && name != "--address") {
      std::fprintf(stderr, "%s: unrecognized option %s\n", argv[0], argv[i]);
      usage(2);
    }
    if (!has_value) {
      if (i + 1 == argc) {
        std::fprintf(stderr, "%s: option %s needs a value\n", argv[0], argv[i]);
        usage(2);
      }
      value = argv[++i];
    }
    if (name == "--address") {
      options.address = std::string(value);
      continue;
    }
    char* end = nullptr;
    std::string text(value);
    long port = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || port < 1 || port > 65535) {
      std::fprintf(stderr, "%s: bad port %s (1-65535)\n", argv[0], text.c_str());
      usage(2);
    }
    options.port = static_cast<int>(port);
  }
  log::enable_pretty_logging(log::Level::INFO);
  return options;
}
