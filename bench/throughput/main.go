// Command throughput measures the throughput layouts of issue #13 (README
// "Throughput layouts") on synthetic preference data and random models:
// real tokens per second of dpo-reflogp's forward (Model.SequenceLogProbs)
// and of a dpo-train step's forward and backward (the training graph,
// engine.LayoutTokenStatsGraph over a layout or engine.PlainLayoutInputs, and its
// gradient with respect to every weight; the AdamW update is left out),
// for the plain path and with each change added in turn, in one run: each
// setting in a child process of its own (so that its peak RSS is its own),
// each timed on a second call, after a first that compiles the graphs
// (-cold times the first).
//
//	go run ./bench/throughput -model qwen -dist hh -pairs 8
//
// Length distributions (lognormal, seeded; tokens uniform in the vocab):
//
//	uf (UltraFeedback-like): prompt median 180 (σ 0.8, capped at 1024),
//	                         completions median 250 (σ 0.6, capped at 1024)
//	hh (HH-like):            prompt median 400 (σ 0.5, capped at 1536),
//	                         completions median 80 (σ 0.7, capped at 512)
//
// Models (random init, N(0, 0.02)): qwen = Qwen2.5-0.5B's shape (hidden
// 896, 14 heads, 2 KV heads, intermediate 4864, tied 151,936 vocabulary)
// with -layers layers; llama = a ~100M Llama (hidden 768, 12 layers, 12
// heads, intermediate 2048, 32,000 vocabulary, untied).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

type pair struct{ prompt, chosen, rejected []int32 }

func lognormal(rng *rand.Rand, median, sigma float64, lo, hi int) int {
	n := int(math.Round(median * math.Exp(sigma*rng.NormFloat64())))
	return max(lo, min(hi, n))
}

func makePairs(dist string, n, vocab int, seed uint64) []pair {
	rng := rand.New(rand.NewPCG(seed, 1))
	tok := func(k int) []int32 {
		s := make([]int32, k)
		for i := range s {
			s[i] = int32(rng.IntN(vocab))
		}
		return s
	}
	var out []pair
	for range n {
		var p, c, r int
		switch dist {
		case "uf":
			p, c, r = lognormal(rng, 180, 0.8, 8, 1024), lognormal(rng, 250, 0.6, 4, 1024), lognormal(rng, 250, 0.6, 4, 1024)
		case "hh":
			p, c, r = lognormal(rng, 400, 0.5, 16, 1536), lognormal(rng, 80, 0.7, 2, 512), lognormal(rng, 80, 0.7, 2, 512)
		default:
			log.Fatalf("unknown -dist %q (uf, hh)", dist)
		}
		out = append(out, pair{tok(p), tok(c), tok(r)})
	}
	return out
}

func modelConfig(name string, layers int) *model.Config {
	switch name {
	case "qwen":
		return &model.Config{Arch: model.ArchQwen2, VocabSize: 151936, HiddenSize: 896, IntermediateSize: 4864,
			NumLayers: layers, NumHeads: 14, NumKVHeads: 2, HeadDim: 64, MaxPositions: 32768, RMSNormEps: 1e-6,
			RopeTheta: 1e6, HiddenAct: "silu", AttentionBias: true, TieWordEmbeddings: true}
	case "llama":
		return &model.Config{Arch: model.ArchLlama, VocabSize: 32000, HiddenSize: 768, IntermediateSize: 2048,
			NumLayers: layers, NumHeads: 12, NumKVHeads: 12, HeadDim: 64, MaxPositions: 4096, RMSNormEps: 1e-6,
			RopeTheta: 10000, HiddenAct: "silu"}
	}
	log.Fatalf("unknown -model %q (qwen, llama)", name)
	return nil
}

