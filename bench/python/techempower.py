#!/usr/bin/python3
"""TechEmpower's plaintext and JSON tests on Python Tornado 6.2 (Debian's python3-tornado): the
Python peer of bench/techempower.cpp in `bench/run techempower`. The handlers are those of
TechEmpower's own Tornado entry (frameworks/Python/tornado): set the Content-Type, then finish()
with the body; the JSON one serializes a new dict for each request.

Usage: techempower.py --port=N [--address=127.0.0.1]
"""
import asyncio
import json
import sys

import tornado.httpserver
import tornado.web


class BaseHandler(tornado.web.RequestHandler):
    def compute_etag(self):
        # As bench/techempower.cpp: TechEmpower's responses carry no Etag.
        return None


class PlaintextHandler(BaseHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.finish(b"Hello, World!")


class JsonHandler(BaseHandler):
    def get(self):
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": "Hello, World!"}))


async def main(port, address):
    app = tornado.web.Application([(r"/plaintext", PlaintextHandler), (r"/json", JsonHandler)])
    server = tornado.httpserver.HTTPServer(app)
    server.listen(port, address)
    print("listening on %s:%d" % (address, port), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    port, address = 0, "127.0.0.1"
    for a in sys.argv[1:]:
        if a.startswith("--port="):
            port = int(a[7:])
        elif a.startswith("--address="):
            address = a[10:]
        else:
            print(__doc__, file=sys.stderr)
            sys.exit(2)
    asyncio.run(main(port, address))
