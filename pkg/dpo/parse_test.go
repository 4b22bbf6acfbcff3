package dpo

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	def := DefaultConfig()
	tests := []struct {
		spec    string
		cfg     Config
		want    []Term
		wantErr string
	}{
		{spec: "sigmoid", cfg: def, want: []Term{{"sigmoid", 1}}},
		{spec: " sigmoid = 1 , sft = 0.2 ", cfg: def, want: []Term{{"sigmoid", 1}, {"sft", 0.2}}},
		{spec: "ipo=0.5,sigmoid", cfg: def, want: []Term{{"ipo", 0.5}, {"sigmoid", 1}}},
		{spec: "aot_pair", cfg: def, want: []Term{{"aot_unpaired", 1}}},
		{spec: "simpo=1e0,sft=3e-1", cfg: def, want: []Term{{"simpo", 1}, {"sft", 0.3}}},
		{spec: "robust", cfg: Config{Beta: 0.1, LabelSmoothing: 0.49}, want: []Term{{"robust", 1}}},
		{spec: "exo_pair", cfg: Config{Beta: 0.1, LabelSmoothing: 0.9}, want: []Term{{"exo_pair", 1}}},

		{spec: "", cfg: def, wantErr: "empty loss specification"},
		{spec: "   ", cfg: def, wantErr: "empty loss specification"},
		{spec: "sigmoid,", cfg: def, wantErr: "term 2 is empty"},
		{spec: "dpo", cfg: def, wantErr: `unknown loss "dpo"`},
		{spec: "Sigmoid", cfg: def, wantErr: `unknown loss "Sigmoid"`},
		{spec: "sigmoid=abc", cfg: def, wantErr: `"abc" is not a number`},
		{spec: "sigmoid=", cfg: def, wantErr: `"" is not a number`},
		{spec: "sigmoid=-1", cfg: def, wantErr: "positive finite"},
		{spec: "sigmoid=0", cfg: def, wantErr: "positive finite"},
		{spec: "sigmoid=NaN", cfg: def, wantErr: "positive finite"},
		{spec: "sigmoid=Inf", cfg: def, wantErr: "positive finite"},
		{spec: "sigmoid,sigmoid=2", cfg: def, wantErr: "appears twice"},
		{spec: "aot_unpaired,aot_pair", cfg: def, wantErr: "appears twice"},
		{spec: "sigmoid", cfg: Config{Beta: 0}, wantErr: "beta must be"},
		{spec: "sigmoid", cfg: Config{Beta: -0.1}, wantErr: "beta must be"},
		{spec: "sigmoid", cfg: Config{Beta: math.NaN()}, wantErr: "beta must be"},
		{spec: "sigmoid", cfg: Config{Beta: 0.1, LabelSmoothing: -0.1}, wantErr: "label_smoothing"},
		{spec: "sigmoid", cfg: Config{Beta: 0.1, LabelSmoothing: 0.6}, wantErr: "label_smoothing"},
		{spec: "robust", cfg: Config{Beta: 0.1, LabelSmoothing: 0.5}, wantErr: "robust"},
		{spec: "exo_pair", cfg: Config{Beta: 0.1, LabelSmoothing: 1}, wantErr: "label_smoothing"},
		{spec: "discopop", cfg: Config{Beta: 0.1}, wantErr: "discopop_tau"},
		{spec: "simpo", cfg: Config{Beta: 0.1, SimPOGamma: math.Inf(1)}, wantErr: "simpo_gamma"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			o, err := Parse(tt.spec, tt.cfg)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want error containing %q", tt.spec, o, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error %q, want it to contain %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.spec, err)
			}
			if !reflect.DeepEqual(o.Terms, tt.want) {
				t.Fatalf("Parse(%q).Terms = %v, want %v", tt.spec, o.Terms, tt.want)
			}
			// String round-trips.
			o2, err := Parse(o.String(), tt.cfg)
			if err != nil || !reflect.DeepEqual(o2.Terms, o.Terms) {
				t.Fatalf("Parse(%q) of String() = %v, %v; want %v", o.String(), o2.Terms, err, o.Terms)
			}
		})
	}
}

func TestNeedsReferenceAndLengths(t *testing.T) {
	tests := []struct {
		spec         string
		refFree      bool
		ref, lengths bool
		averagedMetr bool
	}{
		{"sigmoid", false, true, false, false},
		{"sigmoid", true, false, false, false},
		{"simpo", false, false, true, true},
		{"simpo,sft=0.5", false, false, true, true},
		{"sft", false, false, true, false},
		{"simpo,sigmoid", false, true, true, false},
		{"ipo", false, true, true, false},
		{"sigmoid=1,sft=0.2", false, true, true, false},
		{"sigmoid_norm", false, true, true, false},
		{"bco_pair", false, true, false, false},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.ReferenceFree = tt.refFree
		o, err := Parse(tt.spec, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.NeedsReference(); got != tt.ref {
			t.Errorf("%q (reference_free=%v).NeedsReference() = %v, want %v", tt.spec, tt.refFree, got, tt.ref)
		}
		if got := o.NeedsLengths(); got != tt.lengths {
			t.Errorf("%q.NeedsLengths() = %v, want %v", tt.spec, got, tt.lengths)
		}
		if got := o.averagedMetrics(); got != tt.averagedMetr {
			t.Errorf("%q.averagedMetrics() = %v, want %v", tt.spec, got, tt.averagedMetr)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"sigmoid", "sigmoid=1,sft=0.2", "ipo=0.5,sigmoid", "aot_pair", "x=", ",", "simpo=1e308,sft=1e-308"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		o, err := Parse(spec, DefaultConfig())
		if err != nil {
			return
		}
		if len(o.Terms) == 0 {
			t.Fatalf("Parse(%q) succeeded with no terms", spec)
		}
		for _, term := range o.Terms {
			if !(term.Weight > 0) || math.IsInf(term.Weight, 0) {
				t.Fatalf("Parse(%q) accepted weight %v", spec, term.Weight)
			}
		}
		o2, err := Parse(o.String(), DefaultConfig())
		if err != nil || !reflect.DeepEqual(o2.Terms, o.Terms) {
			t.Fatalf("round trip of %q via %q: %v, %v", spec, o.String(), o2.Terms, err)
		}
	})
}
