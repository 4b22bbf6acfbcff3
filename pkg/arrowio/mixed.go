package arrowio

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// MixOptions tunes CheckInputs.
type MixOptions struct {
	// AllowPartialShards accepts a shard set that is incomplete (shards 0
	// and 2 of 3) or mixes shard counts; a shard given twice is refused
	// all the same.
	AllowPartialShards bool
	// IgnoreTokenizer turns a tokenizer difference between inputs into a
	// warning on Warn (as --ignore-tokenizer-mismatch does for the model).
	IgnoreTokenizer bool
	Warn            io.Writer
}

// refIdentity are the reflogp options that change the reference
// log-probs' values beyond float rounding; the model path (the hashes say
// which model it is), backend, batch sizes and shard may differ.
var refIdentity = []string{"config_sha256", "weights_sha256", "architecture", "bf16", "ld_alpha", "adapter_sha256", "adapter_config"}

// shardStages are the stages whose options record "shard": "I/N".
var shardStages = []string{StageReflogp, StageScore}

// CheckInputs reads the metadata of every input (the schema only) and
// refuses a list whose inputs were not made alike: each input is compared
// on its own with the first (tokenizer, chat template, the reference model
// and the options that shape reference log-probs), and inputs that are
// shards (a "shard" in their reflogp or score options) must form complete
// sets, each shard once. Errors name the file, the metadata field and
// both values. A single input, or stdin, is not checked.
func CheckInputs(paths []string, opt MixOptions) error {
	if len(paths) < 2 {
		return nil
	}
	metas := make([]Metadata, len(paths))
	for i, p := range paths {
		r, err := Open(p, nil, nil)
		if err != nil {
			return err
		}
		metas[i] = r.Metadata()
		r.Release()
	}
	first, m0 := InputName(paths[0]), metas[0]
	for i := 1; i < len(paths); i++ {
		name, m := InputName(paths[i]), metas[i]
		for _, k := range []string{KeyTokenizerSHA256, KeyChatTemplateSHA256} {
			a, _ := m0.Get(k)
			b, _ := m.Get(k)
			if strings.EqualFold(a, b) {
				continue
			}
			err := fmt.Errorf("%s: %s is %s, but %s's is %s: inputs from different tokenizers or chat templates cannot be mixed", name, k, quoteOrAbsent(b), first, quoteOrAbsent(a))
			if k == KeyTokenizerSHA256 && opt.IgnoreTokenizer {
				if opt.Warn != nil {
					fmt.Fprintf(opt.Warn, "warning: %v (ignored)\n", err)
				}
				continue
			}
			return err
		}
		if err := sameStageOptions(StageReflogp, refIdentity, m0, m, first, name); err != nil {
			return fmt.Errorf("%w: reference log-probs from different reference models or options cannot be mixed", err)
		}
	}
	return checkShardSet(paths, metas, opt.AllowPartialShards)
}

func quoteOrAbsent(s string) string {
	if s == "" {
		return "absent"
	}
	return strconv.Quote(s)
}

// stageFields decodes dpo.<stage>.options as a JSON object (nil if absent
// or not an object).
func stageFields(m Metadata, stage string) map[string]json.RawMessage {
	var f map[string]json.RawMessage
	if err := m.StageOptions(stage, &f); err != nil {
		return nil
	}
	return f
}

// sameStageOptions compares the given fields of two inputs' stage options.
func sameStageOptions(stage string, keys []string, a, b Metadata, nameA, nameB string) error {
	fa, fb := stageFields(a, stage), stageFields(b, stage)
	key := StageOptionsKey(stage)
	if (fa == nil) != (fb == nil) {
		has, lacks := nameA, nameB
		if fa == nil {
			has, lacks = nameB, nameA
		}
		return fmt.Errorf("%s: %s is present in %s but absent in %s", nameB, key, has, lacks)
	}
	for _, k := range keys {
		va, vb := string(fa[k]), string(fb[k])
		if va != vb {
			return fmt.Errorf("%s: %s.%s is %s, but %s's is %s", nameB, key, k, rawOrAbsent(vb), nameA, rawOrAbsent(va))
		}
	}
	return nil
}

func rawOrAbsent(s string) string {
	if s == "" || s == "null" {
		return "absent"
	}
	return s
}

// shardOf returns the "I/N" recorded in stage's options, parsed; ok false
// when the input is not a shard of that stage.
func shardOf(m Metadata, stage string) (i, n int, ok bool, err error) {
	raw, has := stageFields(m, stage)["shard"]
	if !has {
		return 0, 0, false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return 0, 0, false, nil
	}
	a, b, cut := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !cut || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, false, fmt.Errorf("%s.shard %q is not I/N", StageOptionsKey(stage), s)
	}
	return i, n, true, nil
}

// checkShardSet refuses a shard given twice (two inputs with the same
// shards at every stage) and, unless allowPartial, a set of shards that
// misses one or mixes shards with unsharded inputs or shard counts.
func checkShardSet(paths []string, metas []Metadata, allowPartial bool) error {
	const hint = "pass --allow-partial-shards if a subset is meant (docs/shards.md)"
	seen := map[string]string{} // shards at every stage -> first input
	for _, stage := range shardStages {
		key := StageOptionsKey(stage) + ".shard"
		var n int
		have := map[int]string{}
		sharded, unsharded := "", ""
		for j, m := range metas {
			name := InputName(paths[j])
			i, nj, ok, err := shardOf(m, stage)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if !ok {
				if unsharded == "" {
					unsharded = name
				}
				continue
			}
			if sharded == "" {
				sharded, n = name, nj
			} else if nj != n && !allowPartial {
				return fmt.Errorf("%s: %s is \"%d/%d\", but %s's is %d shards: shards of different splits cannot be mixed; %s", name, key, i, nj, sharded, n, hint)
			}
			if _, dup := have[i]; !dup {
				have[i] = name
			}
		}
		if sharded == "" {
			continue
		}
		if unsharded != "" && !allowPartial {
			return fmt.Errorf("%s has no %s but %s is a shard: an unsharded stream and shards cannot be mixed; %s", unsharded, key, sharded, hint)
		}
		if !allowPartial {
			var missing []string
			for i := range n {
				if _, ok := have[i]; !ok {
					missing = append(missing, fmt.Sprintf("%d/%d", i, n))
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("incomplete shard set: %s of the inputs (%s...) are missing (%s records each input's shard); %s", strings.Join(missing, ", "), sharded, key, hint)
			}
		}
	}
	for j, m := range metas {
		var parts []string
		for _, stage := range shardStages {
			if i, n, ok, _ := shardOf(m, stage); ok {
				parts = append(parts, fmt.Sprintf("%s %d/%d", stage, i, n))
			}
		}
		if len(parts) == 0 {
			continue
		}
		sort.Strings(parts)
		id := strings.Join(parts, ", ")
		name := InputName(paths[j])
		if prev, dup := seen[id]; dup {
			return fmt.Errorf("%s repeats shard %s of %s (metadata %s.shard): a shard given twice would count its rows twice", name, id, prev, StageOptionsKey(shardStagesOf(m)))
		}
		seen[id] = name
	}
	return nil
}

// shardStagesOf names the first stage of m that records a shard.
func shardStagesOf(m Metadata) string {
	for _, stage := range shardStages {
		if _, _, ok, _ := shardOf(m, stage); ok {
			return stage
		}
	}
	return shardStages[0]
}
