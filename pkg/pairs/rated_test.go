package pairs

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/testrefs"
)

var updateRated = flag.Bool("update", false, "rewrite testdata/rated_golden.out.jsonl from the rated reader's output")

func TestBinarizePairs(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name   string
		b      Binarize
		scores []float64
		want   [][2]int
		skip   string
		err    string
	}{
		{"best-worst", Binarize{}, []float64{0.5, 1, 0}, [][2]int{{1, 2}}, "", ""},
		{"best-worst ties for best and worst take the first", Binarize{Mode: BestWorst}, []float64{0, 1, 1, 0}, [][2]int{{1, 0}}, "", ""},
		{"best-worst all tied", Binarize{Mode: BestWorst}, []float64{2, 2, 2}, nil, SkipTie, ""},
		{"best-worst single", Binarize{Mode: BestWorst}, []float64{3}, nil, SkipSingle, ""},
		{"best-worst none", Binarize{Mode: BestWorst}, nil, nil, SkipSingle, ""},
		{"best-worst gap not above min", Binarize{Mode: BestWorst, MinScoreGap: 1}, []float64{1, 2}, nil, SkipTie, ""},
		{"best-worst gap above min", Binarize{Mode: BestWorst, MinScoreGap: 0.9}, []float64{1, 2}, [][2]int{{1, 0}}, "", ""},
		{"best-worst negative scores", Binarize{}, []float64{-3, -1, -2}, [][2]int{{1, 0}}, "", ""},
		{"NaN score", Binarize{}, []float64{1, nan, 0}, nil, "", "score 1 is NaN"},
		{"Inf score", Binarize{Mode: AllPairs}, []float64{math.Inf(1), 0}, nil, "", "score 0 is +Inf"},
		{"NaN in a single", Binarize{}, []float64{nan}, nil, "", "score 0 is NaN"},
		{"all", Binarize{Mode: AllPairs}, []float64{1, 0, 1, 0.5}, [][2]int{{0, 1}, {0, 3}, {2, 1}, {2, 3}, {3, 1}}, "", ""},
		{"all with gap", Binarize{Mode: AllPairs, MinScoreGap: 0.5}, []float64{1, 0, 1, 0.5}, [][2]int{{0, 1}, {2, 1}}, "", ""},
		{"all tied", Binarize{Mode: AllPairs}, []float64{1, 1}, nil, SkipTie, ""},
		{"all single", Binarize{Mode: AllPairs}, []float64{1}, nil, SkipSingle, ""},
		{"best-random two", Binarize{Mode: BestRandom}, []float64{0, 1}, [][2]int{{1, 0}}, "", ""},
		{"best-random tied two", Binarize{Mode: BestRandom}, []float64{1, 1}, nil, SkipTie, ""},
		{"best-random single", Binarize{Mode: BestRandom}, []float64{1}, nil, SkipSingle, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skip, err := tc.b.Pairs("id", tc.scores)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || skip != tc.skip || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v skip %q err %v, want %v skip %q", got, skip, err, tc.want, tc.skip)
			}
		})
	}
}

