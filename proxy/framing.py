"""The engine's attach stream, as bytes in and frames or lines out (sans-I/O).

A non-TTY attach multiplexes the container's stdout and stderr on one connection: each
frame is an 8-byte header (byte 0 the stream: 1 stdout, 2 stderr; bytes 4–7 the payload
length, big-endian) and then the payload. Frames do not align with lines, so stdout is
re-split on `\\n` by a `LineSplitter`. stdin goes the other way unframed. Reading the
socket, and deciding what a line means, are left to others.
"""

from __future__ import annotations

import enum
import struct

HEADER = struct.Struct(">BxxxL")
DEFAULT_MAX_LINE = 32 * 1024 * 1024


class Stream(enum.IntEnum):
    STDIN = 0
    STDOUT = 1
    STDERR = 2


class FramingError(Exception):
    """The attach stream broke its framing; nothing after this point can be trusted."""


class Demuxer:
    """Turns the multiplexed byte stream into `(stream, payload)` pieces.

    Payloads are handed on as they arrive (a large frame comes out in several pieces), so
    memory stays bounded by what one `feed` was given, whatever a header claims.
    """

    def __init__(self) -> None:
        self._header = bytearray()
        self._stream = Stream.STDOUT
        self._remaining = 0

    def feed(self, data: bytes) -> list[tuple[Stream, bytes]]:
        out: list[tuple[Stream, bytes]] = []
        view = memoryview(data)
        while view:
            if self._remaining:
                piece = view[: self._remaining]
                self._remaining -= len(piece)
                view = view[len(piece) :]
                _append(out, self._stream, bytes(piece))
                continue
            need = HEADER.size - len(self._header)
            self._header += view[:need]
            view = view[need:]
            if len(self._header) == HEADER.size:
                self._start_frame(bytes(self._header))
                self._header.clear()
        return out

    @property
    def idle(self) -> bool:
        """True between frames: a stream that ends here ended cleanly."""
        return not self._header and not self._remaining

    def _start_frame(self, header: bytes) -> None:
        kind, length = HEADER.unpack(header)
        if header[1:4] != b"\0\0\0" or kind not in (Stream.STDOUT, Stream.STDERR):
            raise FramingError(f"bad frame header {header.hex()}")
        self._stream = Stream(kind)
        self._remaining = length


def _append(out: list[tuple[Stream, bytes]], stream: Stream, payload: bytes) -> None:
    if out and out[-1][0] is stream:  # one feed: join pieces of the same stream
        out[-1] = (stream, out[-1][1] + payload)
    else:
        out.append((stream, payload))


def frame(stream: Stream, payload: bytes) -> bytes:
    """One frame as the engine writes it (for tests and fakes)."""
    return HEADER.pack(stream, len(payload)) + payload


class LineTooLong(Exception):
    """A line grew past the limit without a newline."""


class LineSplitter:
    """Re-splits a byte stream on `\\n`; keeps the partial last line for the next `feed`.

    Lines come out without their `\\n` (and without a `\\r` before it). A partial line
    longer than `max_line` raises `LineTooLong`: the peer is not speaking line-delimited
    JSON-RPC any more.
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._max_line = max_line
        self._partial = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        if b"\n" not in data:
            self._partial += data
            self._check()
            return []
        first, *middle, last = data.split(b"\n")
        self._partial += first
        lines = [bytes(self._partial), *middle]
        self._partial = bytearray(last)
        self._check()
        if any(len(line) > self._max_line for line in lines):
            raise LineTooLong(f"a line is longer than {self._max_line} bytes")
        return [_strip_cr(line) for line in lines if line.strip()]

    @property
    def pending(self) -> int:
        """How many bytes of an unfinished line are held."""
        return len(self._partial)

    def _check(self) -> None:
        if len(self._partial) > self._max_line:
            raise LineTooLong(f"a line is longer than {self._max_line} bytes")


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


def encode_stdin(message: bytes) -> bytes:
    """One message for a non-TTY attach: the bytes as they are, then `\\n`.

    The caller guarantees the message holds no raw line break (compact JSON never does);
    a stray one would split the message in two at the server, so it is refused here.
    """
    # INVARIANT: one message is exactly one line at the server; a raw CR or LF inside it
    # would let a client smuggle a second message past the id rewriting.
    if b"\n" in message or b"\r" in message:
        raise ValueError("a stdin message must not contain a raw line break")
    return message + b"\n"
