# Python Tornado 6.2 as an HTTP client of tornado-cpp's HTTPServer (used by interop_test.cpp).
#
#   tornado_client.py fetch BASE_URL [CA_FILE]      AsyncHTTPClient: GET, POST with a body, a
#                                                   chunked request body (body_producer), Expect:
#                                                   100-continue, a chunked response read in
#                                                   pieces, a 404
#   tornado_client.py keepalive HOST PORT N [CA]    N GETs of /port on one connection, spoken with
#                                                   Tornado's own HTTP1Connection in client mode
#                                                   (simple_httpclient opens a connection per request)
#
# Prints one line per request; the C++ test compares them. Exits non-zero on any error.
import ssl
import sys

from tornado import httpclient, http1connection, httputil, ioloop, tcpclient


async def fetch(base, ca):
    client = httpclient.AsyncHTTPClient()
    kw = dict(ca_certs=ca) if ca else {}
    r = await client.fetch(base + "/hello", **kw)
    print("GET", r.code, r.headers.get("Content-Length"), r.body.decode())

    body = "".join(chr(ord("a") + i % 26) for i in range(100000))
    r = await client.fetch(base + "/echo?x=1", method="POST", body=body, **kw)
    expected = ("POST /echo?x=1 %d " % len(body) + body).encode()
    print("POST", r.code, len(r.body), r.body == expected)

    async def producer(write):
        for i in range(10):
            await write(("part %d;" % i).encode())

    # No Content-Length: simple_httpclient sends the body chunked, as the producer writes it.
    r = await client.fetch(base + "/echo?producer=1", method="POST", body_producer=producer, **kw)
    print("PRODUCER", r.code, r.body.decode())

    # The body is sent only after the server's "100 Continue".
    r = await client.fetch(base + "/echo?continue=1", method="POST", body="c" * 1000,
                           expect_100_continue=True, **kw)
    print("CONTINUE", r.code, r.body == ("POST /echo?continue=1 1000 " + "c" * 1000).encode())

    pieces = []
    r = await client.fetch(base + "/chunked", streaming_callback=pieces.append, **kw)
    print("CHUNKED", r.code, r.headers.get("Transfer-Encoding"), r.headers.get("Content-Length"),
          b"".join(pieces).decode())

    try:
        await client.fetch(base + "/missing", **kw)
        print("404 not raised")
    except httpclient.HTTPClientError as e:
        print("ERROR", e.code, e.response.body.decode())


class Collect(httputil.HTTPMessageDelegate):
    def __init__(self):
        self.code = None
        self.chunks = []

    def headers_received(self, start_line, headers):
        self.code = start_line.code
        self.headers = headers

    def data_received(self, chunk):
        self.chunks.append(chunk)

    def finish(self):
        pass

    def on_connection_close(self):
        pass


async def keepalive(host, port, n, ca):
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    stream = await tcpclient.TCPClient().connect(host, port, ssl_options=ctx)
    local_port = stream.socket.getsockname()[1]
    for i in range(n):
        conn = http1connection.HTTP1Connection(stream, True, http1connection.HTTP1ConnectionParameters())
        await conn.write_headers(httputil.RequestStartLine("GET", "/port", "HTTP/1.1"),
                                 httputil.HTTPHeaders({"Host": host}))
        conn.finish()
        delegate = Collect()
        keep = await conn.read_response(delegate)
        body = b"".join(delegate.chunks).decode()
        print("KEEPALIVE", i, delegate.code, body == str(local_port), keep, stream.closed())
    stream.close()


def main():
    mode = sys.argv[1]
    loop = ioloop.IOLoop.current()
    if mode == "fetch":
        loop.run_sync(lambda: fetch(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None), timeout=20)
    elif mode == "keepalive":
        loop.run_sync(lambda: keepalive(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                        sys.argv[5] if len(sys.argv) > 5 else None), timeout=20)
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
