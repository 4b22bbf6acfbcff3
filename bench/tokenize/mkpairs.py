#!/usr/bin/env python3
"""Writes a deterministic preference dataset for the dpo-tokenize benchmark.

Text is drawn from the repository's own Markdown files (English prose, code,
tables), cut into random windows: prompts of ~40-200 words, completions of
~20-300 words, so pairs look like chat/DPO data in length and character mix.
Half the pairs are conversational (a system + user turn, an assistant turn),
half standard text pairs.

    python3 bench/tokenize/mkpairs.py N > pairs.jsonl
"""
import glob
import json
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
rng = random.Random(1)
words = []
for path in sorted(glob.glob("**/*.md", recursive=True)):
    if "node_modules" in path:
        continue
    with open(path, encoding="utf-8") as f:
        words += f.read().split(" ")


def text(lo, hi):
    k = rng.randint(lo, hi)
    i = rng.randrange(0, max(1, len(words) - k))
    return " ".join(words[i : i + k])


for i in range(n):
    if i % 2:
        row = {
            "id": f"conv-{i}",
            "prompt": [
                {"role": "system", "content": text(5, 30)},
                {"role": "user", "content": text(30, 150)},
            ],
            "chosen": [{"role": "assistant", "content": text(20, 300)}],
            "rejected": [{"role": "assistant", "content": text(20, 300)}],
        }
    else:
        row = {"id": f"text-{i}", "prompt": text(40, 200), "chosen": " " + text(20, 300), "rejected": " " + text(20, 300)}
    print(json.dumps(row, ensure_ascii=False))
