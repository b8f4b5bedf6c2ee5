#!/usr/bin/python3
"""Hello-world over a bare Python Tornado 6.2 HTTPServer with a trivial request callback: the peer of
bench/http_hello.cpp in bench/run's http rows. Every request gets "Hello, world" with the headers
nginx sends for its `return 200`: Content-Type, Content-Length, Date and Server.

Usage: http_hello.py [--port=8888] [--address=127.0.0.1]
"""
import time

from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPHeaders, ResponseStartLine, format_timestamp
from tornado.ioloop import IOLoop
from tornado.options import define, options

define("port", default=8888, help="TCP port to listen on")
define("address", default="127.0.0.1", help="address to listen on")

BODY = b"Hello, world"


def handle_request(request):
    headers = HTTPHeaders({
        "Content-Type": "text/plain",
        "Content-Length": str(len(BODY)),
        "Date": format_timestamp(time.time()),
        "Server": "TornadoServer/6.2",
    })
    request.connection.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"), headers, BODY)
    request.connection.finish()


if __name__ == "__main__":
    options.parse_command_line()
    server = HTTPServer(handle_request)
    server.listen(options.port, options.address)
    IOLoop.current().start()
