"""UltraFeedback-style best-worst binarization with polars, as an oracle for
dpo-tokenize's rated completions (pkg/pairs TestBestWorstMatchesPolars).

Reads one JSON request on stdin:

    {"path": "FILE.jsonl"}   # raw-UltraFeedback-shaped rows:
                             # {"instruction", "completions": [{"response", "overall_score", ...}]}

and writes one JSON answer on stdout:

    {"pairs": [{"row", "prompt", "chosen", "rejected"}, ...],   # input order
     "skipped": N}   # rows with one completion or max score == min score

chosen is the response at polars' arg_max of overall_score within the row,
rejected the one at arg_min (both the first occurrence); rows whose best and
worst scores are equal, or that have fewer than two completions, are skipped.
No model, CPU only, offline.
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import polars as pl


def main():
    req = json.load(sys.stdin)
    df = pl.read_ndjson(req["path"]).with_row_index("row")
    long = df.explode("completions").with_columns(
        pl.col("completions").struct.field("response").alias("response"),
        pl.col("completions").struct.field("overall_score").cast(pl.Float64).alias("score"),
    )
    g = (
        long.group_by("row", maintain_order=True)
        .agg(
            pl.col("instruction").first().alias("prompt"),
            pl.col("response").get(pl.col("score").arg_max()).alias("chosen"),
            pl.col("response").get(pl.col("score").arg_min()).alias("rejected"),
            (pl.col("score").max() - pl.col("score").min()).alias("gap"),
            pl.len().alias("n"),
        )
        .sort("row")
    )
    keep = g.filter((pl.col("n") >= 2) & (pl.col("gap") > 0))
    out = {
        "pairs": [
            {"row": r["row"], "prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}
            for r in keep.iter_rows(named=True)
        ],
        "skipped": g.height - keep.height,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
