"""Recompute every batch's dpo.crc32c of a dpo stream (argv[1]) from the
definition in docs/format.md ("Checksums"), independently of arrow-go, with
pyarrow and a pure-Python CRC-32C, and check the batch order keys of format
version 3 ("Batch order and completeness") from values recomputed here:
each data batch's position, the rows before it and the previous batch's
checksum as computed here (not as stored). Prints one JSON object:
{"batches": N, "mismatches": [...], "missing": [...], "order": [...]}.
Used by pkg/arrowio's TestChecksumMatchesSpec."""
import json
import struct
import sys

import pyarrow as pa

_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def tag(t):
    if pa.types.is_string(t):
        return b"S"
    if pa.types.is_binary(t):
        return b"B"
    if pa.types.is_list(t):
        return b"L"
    if pa.types.is_int32(t):
        return b"i"
    if pa.types.is_int64(t):
        return b"I"
    if pa.types.is_float32(t):
        return b"f"
    if pa.types.is_float64(t):
        return b"F"
    if pa.types.is_boolean(t):
        return b"b"
    return b"T"


FMT = {b"i": "<i", b"I": "<q", b"f": "<f", b"F": "<d"}


def column_bytes(col):
    t = col.type
    out = tag(t)
    if pa.types.is_list(t):
        out += tag(t.value_type)
    if col.null_count:
        raise SystemExit("columns with nulls are outside this check")
    out += b"\x00"
    vals = col.to_pylist()
    if pa.types.is_string(t) or pa.types.is_binary(t):
        bs = [v.encode() if isinstance(v, str) else v for v in vals]
        out += b"".join(struct.pack("<I", len(b)) for b in bs) + b"".join(bs)
    elif pa.types.is_list(t):
        out += b"".join(struct.pack("<I", len(v)) for v in vals)
        f = FMT[tag(t.value_type)]
        out += b"".join(struct.pack(f, x) for v in vals for x in v)
    elif pa.types.is_boolean(t):
        out += bytes(1 if v else 0 for v in vals)
    else:
        out += b"".join(struct.pack(FMT[tag(t)], v) for v in vals)
    return out


def main():
    reader = pa.ipc.open_stream(pa.OSFile(sys.argv[1], "rb"))
    schema = reader.schema
    head = b"".join(f.name.encode() + b"\x00" for f in schema)
    md = schema.metadata or {}
    for k in sorted(md):
        head += k + b"\x00" + md[k] + b"\x00"
    n, mismatches, missing, order = 0, [], [], []
    index, rows, prev = 0, 0, "00000000"  # expected order keys of the next batch
    while True:
        try:
            batch, cmd = reader.read_next_batch_with_custom_metadata()
        except StopIteration:
            break
        kv = dict(cmd) if cmd is not None else {}
        want = kv.pop(b"dpo.crc32c", None)
        if want is None:
            missing.append(n)
            n += 1
            continue
        data = head
        for k in sorted(kv):
            data += k + b"\x00" + kv[k] + b"\x00"
        data += struct.pack("<Q", batch.num_rows)
        for col in batch.columns:
            data += column_bytes(col)
        got = "%08x" % crc32c(data)
        if got != want.decode():
            mismatches.append({"batch": n, "want": want.decode(), "python": got})
        if b"dpo.end" in kv:
            expect = {b"dpo.num_rows": str(rows), b"dpo.num_batches": str(index), b"dpo.prev_crc32c": prev}
        else:
            expect = {b"dpo.batch_index": str(index), b"dpo.row_offset": str(rows), b"dpo.prev_crc32c": prev}
            index, rows = index + 1, rows + batch.num_rows
        for k, v in expect.items():
            if kv.get(k, b"").decode() != v:
                order.append({"batch": n, "key": k.decode(), "stored": kv.get(k, b"").decode(), "python": v})
        prev = got
        n += 1
    json.dump({"batches": n, "mismatches": mismatches, "missing": missing, "order": order}, sys.stdout)


main()
