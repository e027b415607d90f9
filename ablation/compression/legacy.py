"""Reader of the first artifact format (``ABLT`` version 1), for studies stored before safetensors.

Layout (all integers little-endian)::

    b"ABLT" | u8 version | u32 header length H | H bytes of UTF-8 JSON | payload

The JSON header holds the model's build arguments (``meta``), the payload's byte count and CRC-32,
and one entry per tensor, ``[name, shape, encoding, dtype, nbytes]``; tensors follow each other in
the payload in header order. Encodings: ``"d"`` dense values; ``"b"`` a bitmask of the non-zero
positions (1 bit per entry, numpy ``packbits`` order) then the non-zero values. Dtypes: ``"f4"``,
``"f2"``, ``"i1"`` (int8 codes preceded by one float32 scale per output channel). Nothing writes
this format any more; tests keep a writer to check that old files still load.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np
import torch

from ablation.compression.transforms import Int8Tensor
from ablation.errors import UserError

MAGIC = b"ABLT"
VERSION = 1
PREFIX = struct.Struct("<4sBI")
NP_DTYPES: dict[str, np.dtype[Any]] = {"f4": np.dtype("<f4"), "f2": np.dtype("<f2"),
                                       "i1": np.dtype("i1")}


def bad(where: object, why: str) -> UserError:
    """The one-line error of an unreadable artifact, of either format (an ArtifactError)."""
    from ablation.compression.artifact import ArtifactError

    return ArtifactError(f"{where}: not a readable ablate artifact ({why})")


def _header(blob: bytes, where: object) -> tuple[dict[str, Any], bytes]:
    if len(blob) < PREFIX.size:
        raise bad(where, f"truncated: {len(blob)} bytes")
    magic, version, hlen = PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise bad(where, f"wrong magic {magic!r}")
    if version != VERSION:
        raise bad(where, f"format version {version}, this reader knows {VERSION}")
    end = PREFIX.size + hlen
    try:
        header = json.loads(blob[PREFIX.size:end].decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad(where, "header is not valid JSON; truncated or corrupt") from None
    payload = blob[end:]
    if len(payload) != header.get("size"):
        raise bad(where, f"payload is {len(payload)} bytes, header says {header.get('size')}")
    if zlib.crc32(payload) != header.get("crc"):
        raise bad(where, "payload checksum mismatch; the file is corrupt")
    return header, payload


def _decode_one(buf: bytes, shape: list[int], enc: str, dtype: str) -> torch.Tensor | Int8Tensor:
    n = int(np.prod(shape)) if shape else 1
    pos, scales = 0, None
    if dtype == "i1":
        scales = torch.from_numpy(np.frombuffer(buf, "<f4", shape[0]).copy())
        pos = 4 * shape[0]
    if enc == "b":
        nbits = (n + 7) // 8
        mask = np.unpackbits(np.frombuffer(buf, np.uint8, nbits, pos))[:n].astype(bool)
        flat = np.zeros(n, NP_DTYPES[dtype])
        flat[mask] = np.frombuffer(buf, NP_DTYPES[dtype], int(mask.sum()), pos + nbits)
    else:
        flat = np.frombuffer(buf, NP_DTYPES[dtype], n, pos).copy()
    values = torch.from_numpy(flat.reshape(shape))
    if scales is not None:
        return Int8Tensor(values, scales)
    return values.float()


def decode(blob: bytes, where: object
           ) -> tuple[dict[str, Any], dict[str, torch.Tensor | Int8Tensor], str]:
    """(meta, tensors, mode) of a version-1 file; int8 weights come back as Int8Tensor."""
    header, payload = _header(blob, where)
    state: dict[str, torch.Tensor | Int8Tensor] = {}
    pos = 0
    try:
        for name, shape, enc, dtype, nbytes in header["tensors"]:
            state[name] = _decode_one(payload[pos:pos + nbytes], shape, enc, dtype)
            pos += nbytes
        meta = dict(header["meta"])
        dtypes = {entry[3] for entry in header["tensors"]}
    except (KeyError, ValueError, TypeError) as exc:
        raise bad(where, f"tensor table does not match the payload: {exc}") from None
    mode = "int8" if "i1" in dtypes else "fp16" if "f2" in dtypes else "fp32"
    return meta, state, mode
