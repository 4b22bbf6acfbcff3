"""A small, independent safetensors reader/writer in numpy.

It exists so the Go package pkg/safetensors can be checked against a second
implementation written from the format description
(https://github.com/huggingface/safetensors#format), not against itself:

    8 bytes   little-endian u64 N, the header length
    N bytes   JSON: {"__metadata__": {str: str}?,
                     name: {"dtype": "F32", "shape": [..],
                            "data_offsets": [begin, end]}, ...}
              (padded with spaces; offsets are relative to the data section)
    rest      the data section, tensors little-endian, back to back

BF16 has no numpy dtype: it is read as uint16 and widened to float32 by
shifting into the high half of a uint32 (exact), and written from float32
with round-to-nearest-even on the bit pattern (torch's float->bfloat16 rule).
"""
import json
import struct

import numpy as np

_NP = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
       "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def bf16_to_f32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(f32):
    b = np.ascontiguousarray(f32, dtype=np.float32).view(np.uint32)
    rounded = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    nan = np.isnan(f32)
    return np.where(nan, (b >> 16) | 0x0040, rounded).astype(np.uint16)


def load(path):
    """Return ({name: float32/int ndarray}, metadata or None, raw dtypes)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None)
    data = buf[8 + n:]
    tensors, dtypes = {}, {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        raw = data[begin:end]
        if e["dtype"] == "BF16":
            a = bf16_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            a = np.frombuffer(raw, dtype=_NP[e["dtype"]])
        tensors[name] = a.reshape(e["shape"])
        dtypes[name] = e["dtype"]
    return tensors, meta, dtypes


def save(path, tensors, metadata=None, dtype="F32"):
    """Write float arrays as dtype (F32, F16 or BF16), tensors sorted by
    name, header padded with spaces to a multiple of 8 bytes."""
    header, chunks, off = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        if dtype == "BF16":
            raw = f32_to_bf16(a.astype(np.float32)).tobytes()
        else:
            raw = np.ascontiguousarray(a.astype(_NP[dtype])).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


if __name__ == "__main__":
    # `python3 safetensors_np.py FILE` prints a JSON summary used by the Go
    # tests: metadata, and per tensor dtype, shape and float64 values.
    import sys
    ts, meta, dts = load(sys.argv[1])
    out = {"metadata": meta, "tensors": {
        k: {"dtype": dts[k], "shape": list(v.shape),
            "values": [float(x) for x in np.asarray(v, dtype=np.float64).ravel()]}
        for k, v in ts.items()}}
    json.dump(out, sys.stdout)
