"""ICC profiles built byte by byte (ICC.1:2001-04, version 2 matrix/TRC display profiles): Display P3 and kin.

Pillow's ImageCms.createProfile makes only sRGB, LAB and XYZ, so the tests write their own: colorants
from the published Display P3 primaries (DCI-P3 red/green/blue with the D65 white), adapted to the D50
profile connection space with the Bradford transform, and the sRGB tone curve sampled at 1024 points.
"""

import struct

import numpy as np

P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
ADOBE_RGB_PRIMARIES = ((0.640, 0.330), (0.210, 0.710), (0.150, 0.060))
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
D65 = (0.3127, 0.3290)
D50_XYZ = np.array([0.9642, 1.0, 0.8249])  # the ICC profile connection space white
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def rgb_to_xyz(primaries, white=D65) -> np.ndarray:
    """Linear RGB -> XYZ with RGB (1, 1, 1) = the white at Y = 1 (SMPTE RP 177)."""
    columns = np.array([[x / y, 1.0, (1.0 - x - y) / y] for x, y in primaries]).T
    wx, wy = white
    return columns * np.linalg.solve(columns, np.array([wx / wy, 1.0, (1.0 - wx - wy) / wy]))


def srgb_decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def _s15f16(values) -> bytes:
    return b"".join(struct.pack(">i", round(float(v) * 65536)) for v in values)


def _xyz_tag(xyz) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15f16(xyz)


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_ + struct.pack(">II", 0, 0)
            + struct.pack(">HB", 0, 0) + b"\0" * 67)


def _curve_tag(n: int = 1024) -> bytes:
    samples = np.round(srgb_decode(np.linspace(0.0, 1.0, n)) * 65535).astype(">u2")
    return b"curv" + b"\0" * 4 + struct.pack(">I", n) + samples.tobytes()


def gamma_curve_tag(gamma: float) -> bytes:
    """A curveType holding one gamma as u8Fixed8 (Adobe RGB's 2.2 is stored as 563/256 = 2.19921875)."""
    return b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0" * 2


def parametric_curve_tag(function: int, params) -> bytes:
    """A parametricCurveType (ICC.1 sec. 10.18): function type and its s15Fixed16 parameters."""
    return b"para" + b"\0" * 4 + struct.pack(">HH", function, 0) + _s15f16(params)


def display_p3_profile(description: str = "Display P3", primaries=P3_PRIMARIES, curve: bytes | None = None,
                       matrix: bool = True) -> bytes:
    """A matrix/TRC profile of ``primaries`` (D65 white) with the tone curve ``curve`` (default: the sRGB curve
    as a 1024-point table); ``matrix`` False leaves out the colorants (a profile with no matrix to apply)."""
    wx, wy = D65
    d65_xyz = np.array([wx / wy, 1.0, (1.0 - wx - wy) / wy])
    adapt = np.linalg.inv(BRADFORD) @ np.diag((BRADFORD @ D50_XYZ) / (BRADFORD @ d65_xyz)) @ BRADFORD
    colorants = adapt @ rgb_to_xyz(primaries)
    curve = curve or _curve_tag()
    tags = [(b"desc", _desc_tag(description)), (b"wtpt", _xyz_tag(D50_XYZ)), (b"rXYZ", _xyz_tag(colorants[:, 0])),
            (b"gXYZ", _xyz_tag(colorants[:, 1])), (b"bXYZ", _xyz_tag(colorants[:, 2])), (b"rTRC", curve),
            (b"gTRC", curve), (b"bTRC", curve), (b"cprt", b"text" + b"\0" * 4 + b"public domain\0")]
    if not matrix:
        tags = [(signature, body) for signature, body in tags if signature not in (b"rXYZ", b"gXYZ", b"bXYZ")]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 28 + _s15f16(D50_XYZ) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def p3_to_srgb_codes(codes: np.ndarray) -> np.ndarray:
    """8-bit Display P3 codes -> 8-bit sRGB codes, float: decode, P3 -> XYZ -> sRGB (both D65), clip, encode."""
    matrix = np.linalg.solve(rgb_to_xyz(SRGB_PRIMARIES), rgb_to_xyz(P3_PRIMARIES))
    linear = srgb_decode(codes.astype(np.float64) / 255.0) @ matrix.T
    return srgb_encode(linear) * 255.0
