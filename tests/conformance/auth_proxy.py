#!/usr/bin/env python3
"""A header-injecting reverse proxy for the MCP conformance suite (Python stdlib only).

The suite's server mode has only `--url`: it cannot send `Authorization`
(modelcontextprotocol/conformance#453), and the gateway authenticates every request with
its own bearer token. This proxy listens on loopback and forwards every request to the
gateway unchanged -- method, path, query, body and every header including `Host` and
`Origin` (so the gateway's own Origin check is what the suite tests) -- and sets
`Authorization: Bearer $AGW_PROXY_TOKEN`. Responses come back unchanged: status, headers
(`Mcp-Session-Id`, `WWW-Authenticate`, ...) and body, streamed as it arrives, so SSE
(GET /mcp) works. Only hop-by-hop framing headers are re-done.

    AGW_PROXY_TOKEN=... auth_proxy.py --listen 127.0.0.1:PORT --upstream 127.0.0.1:GWPORT
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# RFC 9110 §7.6.1 hop-by-hop headers, plus the framing this proxy redoes itself.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int] = ("127.0.0.1", 0)
    token: str = ""
    quiet = False

    def _body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _forward(self) -> None:
        body = self._body()
        conn = http.client.HTTPConnection(*self.upstream, timeout=None)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            extra = {k.strip().lower() for k in self.headers.get("Connection", "").split(",")}
            for name, value in self.headers.items():
                lower = name.lower()
                if lower in HOP_BY_HOP or lower in extra or lower in ("authorization", "content-length"):
                    continue
                conn.putheader(name, value)
            conn.putheader("Authorization", f"Bearer {self.token}")
            if body is not None or self.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body or b"")))
            conn.endheaders(body)
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            self.send_error(502, f"upstream unreachable: {e}")
            return

        try:
            self.send_response_only(resp.status, resp.reason)
            length = resp.getheader("Content-Length")
            for name, value in resp.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            bodyless = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
            chunked = length is None and not bodyless
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            if bodyless:
                return
            while True:
                # read1 returns whatever has arrived: SSE events pass through at once.
                data = resp.read1(65536)
                if not data:
                    break
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                else:
                    self.wfile.write(data)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client left (e.g. closed its SSE stream): drop the upstream request too.
            self.close_connection = True
        finally:
            conn.close()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = _forward

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        if not self.quiet:
            sys.stderr.write("auth_proxy: %s %s\n" % (self.address_string(), format % args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", required=True, help="HOST:PORT to listen on (loopback)")
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the gateway")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args()

    token = os.environ.get("AGW_PROXY_TOKEN", "")
    if not token:
        sys.exit("auth_proxy: set AGW_PROXY_TOKEN to the agent token to inject")
    host, port = args.listen.rsplit(":", 1)
    up_host, up_port = args.upstream.rsplit(":", 1)
    Proxy.upstream = (up_host, int(up_port))
    Proxy.token = token
    Proxy.quiet = args.quiet

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((host, int(port)), Proxy)
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"auth_proxy: http://{host}:{server.server_address[1]} -> http://{args.upstream}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
