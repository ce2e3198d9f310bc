"""What the HTTP server needs to face the open internet: security headers on every answer, a cap on open
connections, and one WARNING line (not an ERROR traceback) for a request that isn't HTTP we can read.

The time a connection may take is aiohttp's `keepalive_timeout`: it starts when the connection opens (and again
after each answer) and closes the connection unless a complete request head has arrived by then, so it bounds
both a half-sent request (slowloris) and an idle keep-alive connection.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

SERVER_NAME = "Decoupler"  # the Server header: no library or Python version
# The pages use no script, no frame and no form; styles and images come from this server.
CONTENT_SECURITY_POLICY = ("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; "
                           "object-src 'none'")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # for browsers that predate frame-ancestors
}
HTML_CACHE = "no-cache"  # a page is current data: revalidate every time
BUSY_ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
               b"Connection: close\r\nContent-Length: 35\r\n\r\nToo many connections; try it again.")

server_log = logging.getLogger("aiohttp.server")


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer carries the security headers; HTML is never cached unchecked."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = SERVER_NAME
    if response.content_type == "text/html" and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = HTML_CACHE


class BadRequestLog:
    """The logger aiohttp's request handler writes to: a request it could not parse (bad method, header or
    line, a 400 it answers itself) is the client's fault — one WARNING line; anything else keeps its traceback."""

    def __init__(self, logger: logging.Logger = server_log) -> None:
        self._logger = logger

    def exception(self, message: str, *args: Any, exc_info: Any = None, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            remote = args[0] if args else "?"
            self._logger.warning("bad request from %s: %s", remote, _one_line(exc_info))
            return
        self._logger.exception(message, *args, exc_info=exc_info or True, **kwargs)

    def __getattr__(self, name: str) -> Any:  # debug, warning, isEnabledFor… as the real logger
        return getattr(self._logger, name)


def _one_line(exc: HttpProcessingError) -> str:
    """The status and the parser's first line (what it quotes of the request is repr-escaped), at most 200 chars."""
    text = exc.message.splitlines()[0] if exc.message else type(exc).__name__
    return f"{exc.code} {text[:200]}"


class _Handler(RequestHandler):
    """aiohttp's connection handler, whose own answers to requests it couldn't parse (they never reach the
    application, so `add_headers` doesn't see them) carry our headers and one line that echoes nothing."""

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)
        if isinstance(response, web.Response) and status != HTTPStatus.INTERNAL_SERVER_ERROR:
            phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Bad Request"
            response.text = f"{status} {phrase}\n"
        response.headers.update(HEADERS)
        response.headers["Server"] = SERVER_NAME
        return response


def _handler(server: web.Server) -> asyncio.Protocol:
    settings = getattr(server, "_kwargs", None)  # what AppRunner passes on to each connection's handler
    if settings is None:  # an aiohttp that keeps them elsewhere: its own handler, without our error answers
        return server()
    return _Handler(server, loop=asyncio.get_running_loop(), **settings)


class _Busy(asyncio.Protocol):
    """A connection over the cap: one 503 line and closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(BUSY_ANSWER)
        transport.close()


class CappedSite(web.BaseSite):
    """A TCP site that serves at most `max_connections` connections at once; more get a 503 and are closed."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, max_connections: int) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self.max_connections = max_connections
        self.refused = 0

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]  # asyncio's Server has them

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None

        def factory() -> asyncio.Protocol:
            if len(server.connections) >= self.max_connections:
                self.refused += 1
                return _Busy()
            return _handler(server)

        self._server = await asyncio.get_running_loop().create_server(factory, self._host, self._port,
                                                                      reuse_address=True)
