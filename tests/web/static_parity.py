"""Serves a directory with Python Tornado's StaticFileHandler and prints what it answers.

Used by tests/web/static_test.cpp (StaticParityTest): the C++ test asks our StaticFileHandler the
same questions and compares the lines. Usage:

    python3 static_parity.py STATIC_DIR [--default_filename=NAME] REQUEST...

Each REQUEST is "METHOD PATH [Range]" (one argument, spaces inside; Range is a header value such as
"bytes=0-9"). For each, one line is printed:

    METHOD PATH [Range] -> CODE etag=... type=... length=... range=... modified=... ranges=... location=... body_crc32=...

with "-" for an absent header (error responses: "METHOD PATH -> CODE" only, since error pages
are RequestHandler.write_error's business). A last line gives static_url("robots.txt") and static_url of every
other requested file under /static/.
"""
import sys
import zlib

from tornado import httpclient, ioloop, web
from tornado.testing import bind_unused_port
from tornado.httpserver import HTTPServer


class StaticUrlHandler(web.RequestHandler):
    def get(self, path):
        self.write(self.static_url(path))


async def main(static_dir, requests):
    settings = dict(static_path=static_dir)
    if requests and requests[0].startswith("--default_filename="):
        settings["static_handler_args"] = dict(
            default_filename=requests.pop(0).split("=", 1)[1]
        )
    app = web.Application([(r"/static_url/(.*)", StaticUrlHandler)], **settings)
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    client = httpclient.AsyncHTTPClient()
    out = []
    for spec in requests:
        parts = spec.split(" ", 2)
        method, path = parts[0], parts[1]
        headers = {}
        if len(parts) > 2:
            headers["Range"] = parts[2]
        response = await client.fetch(
            "http://127.0.0.1:%d%s" % (port, path),
            method=method,
            headers=headers,
            raise_error=False,
            follow_redirects=False,
            decompress_response=False,
        )
        h = response.headers
        if response.code >= 400:
            # Error pages belong to RequestHandler.write_error, not to the static handler.
            out.append("%s -> %d" % (spec, response.code))
            continue
        out.append(
            "%s -> %d etag=%s type=%s length=%s range=%s modified=%s ranges=%s location=%s body_crc32=%08x"
            % (
                spec,
                response.code,
                h.get("Etag", "-"),
                h.get("Content-Type", "-"),
                h.get("Content-Length", "-"),
                h.get("Content-Range", "-"),
                h.get("Last-Modified", "-"),
                h.get("Accept-Ranges", "-"),
                h.get("Location", "-"),
                zlib.crc32(response.body or b""),
            )
        )
    for spec in requests:
        path = spec.split(" ", 2)[1]
        if path.startswith("/static/"):
            response = await client.fetch(
                "http://127.0.0.1:%d/static_url/%s" % (port, path[len("/static/"):]),
                raise_error=False,
            )
            out.append("static_url %s -> %s" % (path, response.body.decode()))
    server.stop()
    print("\n".join(out))


if __name__ == "__main__":
    ioloop.IOLoop.current().run_sync(lambda: main(sys.argv[1], sys.argv[2:]))