func randomWeights(cfg *model.Config) map[string]*safetensors.Tensor {
	rng := rand.New(rand.NewPCG(1, 2))
	out := map[string]*safetensors.Tensor{}
	for _, s := range model.ParamSpecs(cfg) {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			switch s.Init {
			case model.InitOnes:
				v[i] = 1
			case model.InitZeros:
				v[i] = 0
			default:
				v[i] = float32(0.02 * rng.NormFloat64())
			}
		}
		t, err := safetensors.FromFloat32(s.Name, safetensors.F32, s.Shape, v)
		if err != nil {
			log.Fatal(err)
		}
		out[s.Name] = t
	}
	return out
}

type setting struct {
	name string
	sw   engine.Switches
}

var settings = []setting{
	{"plain (before)", engine.Switches{Plain: true}},
	{"+ completion-only head", engine.Switches{NoSharedPrompt: true, NoPacking: true}},
	{"+ shared prompt", engine.Switches{NoPacking: true}},
	{"+ packing (default)", engine.Switches{}},
}

func realTokens(ps []pair) int {
	n := 0
	for _, p := range ps {
		n += 2*len(p.prompt) + len(p.chosen) + len(p.rejected)
	}
	return n
}

// trainStep runs one micro-batch's forward and backward of Σ log-probs
// through the training graph with the given switches and returns the
// seconds of a call (with warm, after a first call that compiles; else the
// first call, compilation included: seconds on the pure-Go backend, next to
// minutes of compute at the sizes of the benchmark)
// and the layout's computed/padding/duplicate positions.
func trainStep(be gmodel.Backend, m *engine.Model, ps []pair, sw engine.Switches, reps int, warm bool) (float64, [3]int) {
	cfg := m.Config()
	B := len(ps)
	S := 2 * B
	var args []any
	var counts [3]int
	if sw.Plain {
		T := 0
		for _, p := range ps {
			T = max(T, engine.BucketLen(len(p.prompt)+max(len(p.chosen), len(p.rejected))))
		}
		toks, lens, prompts := make([]int32, S*T), make([]int32, S), make([]int32, S)
		for j, p := range ps {
			for h, c := range [][]int32{p.chosen, p.rejected} {
				r := h*B + j
				copy(toks[r*T:], p.prompt)
				copy(toks[r*T+len(p.prompt):], c)
				lens[r], prompts[r] = int32(len(p.prompt)+len(c)), int32(len(p.prompt))
				counts[1] += T - int(lens[r])
			}
			counts[2] += len(p.prompt)
		}
		counts[0] = S * T
		args = []any{tensors.FromFlatDataAndDimensions(toks, S, T), tensors.FromFlatDataAndDimensions(lens, S), tensors.FromFlatDataAndDimensions(prompts, S)}
	} else {
		o := engine.LayoutOptions{SharedPrompt: !sw.NoSharedPrompt, Pack: !sw.NoPacking}
		var groups []engine.Group
		for j, p := range ps {
			groups = append(groups, engine.Group{Prompt: p.prompt, Completions: [][]int32{p.chosen, p.rejected}, Out: []int{j, B + j}})
		}
		l := engine.NewLayout(groups, S, engine.RowLen(groups, o), 1, o)
		counts = [3]int{l.Rows * l.Len, l.Rows*l.Len - l.Computed, l.Duplicate}
		for _, t := range l.Inputs().Flat() {
			args = append(args, t)
		}
	}
	exec, err := gmodel.NewExec(be, m.Store(), func(scope *gmodel.Scope, in []*graph.Node) []*graph.Node {
		var st engine.TokenStats
		opts := engine.GraphOptions{}
		if sw.Plain {
			st = engine.LayoutTokenStatsGraph(scope.Store(), cfg, engine.PlainLayoutInputs(in[0], in[1], in[2]), opts)
		} else {
			st = engine.LayoutTokenStatsGraph(scope.Store(), cfg, engine.NewLayoutInputs(in), opts)
		}
		loss := graph.ReduceAllSum(st.LogProbs)
		var wrt []*graph.Node
		for _, s := range model.ParamSpecs(cfg) {
			wrt = append(wrt, scope.Store().GetVariable("/"+s.Name).NodeValue(loss.Graph()))
		}
		return append([]*graph.Node{loss}, graph.Gradient(loss, wrt...)...)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer exec.Finalize()
	run := func() {
		out, err := exec.Exec(args...)
		if err != nil {
			log.Fatal(err)
		}
		for _, t := range out {
			_ = t.FinalizeAll()
		}
	}
	if warm {
		run() // compile and warm up
	}
	start := time.Now()
	for range reps {
		run()
	}
	return time.Since(start).Seconds() / float64(reps), counts
}

func writeDump(path, name string, layers int, ps []pair) {
	type jp struct {
		Prompt   []int32 `json:"prompt"`
		Chosen   []int32 `json:"chosen"`
		Rejected []int32 `json:"rejected"`
	}
	d := struct {
		Model  string `json:"model"`
		Layers int    `json:"layers"`
		Pairs  []jp   `json:"pairs"`
	}{Model: name, Layers: layers}
	for _, p := range ps {
		d.Pairs = append(d.Pairs, jp{p.prompt, p.chosen, p.rejected})
	}
	b, err := json.Marshal(d)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

func peakRSSMiB() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("throughput: ")
	name := flag.String("model", "qwen", "qwen (Qwen2.5-0.5B shape, 151,936 vocab) or llama (~100M, 32k vocab)")
	layers := flag.Int("layers", 2, "decoder layers (qwen; llama uses 12 unless set)")
	dist := flag.String("dist", "hh", "length distribution: uf (UltraFeedback-like) or hh (HH-like)")
	nPairs := flag.Int("pairs", 8, "pairs scored by dpo-reflogp's forward")
	trainPairs := flag.Int("train-pairs", 4, "pairs in the dpo-train micro-batch")
	reps := flag.Int("reps", 1, "timed repetitions of the train step (after one warm-up)")
	batchTokens := flag.Int("batch-tokens", 4096, "dpo-reflogp's --batch-tokens")
	skipTrain := flag.Bool("no-train", false, "measure dpo-reflogp only")
	only := flag.String("only", "", "run only the setting whose name starts with this (e.g. plain, +)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured settings to this file")
	cold := flag.Bool("cold", false, "time the first calls, graph compilation included (default: a second call, after one that compiles and warms up)")
	child := flag.Bool("child", false, "internal: measure the one setting -only names and print it as one RESULT line")
	shared := flag.Bool("one-process", false, "measure every setting in this process (peak RSS then only grows down the table) instead of one child process each")
	dump := flag.String("dump", "", "write the model shape and the train step's pairs as JSON to this file (for torch_step.py) and exit")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *name == "llama" && !set["layers"] {
		*layers = 12
	}
	warm := !*cold
	cfg := modelConfig(*name, *layers)
	ps := makePairs(*dist, *nPairs, cfg.VocabSize, 7)
	if *dump != "" {
		writeDump(*dump, *name, *layers, ps[:min(*trainPairs, len(ps))])
		return
	}
	if !*child && !*shared && *cpuprofile == "" {
		runChildren(*only, *name, *layers, *dist, len(ps), realTokens(ps), *trainPairs)
		return
	}
	ts := randomWeights(cfg)
	if *child {
		log.SetPrefix("throughput child: ")
	} else {
		fmt.Printf("model %s (%d layers, vocab %d), dist %s, %d pairs (%d real tokens) for reflogp, %d for the train step, GOMAXPROCS default\n",
			*name, *layers, cfg.VocabSize, *dist, len(ps), realTokens(ps), *trainPairs)
		printHeader()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	var base [2]float64
	for k, s := range settings {
		if *only != "" && !strings.HasPrefix(s.name, *only) {
			continue
		}
		e, err := engine.New(engine.Options{BatchTokens: *batchTokens, Layout: s.sw})
		if err != nil {
			log.Fatal(err)
		}
		m, err := e.LoadWeights(cfg, ts)
		if err != nil {
			log.Fatal(err)
		}
		var seqs []engine.Sequence
		for _, p := range ps {
			for _, c := range [][]int32{p.chosen, p.rejected} {
				seqs = append(seqs, engine.Sequence{Tokens: append(append([]int32(nil), p.prompt...), c...), PromptLen: len(p.prompt)})
			}
		}
		if warm { // a first pass compiles the graphs; the second is timed
			if _, err := m.SequenceLogProbs(context.Background(), seqs, nil); err != nil {
				log.Fatal(err)
			}
		}
		start := time.Now()
		if _, err := m.SequenceLogProbs(context.Background(), seqs, nil); err != nil {
			log.Fatal(err)
		}
		ref := float64(realTokens(ps)) / time.Since(start).Seconds()
		train, counts := 0.0, [3]int{}
		if !*skipTrain {
			tp := ps[:min(*trainPairs, len(ps))]
			sec, c := trainStep(e.Backend(), m, tp, s.sw, *reps, warm)
			train, counts = float64(realTokens(tp))/sec, c
		}
		if *child {
			fmt.Printf("RESULT %g %g %d %d %d %g\n", ref, train, counts[0], counts[1], counts[2], peakRSSMiB())
			m.Close()
			e.Close()
			continue
		}
		if k == 0 || base[0] == 0 {
			base = [2]float64{ref, train}
		}
		printRow(s.name, ref, train, base, counts, peakRSSMiB())
		m.Close()
		e.Close()
	}
}

// runChildren measures each setting (those starting with only) in a child
// process of its own, so that each peak RSS is that setting's, and prints
// the table with the ratios to the first setting measured.
func runChildren(only, name string, layers int, dist string, pairs, real, trainPairs int) {
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("model %s (%d layers), dist %s, %d pairs (%d real tokens) for reflogp, %d for the train step, one process per setting\n",
		name, layers, dist, pairs, real, trainPairs)
	printHeader()
	var base [2]float64
	for _, s := range settings {
		if only != "" && !strings.HasPrefix(s.name, only) {
			continue
		}
		var args []string
		flag.Visit(func(f *flag.Flag) {
			if f.Name != "only" {
				args = append(args, "-"+f.Name+"="+f.Value.String())
			}
		})
		cmd := exec.Command(self, append(args, "-child", "-only="+s.name)...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			log.Fatalf("%s: %v", s.name, err)
		}
		var ref, train, rss float64
		var computed, padding, dup int
		line := string(out[strings.LastIndex(string(out), "RESULT "):])
		if _, err := fmt.Sscanf(line, "RESULT %g %g %d %d %d %g", &ref, &train, &computed, &padding, &dup, &rss); err != nil {
			log.Fatalf("%s: reading %q: %v", s.name, out, err)
		}
		if base[0] == 0 {
			base = [2]float64{ref, max(train, 1e-9)}
		}
		printRow(s.name, ref, train, base, [3]int{computed, padding, dup}, rss)
	}
}

func printHeader() {
	fmt.Printf("%-24s %14s %14s %10s %10s %10s\n", "setting", "reflogp tok/s", "train tok/s", "padding", "dup.prompt", "RSS MiB")
}

// printRow prints one setting: tokens/s with their ratios to base (the
// first setting's), the padding and repeated-prompt shares of counts
// (computed, padding, duplicate positions) and the peak RSS.
func printRow(name string, ref, train float64, base [2]float64, counts [3]int, rssMiB float64) {
	share := func(n int) float64 { return 100 * float64(n) / math.Max(1, float64(counts[0])) }
	fmt.Printf("%-24s %8.0f (%.2fx) %8.0f (%.2fx) %9.1f%% %9.1f%% %10.0f\n", name, ref, ref/base[0], train, train/max(base[1], 1e-9),
		share(counts[1]), share(counts[2]), rssMiB)
}
