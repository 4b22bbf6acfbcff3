package train

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
)

// memEstimate is the float32 memory of a training run by component, in
// bytes, as estimated before step 1 from the config, the options and the
// plan (erring on the high side; the throughput layouts only need less).
type memEstimate struct {
	weights, gradients, optimizer float64 // fixed for the run
	activations, logits           float64 // of the largest micro-batch
	// update is the optimizer step's transient: the new weights and
	// moments of the largest update group, held next to the old ones.
	update float64
}

// total is the peak: the fixed parts plus the larger of the gradient pass
// (activations and logits) and the update.
func (m memEstimate) total() float64 {
	return m.weights + m.gradients + m.optimizer + max(m.activations+m.logits, m.update)
}

// String lists the components, as the run prints them before step 1.
func (m memEstimate) String() string {
	return fmt.Sprintf("weights %s, gradients %s, optimizer state %s, activations %s, logits %s",
		fmtBytes(m.weights), fmtBytes(m.gradients), fmtBytes(m.optimizer), fmtBytes(m.activations), fmtBytes(m.logits))
}

// trainableParams is the parameter count the optimizer updates: all of
// them, or with LoRA an adapter on every linear module (an upper bound for
// any target_modules) plus the modules saved in full.
func trainableParams(cfg *model.Config, c *Config) float64 {
	all := cfg.ParamEstimate()
	if !c.LoRA.Enabled() {
		return all
	}
	r := float64(max(c.LoRA.R, 16))
	H, I := float64(cfg.HiddenSize), float64(cfg.MLPWidth())
	q, kv := float64(cfg.NumHeads*cfg.HeadDim), float64(cfg.NumKVHeads*cfg.HeadDim)
	n := float64(cfg.NumLayers) * r * ((H + q) + 2*(H+kv) + (q + H) + 2*(H+I) + (I + H))
	for _, m := range []string{"embed_tokens", "lm_head", "wte"} {
		if strings.Contains(c.LoRA.ModulesToSave, m) {
			n += float64(cfg.VocabSize) * H
		}
	}
	return n
}

// microMemory is the activation and logit memory of one micro-batch's
// forward and backward: rows sequences (2 per pair) padded to T tokens.
// Without gradient checkpointing every layer keeps its activations (per
// token: projections, attention output, MLP of every expert, residuals;
// per row: heads x T x T scores and probabilities); with it, each layer
// keeps its input and one layer at a time holds the rest. The head keeps
// a vocabulary chunk of logits and their gradient per token.
func microMemory(cfg *model.Config, c *Config, rows, T int) (activations, logits float64) {
	H, L := float64(cfg.HiddenSize), float64(cfg.NumLayers)
	kv := float64(cfg.NumKVHeads * cfg.HeadDim)
	toks := float64(rows) * float64(T)
	perLayer := toks*4*(10*H+2*kv+4*float64(cfg.MLPWidth())) + float64(rows)*8*float64(cfg.NumHeads)*float64(T)*float64(T)
	if c.GradCheckpointing {
		activations = L*toks*4*H + 2*perLayer
	} else {
		activations = L * perLayer
	}
	chunk := c.VocabChunk
	if chunk <= 0 {
		chunk = engine.DefaultVocabChunk
	}
	chunk = min(chunk, cfg.VocabSize)
	logits = toks * 4 * (3*float64(chunk) + 4)
	return activations, logits
}

// estimateMemory is the run's peak: the fixed parts and the largest
// micro-batch of the plan. The gradient is held once (the first
// micro-batch of a step returns it), twice while a later micro-batch adds
// into it. The update's transient is three copies (weight and two moments)
// of the largest update group: updateGroupBytes, or the largest tensor
// (the embedding) when that is larger.
func estimateMemory(cfg *model.Config, c *Config, plan []stepPlan) memEstimate {
	P, Pt := cfg.ParamEstimate(), trainableParams(cfg, c)
	m := memEstimate{weights: 4 * P, gradients: 4 * Pt, optimizer: 8 * Pt}
	if c.BF16 {
		m.weights += 2 * P // bf16 copies of the float32 master weights
	}
	group := min(float64(updateGroupBytes), 4*Pt)
	if !c.LoRA.Enabled() || strings.Contains(c.LoRA.ModulesToSave, "embed_tokens") {
		group = max(group, 4*float64(cfg.VocabSize)*float64(cfg.HiddenSize))
	}
	m.update = 3 * group
	for _, s := range plan {
		if len(s.micros) > 1 {
			m.gradients = 8 * Pt
		}
		for _, mb := range s.micros {
			a, l := microMemory(cfg, c, 2*len(mb.rows), mb.length)
			if a+l > m.activations+m.logits {
				m.activations, m.logits = a, l
			}
		}
	}
	return m
}

