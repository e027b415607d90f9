"""Serving optuna-dashboard safely: read-only, and only on loopback unless asked.

optuna-dashboard has no authentication and no read-only mode of its own (as of 0.21): its HTTP
API creates, renames and deletes studies, tells trials and even upgrades the database schema.
``ablate dashboard`` therefore answers every request that could write (anything but GET, HEAD and
OPTIONS) with 403, opens the storage read-only besides, and binds an address beyond this machine
only with ``--allow-remote``, warning that anyone who reaches the port can read every study.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ablation.errors import UserError

READ_METHODS = ("GET", "HEAD", "OPTIONS")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is on this machine only."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        raise UserError(f"--host {host!r}: not an address or a name this machine can "
                        "resolve") from None
    return all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback
               for info in infos)


def read_only(app: WSGIApp) -> WSGIApp:
    """``app`` answering every request that could write with 403 Forbidden."""
    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET").upper() in READ_METHODS:
            return app(environ, start_response)
        body = json.dumps({"reason": "ablate dashboard is read-only; run optuna-dashboard "
                           "itself on a copy to edit"}).encode()
        start_response("403 Forbidden", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(body)))])
        return [body]

    return guarded


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - wsgiref's name
        pass  # one line per request would bury the banner; errors still reach stderr


def serve(app: WSGIApp, host: str, port: int) -> None:
    """Serve ``app`` on host:port until Ctrl-C; a port in use is a UserError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(WSGIServer):
        address_family = family

    try:
        server = make_server(host, port, app, server_class=Server, handler_class=_QuietHandler)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    with server:
        server.serve_forever()