// TestBestRandomDraw checks best-random against its definition: chosen is
// the first best, rejected uniform over the others (chi-square over many
// ids), reproducible for an id and seed, different for another seed.
func TestBestRandomDraw(t *testing.T) {
	scores := []float64{0, 1, 0, 0, 0} // best is 1; the others all lower
	b := Binarize{Mode: BestRandom, Seed: 7}
	counts := map[int]int{}
	const n = 4000
	same := 0
	for i := range n {
		id := fmt.Sprintf("prompt-%d", i)
		p, skip, err := b.Pairs(id, scores)
		if err != nil || skip != "" || len(p) != 1 || p[0][0] != 1 || p[0][1] == 1 {
			t.Fatalf("%s: %v %q %v", id, p, skip, err)
		}
		again, _, _ := b.Pairs(id, scores)
		if again[0] != p[0] {
			t.Fatalf("%s: draw not reproducible: %v then %v", id, p, again)
		}
		other, _, _ := Binarize{Mode: BestRandom, Seed: 8}.Pairs(id, scores)
		if other[0] == p[0] {
			same++
		}
		counts[p[0][1]]++
	}
	chi := 0.0
	for _, j := range []int{0, 2, 3, 4} {
		d := float64(counts[j]) - n/4.0
		chi += d * d / (n / 4.0)
	}
	if chi > 16.27 { // p = 0.001 with 3 degrees of freedom
		t.Errorf("rejected draws %v are not uniform over the others (chi-square %.1f)", counts, chi)
	}
	if same > n/4+200 { // another seed agrees by chance about 1 time in 4
		t.Errorf("seed 8 repeats seed 7's draw %d times of %d", same, n)
	}
	// A tie with the chosen one is skipped, never paired.
	tie := []float64{1, 1, 0}
	ties, pairs := 0, 0
	for i := range 300 {
		p, skip, _ := b.Pairs(fmt.Sprint(i), tie)
		switch skip {
		case SkipTie:
			ties++
		case "":
			pairs++
			if p[0] != [2]int{0, 2} {
				t.Fatalf("pair %v, want chosen 0 (first best) and rejected 2", p)
			}
		}
	}
	if ties == 0 || pairs == 0 {
		t.Errorf("tied draws %d, pairs %d: want both", ties, pairs)
	}
}

func TestBinarizeValidate(t *testing.T) {
	for _, b := range []Binarize{{Mode: "best"}, {MinScoreGap: -1}, {MinScoreGap: math.NaN()}} {
		if b.Validate() == nil {
			t.Errorf("%+v validates", b)
		}
	}
	if _, err := Open("-", strings.NewReader(`{"prompt":"p","completions":["a"],"scores":[1]}`), Options{Rated: &Binarize{Mode: "x"}}); err == nil {
		t.Error("Open accepts an unknown pairing")
	}
}

// ratedOut is one outcome of the rated reader, as the golden file stores it.
type ratedOut struct {
	ID       string `json:"id"`
	Row      int64  `json:"row"`
	Prompt   any    `json:"prompt,omitempty"`
	Chosen   any    `json:"chosen,omitempty"`
	Rejected any    `json:"rejected,omitempty"`
	System   string `json:"system,omitempty"`
	Skip     string `json:"skip,omitempty"`
	Error    string `json:"error,omitempty"`
}

func textJSON(x Text) any {
	if !x.IsChat() {
		return x.Str
	}
	ms := []map[string]string{}
	for _, m := range x.Messages {
		ms = append(ms, map[string]string{"role": m.Role, "content": m.Content})
	}
	return ms
}