// checkMemory refuses, before step 1, a row whose forward and backward
// alone need more than what the weights, gradients and optimizer state
// leave of the limit (naming the row), then a run whose estimated peak
// exceeds the limit (naming the largest component and the flags that
// shrink it). limit <= 0 checks nothing.
func (r *runner) checkMemory(limit int64, source string) error {
	c, cfg := r.c, r.cfg
	est := estimateMemory(cfg, c, r.plan)
	fixed := est.weights + est.gradients + est.optimizer
	lim := float64(limit)
	if r.log != nil {
		allowed := "no limit (--max-memory 0)"
		if limit > 0 {
			allowed = fmt.Sprintf("%s allowed (--max-memory, %s)", fmtBytes(lim), source)
		}
		fmt.Fprintf(r.log, "memory: estimated peak %s (%s); %s\n", fmtBytes(est.total()), est, allowed)
	}
	if limit <= 0 {
		return nil
	}
	worst, worstNeed, over := -1, 0.0, 0
	for i := 0; i < r.train.len(); i++ {
		n := seqLen(r.train.pair(i))
		a, l := microMemory(cfg, c, 2, engine.BucketLen(n))
		if fixed+a+l > lim {
			over++
			if worst < 0 {
				worst, worstNeed = i, a+l
			}
		}
	}
	if worst >= 0 && fixed < lim {
		others := ""
		if over > 1 {
			others = fmt.Sprintf(" (and %d more rows)", over-1)
		}
		hint := "drop or shorten it (dpo-tokenize --max-length)"
		if !c.GradCheckpointing {
			hint += ", or use --gradient-checkpointing"
		}
		return fmt.Errorf("%s%s: its %d tokens (padded to %d) need about %s for the activations and logits of one pair, more than the %s that the weights, gradients and optimizer state (%s) leave of %s (--max-memory, %s); %s",
			r.train.rowName(worst), others, seqLen(r.train.pair(worst)), engine.BucketLen(seqLen(r.train.pair(worst))),
			fmtBytes(worstNeed), fmtBytes(lim-fixed), fmtBytes(fixed), fmtBytes(lim), source, hint)
	}
	if est.total() <= lim {
		return nil
	}
	parts := []struct {
		name string
		v    float64
		hint string
	}{
		{"weights", est.weights, "a smaller model, or a machine with more memory"},
		{"gradients", est.gradients, "LoRA (--lora-r) trains a small adapter instead of every weight"},
		{"optimizer state", est.optimizer, "LoRA (--lora-r) keeps AdamW state for a small adapter only"},
		{"activations", est.activations, "--gradient-checkpointing, a smaller --batch-size or --batch-tokens, or shorter rows (dpo-tokenize --max-length)"},
		{"logits", est.logits, "a smaller --vocab-chunk, --batch-size or --batch-tokens"},
	}
	big := 0
	for i, p := range parts {
		if p.v > parts[big].v {
			big = i
		}
	}
	if big == 3 && c.GradCheckpointing {
		parts[3].hint = "a smaller --batch-size or --batch-tokens, or shorter rows (dpo-tokenize --max-length)"
	}
	var list []string
	for _, p := range parts {
		list = append(list, fmt.Sprintf("%s %s", p.name, fmtBytes(p.v)))
	}
	return fmt.Errorf("training needs about %s at its peak (%s), more than the %s allowed (--max-memory, %s); the largest part is the %s: %s",
		fmtBytes(est.total()), strings.Join(list, ", "), fmtBytes(lim), source, parts[big].name, parts[big].hint)
}

func fmtBytes(x float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for x >= 1024 && i < len(units)-1 {
		x /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", x, units[i])
}

// AvailableMemory is the memory this process may still use: the smaller
// of the cgroup's headroom (cgroup v2 memory.max - memory.current, or v1
// limit_in_bytes - usage_in_bytes) and /proc/meminfo's MemAvailable; 0
// when neither is known (not Linux).
func AvailableMemory() int64 {
	avail := meminfoAvailable()
	for _, f := range [][2]string{
		{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"},
	} {
		lim, ok1 := readInt(f[0])
		use, ok2 := readInt(f[1])
		if ok1 && ok2 && lim > 0 && lim < 1<<60 {
			if head := max(lim-use, 0); avail == 0 || head < avail {
				avail = head
			}
			break
		}
	}
	return avail
}

func readInt(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil // "max" (no limit) is not a number
}

func meminfoAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			if fs := strings.Fields(rest); len(fs) >= 1 {
				if kb, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// memoryLimit resolves MaxMemory: the limit in bytes and where it comes
// from.
func (c *Config) memoryLimit() (int64, string) {
	switch {
	case c.MaxMemory < 0:
		return 0, "off"
	case c.MaxMemory > 0:
		return c.MaxMemory, "as given"
	}
	return AvailableMemory() / 10 * 9, "default: 90% of the available memory (cgroup limit or MemAvailable)"
}
