package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// expandInputs turns the positional arguments into the list of inputs, in
// order: each argument is a file, "-" (stdin, only alone), or a glob
// pattern (* ? [...]) that expands to its matches in lexical order, so
// train-0000*-of-00008.parquet reads the shards in order. A pattern that
// matches nothing is an error, as is a file named twice. No argument means
// stdin.
func expandInputs(args []string) ([]string, error) {
	if len(args) == 0 {
		return []string{"-"}, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range args {
		if a == "-" {
			if len(args) > 1 {
				return nil, usagef("stdin (-) must be the only input when several are given")
			}
			return []string{"-"}, nil
		}
		matches := []string{a}
		if strings.ContainsAny(a, "*?[") {
			if _, err := os.Stat(a); err != nil { // not a file that happens to have such a name
				m, err := filepath.Glob(a)
				if err != nil {
					return nil, usagef("input pattern %q: %v", a, err)
				}
				if len(m) == 0 {
					return nil, usagef("input pattern %q matches no file", a)
				}
				matches = m
			}
		}
		for _, m := range matches {
			if seen[m] {
				return nil, usagef("input %s is given twice", m)
			}
			seen[m] = true
			out = append(out, m)
		}
	}
	return out, nil
}

// parseInputs parses args like stdFlags.parseInput but accepts several
// inputs and glob patterns (see expandInputs).
func (s *stdFlags) parseInputs(fs *flag.FlagSet, args []string, stdout io.Writer) (inputs []string, done bool, err error) {
	if err := parse(fs, args); err != nil {
		return nil, false, err
	}
	if s.version {
		fmt.Fprintln(stdout, versionLine(fs.Name()))
		return nil, true, nil
	}
	inputs, err = expandInputs(fs.Args())
	return inputs, false, err
}
