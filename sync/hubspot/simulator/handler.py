"""The HTTP side: a threaded HTTP/1.1 server with keep-alive, and faults on the wire.

One rule: this module only moves bytes: it reads a request, hands it to
`api.admit` / `api.execute` (or to the control endpoints), and writes the
answer; fault injection happens here because hangs and dropped connections
are socket events. Every answer carries `Content-Length` (none for 204) so
connections stay open between calls.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import api
from .control import PREFIX, handle_control
from .faults import CONNECTION_FAULTS, fault_answer
from .messages import ApiResponse
from .state import SimState

logger = logging.getLogger(__name__)
MAX_BODY = 50 * 1024 * 1024


class SimulatorHTTPServer(ThreadingHTTPServer):
    """A threaded server that knows its simulator state and when it is stopping."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: SimState) -> None:
        self.state = state
        self.stopping = threading.Event()
        super().__init__(address, SimulatorHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (after a timeout, say) is normal; anything else is logged."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            logger.debug("HubSpot simulator: client %s went away", client_address)
            return
        logger.exception("HubSpot simulator: error serving %s", client_address)


class SimulatorHandler(BaseHTTPRequestHandler):
    """Serves one connection's requests."""

    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    # Headers and body go out in two writes; without this each answer waits on a delayed ACK.
    disable_nagle_algorithm = True
    server: SimulatorHTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def version_string(self) -> str:
        """HubSpot's edge answers as `cloudflare`; so does the simulator."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        body = self._read_body()
        if body is None:
            return
        if path.startswith(PREFIX):
            self._answer(handle_control(state, self.command, path, body))
            return
        admitted = api.admit(state, self.command, path, self.headers.get("Authorization"))
        if isinstance(admitted, api.Refused):
            state.requests.count(admitted.key, str(admitted.response.status))
            self._answer(admitted.response)
            return
        config = state.config
        fault = state.faults.pick(path, config)
        if fault is not None and fault not in CONNECTION_FAULTS:
            status, payload, headers = fault_answer(fault, config)
            state.requests.count(admitted.key, str(status))
            self._write(status, payload, {**admitted.headers, **headers})
            return
        if fault in ("timeout", "drop"):
            # Counted on arrival, as HubSpot does: a request held past its
            # client's timeout still counts in the window it arrived in (and
            # never in the stats of whatever runs after it).
            state.requests.count(admitted.key, fault)
            if fault == "timeout":
                self.server.stopping.wait(config.fault_timeout_seconds)
            self._cut()
            return
        host, port = self.server.server_address[:2]
        base_url = f"http://{self.headers.get('Host') or f'{host!s}:{port}'}"
        response = api.execute(
            state, admitted, path=path, query=query, raw_body=body, base_url=base_url
        )
        if fault == "drop_after":
            state.requests.count(admitted.key, fault)
            self._cut()
            return
        state.requests.count(admitted.key, str(response.status))
        if fault == "slow":
            self.server.stopping.wait(config.fault_timeout_seconds)
        self._answer(response)

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked); None after answering an error."""
        try:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return self._read_chunks()
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._write(400, b'{"status":"error","message":"Bad request body framing"}', {})
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunks(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            total += size
            if size == 0 or total > MAX_BODY:
                self.rfile.readline()
                if total > MAX_BODY:
                    raise ValueError("body too large")
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _answer(self, response: ApiResponse) -> None:
        headers = dict(response.headers)
        if response.body is None:
            payload = b""
        else:
            payload = json.dumps(response.body).encode()
            headers.setdefault("Content-Type", "application/json;charset=utf-8")
        self._write(response.status, payload, headers)

    def _write(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("X-HubSpot-Correlation-Id", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if payload and status != 204:
            self.wfile.write(payload)

    def _cut(self) -> None:
        """Drop the connection without an answer (a reset, not a clean close)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