// readRated reads every outcome of data with the rated reader.
func readRated(t testing.TB, data string, opts Options) []ratedOut {
	t.Helper()
	if opts.Rated == nil {
		opts.Rated = &Binarize{}
	}
	r, err := Open("-", strings.NewReader(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []ratedOut
	for i := 0; ; i++ {
		if i > 100000 {
			t.Fatal("reader does not end")
		}
		ex, err := r.Next()
		if err == io.EOF {
			return out
		}
		var re *RowError
		var se *SkipError
		o := ratedOut{ID: ex.ID, Row: ex.Row}
		switch {
		case err == nil:
			o.Prompt, o.Chosen, o.Rejected, o.System = textJSON(ex.Prompt), textJSON(ex.Chosen), textJSON(ex.Rejected), ex.System
		case errors.As(err, &se):
			o.Skip = se.Reason
			if se.ID != ex.ID || se.Row != ex.Row {
				t.Fatalf("skip %+v for example %s row %d", se, ex.ID, ex.Row)
			}
		case errors.As(err, &re):
			o.Error = re.Error()
		default:
			t.Fatalf("fatal error: %v", err)
		}
		out = append(out, o)
	}
}

func TestRatedReaderShapes(t *testing.T) {
	conv := `[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name  string
		data  string
		opts  Options
		want  []string // "id" for a pair (with chosen>rejected texts), "skip:reason:id", "err:substring"
		texts []string // chosen>rejected per pair, in order
	}{
		{"grouped strings", `{"id":"a","prompt":"p","completions":["x","y","z"],"scores":[0.5,1,0]}`, Options{},
			[]string{"a/1-2"}, []string{"y>z"}},
		{"grouped without id uses the row", "\n" + `{"prompt":"p","completions":["x","y"],"scores":[1,2]}` + "\n" + `{"prompt":"p","completions":["x","y"],"scores":[2,1]}`, Options{},
			[]string{"0/1-0", "1/0-1"}, []string{"y>x", "x>y"}},
		{"grouped single and tie", `{"id":"s","prompt":"p","completions":["x"],"scores":[1]}` + "\n" + `{"id":"t","prompt":"p","completions":["x","y"],"scores":[1,1]}`, Options{},
			[]string{"skip:single_completion:s", "skip:tied_scores:t"}, nil},
		{"grouped empty completions", `{"id":"e","prompt":"p","completions":[],"scores":[]}`, Options{},
			[]string{"skip:single_completion:e"}, nil},
		{"grouped all", `{"id":"a","prompt":"p","completions":["x","y","z"],"scores":[2,1,1]}`, Options{Rated: &Binarize{Mode: AllPairs}},
			[]string{"a/0-1", "a/0-2"}, []string{"x>y", "x>z"}},
		{"grouped messages", `{"id":"m","prompt":` + conv + `,"completions":[[{"role":"assistant","content":"a"}],[{"role":"assistant","content":"b"}]],"scores":[0,1]}`, Options{},
			[]string{"m/1-0"}, []string{"b>a"}},
		{"conversation prompt with string completions", `{"id":"c","prompt":` + conv + `,"completions":["a","b"],"scores":[1,0]}`, Options{},
			[]string{"c/0-1"}, []string{"a>b"}},
		{"prompt string holding messages (dpo-sample)", `{"id":"c","prompt":` + jsonString(conv) + `,"completions":["a","b"],"scores":[1,0]}`, Options{},
			[]string{"c/0-1"}, []string{"a>b"}},
		{"ultrafeedback objects", `{"instruction":"q","completions":[{"response":"good","overall_score":8.5,"model":"m1"},{"response":"bad","overall_score":2}]}`,
			Options{Columns: map[string]string{"prompt": "instruction", "completion": "response", "score": "overall_score"}},
			[]string{"0/0-1"}, []string{"good>bad"}},
		{"empty completion string is a completion", `{"id":"e","prompt":"p","completions":["","x"],"scores":[1,0]}`, Options{},
			[]string{"e/0-1"}, []string{">x"}},
		{"flat grouped by id in order of first appearance", strings.Join([]string{
			`{"id":"b","sample_index":0,"prompt":"p2","completion":"u","score":0}`,
			`{"id":"a","sample_index":3,"prompt":"p1","completion":"x","score":1}`,
			`{"id":"b","sample_index":1,"prompt":"p2","completion":"v","score":1}`,
			`{"id":"a","sample_index":5,"prompt":"p1","completion":"y","score":0}`,
			`{"id":"c","sample_index":0,"prompt":"p3","completion":"w","score":0}`,
		}, "\n"), Options{},
			[]string{"b/1-0", "a/3-5", "skip:single_completion:c"}, []string{"v>u", "x>y"}},
		// A completion given twice (same id and sample_index) is refused,
		// naming both lines; before, both were kept as candidates.
		{"flat duplicate sample_index", strings.Join([]string{
			`{"id":"a","sample_index":0,"prompt":"p","completion":"x","score":0}`,
			`{"id":"a","sample_index":1,"prompt":"p","completion":"y","score":1}`,
			`{"id":"a","sample_index":0,"prompt":"p","completion":"z","score":2}`,
		}, "\n"), Options{},
			[]string{`err:<stdin>:3: field "sample_index": id "a" sample_index 0 is also on line 1`, "a/1-0"}, []string{"y>x"}},
		{"flat position colliding with a sample_index", `{"id":"a","sample_index":1,"prompt":"p","completion":"x","score":0}` + "\n" + `{"id":"a","prompt":"p","completion":"y","score":1}`, Options{},
			[]string{`err:<stdin>:2: field "sample_index": id "a": this row without sample_index is its group's completion 1, whose sample_index is also on line 1`, "skip:single_completion:a"}, nil},
		{"flat without sample_index numbers by position", `{"id":1,"prompt":"p","completion":"x","score":0}` + "\n" + `{"id":1,"prompt":"p","completion":"y","score":0.5}`, Options{},
			[]string{"1/1-0"}, []string{"y>x"}},
		{"pairs pass through", `{"prompt":"p","chosen":"c","rejected":"r"}`, Options{},
			[]string{"0"}, []string{"c>r"}},
		{"null score", `{"prompt":"p","completions":["x","y"],"scores":[1,null]}`, Options{}, []string{`err:field "scores[1]": expected a number (the score), got null`}, nil},
		{"NaN as a string", `{"prompt":"p","completions":["x","y"],"scores":[1,"NaN"]}`, Options{}, []string{`err:"scores[1]": expected a number (the score), got string`}, nil},
		{"NaN literal", `{"prompt":"p","completions":["x","y"],"scores":[1,NaN]}`, Options{}, []string{"err:malformed JSON"}, nil},
		{"huge score", `{"prompt":"p","completions":["x","y"],"scores":[1,1e999]}`, Options{}, []string{"err:not a finite float64"}, nil},
		{"scores length", `{"prompt":"p","completions":["x","y"],"scores":[1]}`, Options{}, []string{"err:has 1 scores for 2 completions"}, nil},
		{"no scores", `{"prompt":"p","completions":["x","y"]}`, Options{}, []string{"err:need a parallel list of scores"}, nil},
		{"no prompt", `{"completions":["x","y"],"scores":[1,0]}`, Options{}, []string{"err:need an explicit prompt"}, nil},
		{"messages after a text prompt", `{"prompt":"p","completions":[[{"role":"assistant","content":"a"}],"b"],"scores":[1,0]}`, Options{}, []string{"err:completion is a list of messages but the prompt is a string"}, nil},
		{"completion object without text", `{"prompt":"p","completions":[{"text":"a","score":1},{"text":"b","score":0}]}`, Options{}, []string{`err:"completions[0].completion": missing`}, nil},
		{"null completion", `{"prompt":"p","completions":[null,"b"],"scores":[1,0]}`, Options{}, []string{`err:"completions[0]": is null`}, nil},
		{"then a good row", `{"prompt":"p","completions":["x","y"],"scores":[1]}` + "\n" + `{"id":"g","prompt":"p","completions":["x","y"],"scores":[1,0]}`, Options{},
			[]string{"err:has 1 scores", "g/0-1"}, []string{"x>y"}},
		{"flat missing id", `{"prompt":"p","completion":"x","score":1}`, Options{}, []string{"err:flat rated rows are grouped by id"}, nil},
		{"flat prompt written with other escapes is the same prompt", `{"id":"a","prompt":"caf\u00e9 \/","completion":"x","score":1}` + "\n" + `{"id":"a","prompt":"café /","completion":"y","score":0}`, Options{},
			[]string{"a/0-1"}, []string{"x>y"}},
		{"flat prompt differs", `{"id":"a","prompt":"p","completion":"x","score":1}` + "\n" + `{"id":"a","prompt":"q","completion":"y","score":0}`, Options{},
			[]string{"err:differs from the prompt of the first row", "skip:single_completion:a"}, nil},
		{"flat bad score", `{"id":"a","prompt":"p","completion":"x","score":"1"}` + "\n" + `{"id":"a","prompt":"p","completion":"y","score":0}`, Options{},
			[]string{`err:field "score": expected a number`, "skip:single_completion:a"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outs := readRated(t, tc.data, tc.opts)
			var got, texts []string
			for _, o := range outs {
				switch {
				case o.Error != "":
					got = append(got, "err:"+o.Error)
				case o.Skip != "":
					got = append(got, "skip:"+o.Skip+":"+o.ID)
				default:
					got = append(got, o.ID)
					texts = append(texts, lastText(o.Chosen)+">"+lastText(o.Rejected))
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				w := tc.want[i]
				if e, ok := strings.CutPrefix(w, "err:"); ok {
					if !strings.HasPrefix(got[i], "err:") || !strings.Contains(got[i], e) {
						t.Errorf("outcome %d: %q, want an error with %q", i, got[i], e)
					}
				} else if got[i] != w {
					t.Errorf("outcome %d: %q, want %q", i, got[i], w)
				}
			}
			if !slices.Equal(texts, tc.texts) {
				t.Errorf("pairs %q, want %q", texts, tc.texts)
			}
		})
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// lastText is a completion's text: the string, or the last message's content.
func lastText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []map[string]string:
		return x[len(x)-1]["content"]
	}
	return fmt.Sprint(v)
}

// TestRatedStatsAndRows checks the counts and that row numbers continue
// across inputs.
func TestRatedStatsAndRows(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jsonl")
	b := filepath.Join(dir, "b.jsonl")
	os.WriteFile(a, []byte(`{"prompt":"p","completions":["x","y"],"scores":[1,0]}`+"\n"+`{"prompt":"p","completions":["x"],"scores":[1]}`+"\n"), 0o644)
	os.WriteFile(b, []byte(`{"prompt":"p","completions":["x","y","z"],"scores":[1,0,2]}`+"\n"), 0o644)
	r, err := OpenAll([]string{a, b}, nil, Options{Rated: &Binarize{Mode: AllPairs}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ids []string
	for {
		ex, err := r.Next()
		if err == io.EOF {
			break
		}
		var se *SkipError
		if err != nil && !errors.As(err, &se) {
			t.Fatal(err)
		}
		ids = append(ids, ex.ID)
	}
	if want := []string{"0/0-1", "1", "2/0-1", "2/2-0", "2/2-1"}; !slices.Equal(ids, want) {
		t.Errorf("ids %q, want %q", ids, want)
	}
	if got, want := ReadRatedStats(r), (RatedStats{Prompts: 3, Completions: 6, Pairs: 4}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// TestRatedGolden reads testdata/rated_golden.jsonl in each mode and
// compares every outcome with testdata/rated_golden.out.jsonl (-update
// rewrites it; review the diff).
func TestRatedGolden(t *testing.T) {
	in, err := os.ReadFile("testdata/rated_golden.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, b := range []Binarize{{Mode: BestWorst}, {Mode: BestRandom, Seed: 1}, {Mode: AllPairs, MinScoreGap: 0.25}} {
		opts := Options{Rated: &b, Columns: map[string]string{"system": "system"}}
		for _, o := range readRated(t, string(in), opts) {
			line, _ := json.Marshal(struct {
				Mode string `json:"mode"`
				ratedOut
			}{b.Mode, o})
			got = append(append(got, line...), '\n')
		}
	}
	const golden = "testdata/rated_golden.out.jsonl"
	if *updateRated {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("line %d:\n got  %s\n want %s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("got %d lines, want %d", len(gl), len(wl))
	}
}

// FuzzRatedRows reads arbitrary JSON Lines as rated completions in every
// mode: no panic, no fatal error, and every pair is consistent.
func FuzzRatedRows(f *testing.F) {
	if in, err := os.ReadFile("testdata/rated_golden.jsonl"); err == nil {
		f.Add(in)
		for _, l := range strings.Split(string(in), "\n") {
			f.Add([]byte(l))
		}
	}
	f.Add([]byte(`{"id":"a","prompt":"p","completion":"x","score":1}` + "\n" + `{"id":"a","prompt":"p","completion":"y","score":0}`))
	f.Add([]byte(`{"prompt":[{"role":"user","content":"q"}],"completions":[{"completion":"a","score":1},{"completion":"b","score":-1e308}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range []Binarize{{}, {Mode: BestRandom}, {Mode: AllPairs, MinScoreGap: 0.5}} {
			r, err := Open("-", strings.NewReader(string(data)), Options{Format: "jsonl", Rated: &b})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ {
				if i > 1<<20 {
					t.Fatal("reader does not end")
				}
				ex, err := r.Next()
				if err == io.EOF {
					break
				}
				var re *RowError
				var se *SkipError
				switch {
				case err == nil:
					if ex.Prompt.IsChat() && (!ex.Chosen.IsChat() || !ex.Rejected.IsChat()) {
						t.Fatalf("conversation prompt with text completions: %#v", ex)
					}
				case errors.As(err, &re), errors.As(err, &se):
				default:
					t.Fatalf("fatal error on JSON Lines: %v", err)
				}
			}
			r.Close()
		}
	})
}

// TestBestWorstMatchesPolars binarizes an UltraFeedback-shaped file
// best-worst and compares chosen and rejected with polars' arg_max/arg_min
// over each row's completions (tools/oracle/binarize.py).
func TestBestWorstMatchesPolars(t *testing.T) {
	py := testrefs.Python(t, "polars")
	rng := rand.New(rand.NewPCG(3, 4))
	var lines []string
	for i := range 60 {
		n := 1 + rng.IntN(5)
		var comps []map[string]any
		for j := range n {
			comps = append(comps, map[string]any{
				"model":         fmt.Sprintf("m%d", j),
				"response":      fmt.Sprintf("answer %d.%d é%s", i, j, strings.Repeat("x", rng.IntN(4))),
				"overall_score": float64(rng.IntN(7)) / 2, // few values: many ties
			})
		}
		b, _ := json.Marshal(map[string]any{"source": "s", "instruction": fmt.Sprintf("question %d", i), "completions": comps})
		lines = append(lines, string(b))
	}
	path := filepath.Join(t.TempDir(), "uf.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Pairs []struct {
			Row      int64  `json:"row"`
			Prompt   string `json:"prompt"`
			Chosen   string `json:"chosen"`
			Rejected string `json:"rejected"`
		} `json:"pairs"`
		Skipped int `json:"skipped"`
	}
	testrefs.RunOracle(t, py, "binarize.py", map[string]any{"path": path}, &ref)
	outs := readRated(t, strings.Join(lines, "\n"), Options{Columns: map[string]string{"prompt": "instruction", "completion": "response", "score": "overall_score"}})
	var pairs []ratedOut
	skipped := 0
	for _, o := range outs {
		switch {
		case o.Error != "":
			t.Fatalf("row %d: %s", o.Row, o.Error)
		case o.Skip != "":
			skipped++
		default:
			pairs = append(pairs, o)
		}
	}
	if len(pairs) != len(ref.Pairs) || skipped != ref.Skipped {
		t.Fatalf("%d pairs, %d skipped; polars: %d pairs, %d skipped", len(pairs), skipped, len(ref.Pairs), ref.Skipped)
	}
	if skipped == 0 || len(pairs) == 0 {
		t.Fatalf("the data should have both skipped prompts and pairs")
	}
	for i, p := range pairs {
		w := ref.Pairs[i]
		if p.Row != w.Row || p.Prompt != w.Prompt || p.Chosen != w.Chosen || p.Rejected != w.Rejected {
			t.Errorf("pair %d: got row %d %v: %v > %v; polars row %d %q: %q > %q", i, p.Row, p.Prompt, p.Chosen, p.Rejected, w.Row, w.Prompt, w.Chosen, w.Rejected)
		}
	}
}

// TestRatedArrowHint: an Arrow stream of a judge's rows is not read as rated
// completions (JSON only); the error says so.
func TestRatedArrowHint(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "prompt", Type: arrow.BinaryTypes.String},
		{Name: "completion", Type: arrow.BinaryTypes.String}, {Name: "score", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("a")
	b.Field(1).(*array.StringBuilder).Append("p")
	b.Field(2).(*array.StringBuilder).Append("c")
	b.Field(3).(*array.Float64Builder).Append(1)
	rec := b.NewRecordBatch()
	defer rec.Release()
	data := writeArrowStream(t, mem, sc, []arrow.RecordBatch{rec})
	r, err := Open("-", bytes.NewReader(data), Options{Mem: mem, Rated: &Binarize{}})
	if err == nil {
		_, err = r.Next()
		r.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "rated completions are read from JSON inputs only") {
		t.Errorf("%v, want the JSON-only hint", err)
	}
}
