package cli

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParseInterleaved(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		wantPos  []string
		wantO    string
		wantQuit bool
	}{
		{[]string{"in.arrow", "-o", "x"}, []string{"in.arrow"}, "x", false},
		{[]string{"-o", "x", "in.arrow", "-q"}, []string{"in.arrow"}, "x", true},
		{[]string{"-q", "--", "-o", "in"}, []string{"-o", "in"}, "-", true},
		{[]string{"a", "b"}, []string{"a", "b"}, "-", false},
		{[]string{"-"}, []string{"-"}, "-", false},
		{nil, nil, "-", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o := fs.String("o", "-", "")
		q := fs.Bool("q", false, "")
		if err := parse(fs, tt.args); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if !slices.Equal(fs.Args(), tt.wantPos) && !(len(fs.Args()) == 0 && len(tt.wantPos) == 0) || *o != tt.wantO || *q != tt.wantQuit {
			t.Errorf("%v: args %v o %q q %v", tt.args, fs.Args(), *o, *q)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := parse(fs, []string{"in", "--nope"}); ExitCode(err) != 2 {
		t.Errorf("unknown flag after an argument: %v", err)
	}
}
