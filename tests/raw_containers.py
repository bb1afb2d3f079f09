"""Camera RAW containers that are not TIFF-structured, written by hand from their published layouts: the
metadata of a Canon CR3 and of a Fujifilm RAF (cevr_cli/io/exif.py reads them)."""

import struct

import cv2
import numpy as np


def tiff_ifd(entries: list[tuple[int, int, object]]) -> bytes:
    """A little-endian TIFF structure with one IFD, written by hand (TIFF 6.0, sections 2 and 4): entries
    (tag, type, value) of type 2 (ASCII), 3 (SHORT) or 5 (RATIONAL, a (numerator, denominator) pair)."""
    data_start = 8 + 2 + 12 * len(entries) + 4
    table, data = b"", b""
    for tag, kind, value in sorted(entries, key=lambda e: e[0]):
        if kind == 2:
            raw, count = value.encode() + b"\x00", len(value) + 1
        elif kind == 3:
            raw, count = struct.pack("<H", value), 1
        else:
            raw, count = struct.pack("<II", *value), 1
        if len(raw) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + raw.ljust(4, b"\x00")
        else:
            table += struct.pack("<HHII", tag, kind, count, data_start + len(data))
            data += raw + b"\x00" * (len(raw) % 2)
    return b"II*\x00" + struct.pack("<IH", 8, len(entries)) + table + b"\x00" * 4 + data


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


CR3_IFD0 = [(0x010F, 2, "Canon"), (0x0110, 2, "Canon EOS R6"), (0x0132, 2, "2024:05:01 10:11:12")]
CR3_EXIF = [(0x829A, 5, (1, 250)), (0x829D, 5, (28, 10)), (0x8827, 3, 800), (0x9003, 2, "2024:05:01 10:11:10"),
            (0xA434, 2, "RF24-105mm F4 L IS USM")]


def write_cr3(path, boxes_in_uuid: bytes, uuid: bytes = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")):
    """A CR3's metadata as Clevy's description lays it out: ftyp (brand crx), then moov holding Canon's uuid box
    (CNCV, CMT1, CMT2 ...), then the image data (here a stand-in mdat)."""
    moov = box(b"moov", box(b"uuid", uuid + box(b"CNCV", b"CanonCR3_001/00.09.00/00.00.00") + boxes_in_uuid)
               + box(b"mvhd", bytes(100)))
    path.write_bytes(box(b"ftyp", b"crx \x00\x00\x00\x01crx isom") + moov + box(b"mdat", bytes(256)))
    return path


def raf_header(camera: str, preview_offset: int, preview_length: int) -> bytes:
    header = bytearray(0x94)
    header[:16] = b"FUJIFILMCCD-RAW "
    header[16:20], header[20:28] = b"0201", b"FF129502"
    header[0x1C:0x1C + len(camera)] = camera.encode()
    header[0x3C:0x40] = b"0100"
    header[0x54:0x5C] = struct.pack(">II", preview_offset, preview_length)
    return bytes(header)


def jpeg_with_exif(exif_tiff: bytes | None) -> bytes:
    """An OpenCV JPEG with an APP1 EXIF segment spliced in after SOI (JPEG File Interchange / EXIF 2.32, 4.5.4)."""
    ok, encoded = cv2.imencode(".jpg", np.full((16, 24, 3), 128, np.uint8))
    jpeg = encoded.tobytes()
    if exif_tiff is None:
        return jpeg
    payload = b"Exif\x00\x00" + exif_tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]

