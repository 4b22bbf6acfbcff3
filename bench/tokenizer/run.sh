#!/bin/sh
# run.sh compares the Go tokenizer (pkg/tokenizer BenchmarkEncode and
# BenchmarkEncodeLong) with the Hugging Face Rust tokenizers library
# (bench.js), both single-threaded, on the same texts: the golden corpus
# strings repeated to at least 1 MiB, "short" = the ordinary strings, "long"
# = those over 2,000 bytes; each string encoded on its own,
# add_special_tokens=false. Prints MB/s (1 MB = 1e6 bytes of input text) and
# Go/Rust ratios.
#
# Usage, from the repository root:  sh bench/tokenizer/run.sh [name ...]
# Needs `npm ci --prefix tools/refs`. Names: qwen3 mistral (default both).
set -eu
cd "$(dirname "$0")/../.."
names=${*:-qwen3 mistral}
pattern=$(echo "$names" | tr ' ' '|')
runs=${BENCH_RUNS:-3}

go_out=$(GOMAXPROCS=1 go test ./pkg/tokenizer -run '^$' -bench "^BenchmarkEncode(Long)?\$/^($pattern)\$" -benchtime "${runs}x" -count 1)
echo "$go_out" | grep -E '^(Benchmark|goos|goarch|cpu)' >&2
rust_out=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false UV_THREADPOOL_SIZE=1 BENCH_RUNS=$runs node bench/tokenizer/bench.js $names)
echo "$rust_out" >&2

printf '%-14s %10s %10s %14s %8s %12s\n' text/tokenizer 'Go MB/s' 'Rust MB/s' 'Rust net MB/s' 'Go/Rust' 'Go/Rust net'
for kind in short long; do
	bench=BenchmarkEncode
	[ "$kind" = long ] && bench=BenchmarkEncodeLong
	for n in $names; do
		g=$(echo "$go_out" | awk -v b="$bench/$n" '$1 == b || index($1, b"-") == 1 { for (i = 1; i < NF; i++) if ($(i+1) == "MB/s") print $i }')
		r=$(echo "$rust_out" | awk -v k="$kind" -v n="$n" '$1 == "rust" && $2 == k && $3 == n { print $4 }')
		rn=$(echo "$rust_out" | awk -v k="$kind" -v n="$n" '$1 == "rust" && $2 == k && $3 == n { print $(NF-1) }')
		if [ -z "$g" ] || [ -z "$r" ]; then
			echo "$kind/$n: missing result (go '$g', rust '$r')" >&2
			exit 1
		fi
		awk -v n="$kind/$n" -v g="$g" -v r="$r" -v rn="$rn" 'BEGIN { printf "%-14s %10.2f %10.2f %14.2f %8.2f %12.2f\n", n, g, r, rn, g / r, g / rn }'
	done
done
