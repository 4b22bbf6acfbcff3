package cli

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
)

// The flag layer every tool shares: TRL's spellings as aliases of our
// flags (trl.go), -h listing both, one-line errors with "did you mean",
// and shell completion scripts made from the flag sets.

// commands are the tools: each one's run, and its flag set's constructor
// (every flag bound to the values the run reads), which the completion
// scripts and the config files' check of the other tools' keys use
// without running the tool.
func commands() map[string]command {
	return map[string]command{
		toolTokenize: {Tokenize, func(w io.Writer) *flag.FlagSet { fs, _ := newTokenizeFlags(w); return fs }},
		toolReflogp:  {Reflogp, func(w io.Writer) *flag.FlagSet { return newReflogpFlags(w).fs }},
		toolTrain:    {Train, func(w io.Writer) *flag.FlagSet { return newTrainFlags(w).fs }},
		toolScore:    {Score, func(w io.Writer) *flag.FlagSet { return newScoreFlags(w).fs }},
		toolSample:   {Sample, func(w io.Writer) *flag.FlagSet { return newSampleFlags(w).fs }},
	}
}

// command is one tool.
type command struct {
	run   RunFunc
	flags func(stderr io.Writer) *flag.FlagSet
}

// tools returns every command, by name.
func tools() map[string]RunFunc {
	m := map[string]RunFunc{}
	for name, c := range commands() {
		m[name] = c.run
	}
	return m
}

var (
	flagSetsOnce sync.Once
	flagSets     map[string]*flag.FlagSet
)

// toolFlagSets returns every tool's flag set as parse completes it
// (--config, TRL's aliases).
func toolFlagSets() map[string]*flag.FlagSet {
	flagSetsOnce.Do(func() {
		flagSets = map[string]*flag.FlagSet{}
		for name, c := range commands() {
			fs := c.flags(io.Discard)
			addConfigFlag(fs)
			addAliases(fs, new([]string))
			flagSets[name] = fs
		}
	})
	return flagSets
}

// anyToolKnows reports whether key (a config key, _ or -) names a flag of
// some tool.
func anyToolKnows(key string) bool {
	key = strings.ReplaceAll(key, "_", "-")
	for _, fs := range toolFlagSets() {
		found := false
		fs.VisitAll(func(f *flag.Flag) { found = found || strings.ReplaceAll(f.Name, "_", "-") == key })
		if found {
			return true
		}
	}
	return false
}

// aliasValue is a flag that sets another: TRL's spelling of one of ours.
type aliasValue struct {
	fs    *flag.FlagSet
	of    string // our flag
	check func(string) (string, string, error)
	notes *[]string
}

func (a *aliasValue) String() string {
	if a == nil || a.fs == nil {
		return ""
	}
	return a.fs.Lookup(a.of).Value.String()
}

func (a *aliasValue) Set(v string) error {
	if a.check != nil {
		w, note, err := a.check(v)
		if err != nil {
			return err
		}
		if note != "" {
			*a.notes = append(*a.notes, note)
		}
		v = w
	}
	return a.fs.Set(a.of, v)
}

func (a *aliasValue) IsBoolFlag() bool {
	b, ok := a.fs.Lookup(a.of).Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// addAliases registers on fs, for every TRL key that sets one of its
// flags under another name, the key (learning_rate) and its spelling with
// - for _ (learning-rate), as HfArgumentParser accepts both. Notes of the
// keys' checks go to notes.
func addAliases(fs *flag.FlagSet, notes *[]string) {
	has := func(name string) bool {
		f := fs.Lookup(name)
		return f != nil && !isAlias(f)
	}
	keys := trlKeys()
	names := make([]string, 0, len(keys))
	for name := range keys {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		k := keys[name]
		to := k.target(fs.Name(), has)
		if to == "" || strings.Contains(name, ".") || !has(to) {
			continue
		}
		for _, alias := range []string{name, strings.ReplaceAll(name, "_", "-")} {
			if alias != to && fs.Lookup(alias) == nil {
				fs.Var(&aliasValue{fs: fs, of: to, check: k.check, notes: notes}, alias, "TRL's name of -"+to)
			}
		}
	}
}

func isAlias(f *flag.Flag) bool {
	_, ok := f.Value.(*aliasValue)
	return ok
}

// canonical returns the name of the flag f sets (f's own unless an alias).
func canonical(f *flag.Flag) string {
	if a, ok := f.Value.(*aliasValue); ok {
		return a.of
	}
	return f.Name
}

// printFlags writes fs's flags as flag.PrintDefaults does, each alias
// (TRL's spelling) beside the flag it sets rather than on its own.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	trl := map[string][]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if a, ok := f.Value.(*aliasValue); ok && strings.Contains(f.Name, "_") {
			trl[a.of] = append(trl[a.of], "--"+f.Name)
		}
	})
	fs.VisitAll(func(f *flag.Flag) {
		if isAlias(f) {
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "  -%s", f.Name)
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			b.WriteString(" " + name)
		}
		if a := trl[f.Name]; len(a) > 0 {
			fmt.Fprintf(&b, "  (TRL: %s)", strings.Join(a, ", "))
		}
		b.WriteString("\n    \t")
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "[]" {
			if reflect.TypeOf(f.Value).String() == "*flag.stringValue" {
				fmt.Fprintf(&b, " (default %q)", d)
			} else {
				fmt.Fprintf(&b, " (default %v)", d)
			}
		}
		fmt.Fprintln(w, b.String())
	})
}

