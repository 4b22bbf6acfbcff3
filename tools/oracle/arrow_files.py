"""The Arrow ecosystem as an oracle for dpo's files, in both directions.

Reads one JSON request on stdin:

    {"read": ["PATH.arrow", "PATH.arrows", ...], # dpo outputs (any codec): files and streams
     "out_dir": "DIR",                           # where to write the files below
     "sets": [{"name": "standard", "rows": [{...}, ...]}, ...]}

and writes one JSON answer on stdout:

    {"versions": {"pyarrow": ..., "polars": ..., "datasets": ...},
     "read": {PATH: {"schema": [[name, type], ...],
                     "format": "file" or "stream",      # by its first bytes
                     "batches": N,                      # record batches, the end marker included
                     "end_marker": {key: value},        # the last batch's custom metadata
                     "libs": {READER: {column: [values]}}}},
     "written": [{"set": NAME, "writer": WHAT, "path": PATH, "schema": [[name, type], ...]}, ...]}

"read": every dpo output is read by each library independently, and the
caller compares each column with what it wrote. Arrow IPC files (what the
tools write to FILE.arrow) by pyarrow.ipc.open_file, polars.read_ipc,
polars.scan_ipc and pandas.read_feather; streams (stdout, FILE.arrows) by
pyarrow.ipc.open_stream, polars.read_ipc_stream and datasets.Dataset.from_file
(which reads streams only).

"written": every set of preference rows is written by pyarrow (Parquet with
default and large types and several row groups; Arrow IPC file and stream,
compressed, with large_string / large_list, dictionary and string_view
columns), by polars (IPC file and stream, Parquet) and by `datasets`
(to_parquet and save_to_disk, with default features and with large_string /
LargeList features). The caller reads each with dpo-tokenize and compares with
the JSONL equivalent.

Offline, CPU only, no model.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import json
import sys

import datasets
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from datasets import Dataset, Features, LargeList, List, Value


def schema_of(s):
    return [[f.name, str(f.type)] for f in s]


def plain(v):
    """numpy arrays and scalars (pandas' values) as JSON values."""
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def custom(md):
    return {k.decode(): v.decode() for k, v in (md or {}).items()}


def read_dpo(path):
    with open(path, "rb") as f:
        is_file = f.read(6) == b"ARROW1"
    libs = {}
    if is_file:
        r = ipc.open_file(path)
        table = r.read_all()
        n = r.num_record_batches
        end = custom(r.get_batch_with_custom_metadata(n - 1).custom_metadata) if n else {}
        libs["pyarrow.ipc.open_file"] = table.to_pydict()
        libs["polars.read_ipc"] = pl.read_ipc(path).to_dict(as_series=False)
        libs["polars.scan_ipc"] = pl.scan_ipc(path).collect().to_dict(as_series=False)
        df = pd.read_feather(path)
        libs["pandas.read_feather"] = {c: [plain(v) for v in df[c]] for c in df.columns}
    else:
        with open(path, "rb") as f:
            r = ipc.open_stream(f)
            batches = list(r.iter_batches_with_custom_metadata())
        table = pa.Table.from_batches([b for b, _ in batches], schema=r.schema)
        n = len(batches)
        end = custom(batches[-1][1]) if n else {}
        libs["pyarrow.ipc.open_stream"] = table.to_pydict()
        libs["polars.read_ipc_stream"] = pl.read_ipc_stream(path).to_dict(as_series=False)
        libs["datasets.Dataset.from_file"] = Dataset.from_file(path).to_dict()
    return {"schema": schema_of(table.schema), "format": "file" if is_file else "stream",
            "batches": n, "end_marker": end, "libs": libs}


def large(t):
    """string -> large_string, list -> large_list, recursively."""

    def conv(dt):
        if pa.types.is_string(dt):
            return pa.large_string()
        if pa.types.is_list(dt):
            return pa.large_list(pa.field(dt.value_field.name, conv(dt.value_type)))
        if pa.types.is_struct(dt):
            return pa.struct([pa.field(f.name, conv(f.type)) for f in dt])
        return dt

    return t.cast(pa.schema([pa.field(f.name, conv(f.type)) for f in t.schema]))


def view(t):
    """string -> string_view in the top-level string columns."""
    return t.cast(pa.schema([pa.field(f.name, pa.string_view() if pa.types.is_string(f.type) else f.type) for f in t.schema]))


def dictionary(t):
    cols = []
    for f, c in zip(t.schema, t.columns):
        cols.append(c.dictionary_encode() if pa.types.is_string(f.type) else c)
    return pa.table(cols, names=t.column_names)


def large_features(features):
    def conv(ft):
        if isinstance(ft, Value) and ft.dtype == "string":
            return Value("large_string")
        if isinstance(ft, (List, LargeList)):
            return LargeList(conv(ft.feature))
        if isinstance(ft, dict):
            return {k: conv(v) for k, v in ft.items()}
        return ft

    return Features({k: conv(v) for k, v in features.items()})


def write_sets(out_dir, sets):
    written = []

    def add(name, writer, path):
        if os.path.isdir(path):
            path = os.path.join(path, "data-00000-of-00001.arrow")
        if path.endswith(".parquet"):
            schema = pq.read_schema(path)
        elif path.endswith(".arrows") or "data-00000" in path:
            with open(path, "rb") as f:
                schema = ipc.open_stream(f).schema
        else:
            schema = ipc.open_file(path).schema
        written.append({"set": name, "writer": writer, "path": path, "schema": schema_of(schema)})

    for s in sets:
        name, rows = s["name"], s["rows"]
        p = lambda suffix: os.path.join(out_dir, name + "_" + suffix)
        t = pa.Table.from_pylist(rows)
        lt = large(t)

        pq.write_table(t, p("pyarrow.parquet"), row_group_size=3)
        add(name, "pyarrow parquet, 3-row groups", p("pyarrow.parquet"))
        pq.write_table(lt, p("pyarrow_large.parquet"), compression="zstd")
        add(name, "pyarrow parquet, large_string/large_list, zstd", p("pyarrow_large.parquet"))
        with ipc.new_file(p("pyarrow_large.arrow"), lt.schema, options=ipc.IpcWriteOptions(compression="zstd")) as w:
            for b in lt.to_batches(max_chunksize=4):
                w.write_batch(b)
        add(name, "pyarrow IPC file, large_string/large_list, zstd, 4-row batches", p("pyarrow_large.arrow"))
        with ipc.new_stream(p("pyarrow_large.arrows"), lt.schema, options=ipc.IpcWriteOptions(compression="lz4")) as w:
            w.write_table(lt, max_chunksize=5)
        add(name, "pyarrow IPC stream, large_string/large_list, lz4", p("pyarrow_large.arrows"))
        with ipc.new_stream(p("pyarrow.arrows"), t.schema) as w:
            w.write_table(t)
        add(name, "pyarrow IPC stream, uncompressed", p("pyarrow.arrows"))
        vt = view(t)
        with ipc.new_file(p("pyarrow_view.arrow"), vt.schema) as w:
            w.write_table(vt)
        add(name, "pyarrow IPC file, string_view", p("pyarrow_view.arrow"))
        dt = dictionary(t)
        with ipc.new_file(p("pyarrow_dict.arrow"), dt.schema) as w:
            w.write_table(dt)
        add(name, "pyarrow IPC file, dictionary-encoded strings", p("pyarrow_dict.arrow"))

        df = pl.from_arrow(t)
        df.write_ipc(p("polars.arrow"), compression="zstd")
        add(name, "polars write_ipc, zstd", p("polars.arrow"))
        df.write_ipc_stream(p("polars.arrows"), compression="lz4")
        add(name, "polars write_ipc_stream, lz4", p("polars.arrows"))
        df.write_parquet(p("polars.parquet"))
        add(name, "polars write_parquet", p("polars.parquet"))

        ds = Dataset.from_list(rows)
        ds.to_parquet(p("datasets.parquet"))
        add(name, "datasets to_parquet", p("datasets.parquet"))
        ds.save_to_disk(p("datasets_disk"))
        add(name, "datasets save_to_disk", p("datasets_disk"))
        dl = ds.cast(large_features(ds.features))
        dl.to_parquet(p("datasets_large.parquet"))
        add(name, "datasets to_parquet, large_string/LargeList", p("datasets_large.parquet"))
        dl.save_to_disk(p("datasets_large_disk"))
        add(name, "datasets save_to_disk, large_string/LargeList", p("datasets_large_disk"))
    return written


def main():
    req = json.load(sys.stdin)
    datasets.disable_progress_bars()
    datasets.disable_caching()
    out = {
        "versions": {"pyarrow": pa.__version__, "polars": pl.__version__, "pandas": pd.__version__,
                     "datasets": datasets.__version__},
        "read": {path: read_dpo(path) for path in req.get("read", [])},
        "written": write_sets(req["out_dir"], req.get("sets", [])) if req.get("sets") else [],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
