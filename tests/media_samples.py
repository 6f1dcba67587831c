"""Small real files of each kind, built in memory (no binary fixtures in the repository)."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib


def png(width: int = 4, height: int = 4, seed: int = 0) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes((seed + x + y) % 256 for x in range(width * 3)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def jpeg(size: int = 2048, seed: int = 0) -> bytes:
    """A JPEG's markers around filler bytes: enough for any sniffer, and for WhatsApp's simulator."""
    body = bytes((seed + i * 7) % 251 for i in range(size))
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + body + b"\xff\xd9"


def pdf(size: int = 4096, seed: int = 0) -> bytes:
    body = bytes(48 + (seed + i) % 75 for i in range(size))
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + body + b"\n%%EOF\n"


def ogg_opus(size: int = 4096, seed: int = 0) -> bytes:
    """An Ogg page carrying an OpusHead: what a WhatsApp voice note starts with."""
    head = b"OggS\x00\x02" + b"\x00" * 8 + struct.pack("<I", 1) + b"\x00" * 8 + b"\x01\x13"
    return head + b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00" + bytes(
        (seed + i * 3) % 256 for i in range(size))


def zip_file() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("dentro.txt", "non sono una foto")
    return buffer.getvalue()
