"""Files as a GPU machine writes them, made on a CPU-only one.

``torch.save`` records each tensor storage's device as a string in the archive's pickle
('cpu', 'cuda:0'); loading such a file without ``map_location`` on a machine without that device
fails. Rewriting the string gives byte for byte the file a GPU run would have written.
"""

from __future__ import annotations

import io
import zipfile

_CPU = b"X\x03\x00\x00\x00cpu"  # the pickle's BINUNICODE 'cpu' (torch.save's protocol 2)


def as_saved_on(blob: bytes, device: str = "cuda:0") -> bytes:
    """The ``torch.save`` archive ``blob`` with every tensor recorded as stored on ``device``."""
    src = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    moved = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                moved = data.count(_CPU)
                name = device.encode()
                data = data.replace(_CPU, b"X" + len(name).to_bytes(4, "little") + name)
            dst.writestr(info.filename, data)
    assert moved, "no CPU tensor found to move"
    return out.getvalue()