// flagError turns an error of flag.FlagSet.Parse into one line: an
// unknown flag with the nearest of fs's names (ours and TRL's), other
// mistakes as the flag package words them; both point at -h.
func flagError(fs *flag.FlagSet, err error) error {
	hint := fmt.Sprintf("(%s -h lists all flags)", fs.Name())
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		var ours, theirs []string
		fs.VisitAll(func(f *flag.Flag) {
			if isAlias(f) {
				theirs = append(theirs, f.Name)
			} else {
				ours = append(ours, f.Name)
			}
		})
		if s := nearest(name, append(ours, theirs...)); s != "" {
			return usagef("unknown flag --%s; did you mean --%s? %s", name, s, hint)
		}
		return usagef("unknown flag --%s %s", name, hint)
	}
	return usagef("%v %s", err, hint)
}

// nearest returns the candidate closest to s in edit distance when it is
// close enough to be a typo of it (the first of equals), else "".
func nearest(s string, cands []string) string {
	best, bestD := "", max(1, min(3, len(s)/3))+1
	for _, c := range cands {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b
// (Levenshtein's, with a swap of neighbours counting 1), over bytes.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// completionShells are the shells `TOOL completion SHELL` writes a
// script for.
var completionShells = []string{"bash", "zsh", "fish"}

// completion returns the completion script of fs's tool for shell: every
// flag, in our spelling and TRL's, and file names for the arguments.
func completion(fs *flag.FlagSet, shell string) (string, error) {
	tool := fs.Name()
	fn := "_" + strings.NewReplacer("-", "_", ".", "_").Replace(tool)
	var flags []string
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, "--"+f.Name) })
	var b strings.Builder
	switch shell {
	case "bash":
		fmt.Fprintf(&b, "# bash completion for %[1]s: source <(%[1]s completion bash)\n", tool)
		fmt.Fprintf(&b, "%s() {\n", fn)
		b.WriteString("\tlocal cur=${COMP_WORDS[COMP_CWORD]}\n")
		b.WriteString("\tif [[ $cur == -* ]]; then\n")
		fmt.Fprintf(&b, "\t\tCOMPREPLY=($(compgen -W '%s' -- \"$cur\"))\n", strings.Join(flags, " "))
		b.WriteString("\telse\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\tfi\n}\n")
		fmt.Fprintf(&b, "complete -o filenames -F %s %s\n", fn, tool)
	case "zsh":
		fmt.Fprintf(&b, "#compdef %[1]s\n# zsh completion for %[1]s: %[1]s completion zsh > ${fpath[1]}/_%[1]s\n", tool)
		fmt.Fprintf(&b, "%s() {\n\tlocal -a flags\n\tflags=(%s)\n", fn, strings.Join(flags, " "))
		b.WriteString("\tif [[ $PREFIX == -* ]]; then\n\t\tcompadd -- $flags\n\telse\n\t\t_files\n\tfi\n}\n")
		fmt.Fprintf(&b, "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n\t%s \"$@\"\nelse\n\tcompdef %s %s\nfi\n", fn, fn, tool)
	case "fish":
		fmt.Fprintf(&b, "# fish completion for %[1]s: %[1]s completion fish > ~/.config/fish/completions/%[1]s.fish\n", tool)
		fs.VisitAll(func(f *flag.Flag) {
			_, usage := flag.UnquoteUsage(f)
			if a, ok := f.Value.(*aliasValue); ok {
				usage = "TRL's name of --" + a.of
			}
			usage, _, _ = strings.Cut(usage, "\n")
			req := " -r"
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				req = ""
			}
			fmt.Fprintf(&b, "complete -c %s -l %s%s -d '%s'\n", tool, f.Name, req, strings.ReplaceAll(usage, "'", `\'`))
		})
	default:
		return "", usagef("completion %s: want one of %s", shell, strings.Join(completionShells, ", "))
	}
	return b.String(), nil
}

// isCompletion reports whether args ask for a completion script.
func isCompletion(args []string) bool {
	return len(args) == 2 && args[0] == "completion" && (slices.Contains(completionShells, args[1]) || !strings.ContainsAny(args[1], "./"))
}
