# A Python Tornado 6.2 server for tests/httpclient: binds 127.0.0.1 on a free port, prints the port
# on stdout, and serves until killed. The handlers follow tornado/test/httpclient_test.py.
import gzip
import sys

from tornado.ioloop import IOLoop
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler, stream_request_body


class HelloWorldHandler(RequestHandler):
    def get(self):
        name = self.get_argument("name", "world")
        self.set_header("Content-Type", "text/plain")
        self.finish("Hello %s!" % name)


class PostHandler(RequestHandler):
    def post(self):
        self.finish(
            "Post arg1: %s, arg2: %s"
            % (self.get_argument("arg1"), self.get_argument("arg2"))
        )


class ChunkHandler(RequestHandler):
    async def get(self):
        self.write("asdf")
        await self.flush()
        self.write("qwer")


class AuthHandler(RequestHandler):
    def get(self):
        self.finish(self.request.headers["Authorization"])


class CountdownHandler(RequestHandler):
    def get(self, count):
        count = int(count)
        if count > 0:
            self.redirect(self.reverse_url("countdown", count - 1))
        else:
            self.write("Zero")


class EchoHeadersHandler(RequestHandler):
    def get(self):
        self.write(
            "Authorization=%s;Cookie=%s"
            % (
                self.request.headers.get("Authorization", ""),
                self.request.headers.get("Cookie", ""),
            )
        )


class GzipHandler(RequestHandler):
    def get(self):
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")
            self.write(gzip.compress(b"asdfqwer"))
        else:
            self.write("asdfqwer")


class EchoPostHandler(RequestHandler):
    def post(self):
        self.write(self.request.body)


class PatchHandler(RequestHandler):
    def patch(self):
        "Return the request payload - so we can check it is being kept"
        self.write(self.request.body)


class AllMethodsHandler(RequestHandler):
    SUPPORTED_METHODS = RequestHandler.SUPPORTED_METHODS + ("OTHER",)

    def method(self):
        self.write(self.request.method)

    get = head = post = put = delete = options = patch = other = method


@stream_request_body
class RespondInPrepareHandler(RequestHandler):
    def prepare(self):
        self.set_status(403)
        self.finish("forbidden")


class InvalidGzipHandler(RequestHandler):
    def get(self):
        # set Content-Encoding manually to avoid automatic gzip encoding
        self.set_header("Content-Type", "text/plain")
        self.set_header("Content-Encoding", "gzip")
        # Triggering the potential bug seems to depend on input length.
        # This length is taken from the bad-response example reported in
        # https://github.com/tornadoweb/tornado/pull/2875 (uncompressed).
        text = "".join("Hello World {}\n".format(i) for i in range(9000))[:149051]
        body = gzip.compress(text.encode(), compresslevel=6) + b"\00"
        self.write(body)


class GzipLargeHandler(RequestHandler):
    # 100 KiB of "a" that compresses to a few hundred bytes: the body limit counts what it
    # decompresses to.
    def get(self):
        self.set_header("Content-Encoding", "gzip")
        self.write(gzip.compress(b"a" * 1024 * 100))


def main():
    app = Application(
        [
            (r"/hello", HelloWorldHandler),
            (r"/post", PostHandler),
            (r"/chunk", ChunkHandler),
            (r"/auth", AuthHandler),
            (r"/countdown/([0-9]+)", CountdownHandler, {}, "countdown"),
            (r"/echo_headers", EchoHeadersHandler),
            (r"/gzip", GzipHandler),
            (r"/echo_post", EchoPostHandler),
            (r"/patch", PatchHandler),
            (r"/all_methods", AllMethodsHandler),
            (r"/respond_in_prepare", RespondInPrepareHandler),
            (r"/invalid_gzip", InvalidGzipHandler),
            (r"/gzip_large", GzipLargeHandler),
        ],
        # No access log: the test output is the C++ test's.
        log_function=lambda handler: None,
    )
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    print(sockets[0].getsockname()[1], flush=True)
    IOLoop.current().start()


if __name__ == "__main__":
    sys.exit(main())
