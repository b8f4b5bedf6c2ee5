#!/usr/bin/python3
"""Tornado 6.2's demos/tcpecho/server.py, which Debian's python3-tornado does not ship: the peer of
examples/tcpecho in bench/run's tcpecho rows. Same logic: read a line with read_until(b"\\n"),
write it back. --logging=warning (as bench/run passes) keeps the per-line INFO log quiet, as
tcpecho_server --logging=warning does on our side.

Usage: tcpecho_server.py [--port=9888] [--address=] [--logging=info]
"""
import logging

from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.tcpserver import TCPServer
from tornado.options import options, define

define("port", default=9888, help="TCP port to listen on")
define("address", default="", help="address to listen on (default: every interface)")
logger = logging.getLogger(__name__)


class EchoServer(TCPServer):
    async def handle_stream(self, stream, address):
        while True:
            try:
                data = await stream.read_until(b"\n")
                logger.info("Received bytes: %s", data)
                if not data.endswith(b"\n"):
                    data = data + b"\n"
                await stream.write(data)
            except StreamClosedError:
                logger.warning("Lost client at host %s", address[0])
                break
            except Exception as e:
                print(e)


if __name__ == "__main__":
    options.parse_command_line()
    server = EchoServer()
    server.listen(options.port, options.address)
    logger.info("Listening on TCP port %d", options.port)
    IOLoop.current().start()
