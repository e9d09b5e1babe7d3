"""Frames between a caller and a script child: length-prefixed JSON over a socket.

The one rule: a caller makes as few blocking calls per frame as it can. In a threaded web
process each one may hand the GIL to another thread, which may keep it for its whole
switch interval (5 ms) after the answer came — far longer than a short script takes — so
channels use kernel timeouts (one system call per receive, where Python's timeouts poll
first), a short frame comes in one receive, and an answer is polled for briefly before
the caller blocks.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

MAX_FRAME_BYTES = 64 * 1024 * 1024
# A frame's first receive takes up to this much: most frames at once.
FIRST_READ_BYTES = 64 * 1024
# How long a caller polls for an answer before it blocks, and how many runs skip polling
# after a poll that came too early (a busy machine or a longer script: polling then only
# burns CPU the child may need).
POLL_SECONDS = 0.0003
POLL_SKIP_RUNS = 8


def _recv_some(sock: socket.socket, size: int) -> bytes:
    try:
        chunk = sock.recv(size)
    except BlockingIOError:  # the kernel timeout of ``set_deadline`` passed
        raise TimeoutError from None
    if not chunk:
        raise EOFError
    return chunk


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        buffer += _recv_some(sock, min(size - len(buffer), 1024 * 1024))
    return bytes(buffer)


def _poll(sock: socket.socket, seconds: float) -> bytes:
    """Return what arrives within ``seconds`` of polling without blocking, else b"".

    A blocking receive lets another thread of the process take the GIL, which it may then
    keep for its whole switch interval (5 ms) after the answer came; a short script
    answers well within ``seconds``, while this thread keeps the GIL but for the moments
    of each system call.
    """
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        try:
            chunk = sock.recv(FIRST_READ_BYTES, socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        if not chunk:
            raise EOFError
        return chunk
    return b""


def set_deadline(sock: socket.socket, seconds: float) -> None:
    """Bound the channel's next sends and receives to ``seconds``.

    Kernel timeouts (SO_RCVTIMEO/SO_SNDTIMEO) on a blocking socket: a receive is then one
    system call, where a Python-level timeout polls first — each call releases the GIL,
    and in a threaded web process another thread may then keep it for its whole switch
    interval (5 ms).
    """
    whole = max(seconds, 0.001)
    value = struct.pack("ll", int(whole), int((whole - int(whole)) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


def send_frame(sock: socket.socket, message: Any, tail: bytes = b"") -> None:
    data = json.dumps(message, default=str).encode()
    try:
        sock.sendall(struct.pack(">I", len(data)) + data + tail)
    except BlockingIOError:
        raise TimeoutError from None


def recv_frame(sock: socket.socket, poll_seconds: float = 0.0) -> Any:
    """Return the next frame's message, polling ``poll_seconds`` for it before blocking.

    A short frame takes one receive. A peer never sends a frame before its last one was
    answered: bytes beyond the frame are a broken protocol (ValueError).
    """
    data = _poll(sock, poll_seconds) or _recv_some(sock, FIRST_READ_BYTES)
    while len(data) < 4:
        data += _recv_some(sock, 4 - len(data))
    (size,) = struct.unpack(">I", data[:4])
    if size > MAX_FRAME_BYTES:
        raise ValueError("frame too large")
    body = data[4:]
    if len(body) > size:
        raise ValueError("bytes after the frame")
    if len(body) < size:
        body += _recv_exact(sock, size - len(body))
    return json.loads(body)
