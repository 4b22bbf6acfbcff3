package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// helpError is -h or --help: its text is the usage, printed to stdout by
// Main (exit 0).
type helpError struct{ text string }

func (e *helpError) Error() string { return "help requested" }
func (e *helpError) Unwrap() error { return flag.ErrHelp }

// configUsage is the --config flag's help.
const configUsage = "read flags from a YAML (.yaml, .yml) or JSON (.json) `FILE`: keys are flag names (without dashes; _ for -), values scalars or lists (comma-joined); flags on the command line override it; input/inputs keys give the inputs when the command line has none"

// addConfigFlag registers --config on fs (once).
func addConfigFlag(fs *flag.FlagSet) {
	if fs.Lookup("config") == nil {
		fs.String("config", "", configUsage)
	}
}

// Limits on a config file: it is small and hand-written.
const (
	maxConfigBytes = 1 << 20
	maxConfigNodes = 100000
	maxConfigDepth = 16
)

// cnode is a parsed config value: a scalar (its text), null, a list or a
// mapping (keys in file order).
type cnode struct {
	kind  cnodeKind
	text  string
	items []*cnode
	keys  []string
}

type cnodeKind int

const (
	cScalar cnodeKind = iota
	cNull
	cList
	cMap
)

// parseConfig reads a config file's bytes: JSON for .json, else YAML.
func parseConfig(name string, b []byte) (*cnode, error) {
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxConfigBytes)
	}
	budget := maxConfigNodes
	if strings.EqualFold(filepath.Ext(name), ".json") {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		n, err := jsonNode(d, 0, &budget)
		if err != nil {
			return nil, err
		}
		if _, err := d.Token(); err != io.EOF {
			return nil, errors.New("invalid JSON: data after the top-level value")
		}
		return n, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 { // empty file
		return &cnode{kind: cMap}, nil
	}
	return yamlNode(&doc, 0, &budget)
}

func jsonNode(d *json.Decoder, depth int, budget *int) (*cnode, error) {
	if *budget--; *budget < 0 || depth > maxConfigDepth {
		return nil, errors.New("too large or too deeply nested")
	}
	tok, err := d.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	switch t := tok.(type) {
	case nil:
		return &cnode{kind: cNull}, nil
	case string:
		return &cnode{text: t}, nil
	case json.Number:
		return &cnode{text: t.String()}, nil
	case bool:
		return &cnode{text: fmt.Sprint(t)}, nil
	case json.Delim:
		n := &cnode{kind: cList}
		if t == '{' {
			n.kind = cMap
		}
		for d.More() {
			if n.kind == cMap {
				k, err := d.Token()
				if err != nil {
					return nil, fmt.Errorf("invalid JSON: %w", err)
				}
				n.keys = append(n.keys, k.(string))
			}
			item, err := jsonNode(d, depth+1, budget)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, item)
		}
		if _, err := d.Token(); err != nil { // the closing delimiter
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return n, nil
	}
	return nil, fmt.Errorf("invalid JSON token %v", tok)
}

func yamlNode(y *yaml.Node, depth int, budget *int) (*cnode, error) {
	if *budget--; *budget < 0 || depth > maxConfigDepth {
		return nil, errors.New("too large or too deeply nested")
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) != 1 {
			return nil, errors.New("want one YAML document")
		}
		return yamlNode(y.Content[0], depth+1, budget)
	case yaml.AliasNode:
		if y.Alias == nil {
			return nil, errors.New("unresolved YAML alias")
		}
		return yamlNode(y.Alias, depth+1, budget)
	case yaml.ScalarNode:
		if y.ShortTag() == "!!null" {
			return &cnode{kind: cNull}, nil
		}
		return &cnode{text: y.Value}, nil
	case yaml.SequenceNode:
		n := &cnode{kind: cList}
		for _, c := range y.Content {
			item, err := yamlNode(c, depth+1, budget)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, item)
		}
		return n, nil
	case yaml.MappingNode:
		n := &cnode{kind: cMap}
		for i := 0; i+1 < len(y.Content); i += 2 {
			k := y.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a mapping key must be a plain name", k.Line)
			}
			if k.Value == "<<" {
				return nil, fmt.Errorf("line %d: YAML merge keys (<<) are not supported", k.Line)
			}
			item, err := yamlNode(y.Content[i+1], depth+1, budget)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k.Value)
			n.items = append(n.items, item)
		}
		return n, nil
	}
	return nil, fmt.Errorf("unsupported YAML node kind %d", y.Kind)
}

// repeatable is implemented by flag values that take a list as repeated
// flags (--x a --x b) rather than one comma-joined value.
type repeatable interface{ repeatable() bool }

// applyConfig sets, from the config file path, every flag fs's command line
// did not set, and the positional arguments (keys input and inputs) when
// the command line has none. A key is one of fs's flags (_ for -), or a
// TRL key (trl.go), which sets a flag, or is noted (to notes) or refused
// by the tool that owns it; the keys of the other tools' flags are passed
// over. Every mistake is reported, each naming the file and the key
// (exit 2).
func applyConfig(fs *flag.FlagSet, path string, notes *[]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return usagef("--config: %v", err)
	}
	root, err := parseConfig(path, b)
	if err != nil {
		return usagef("--config %s: %v", path, err)
	}
	if root.kind != cMap {
		return usagef("--config %s: want a mapping of flag names to values at the top level", path)
	}
	fromCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { fromCommandLine[canonical(f)] = true })
	a := configApplier{fs: fs, path: path, cmdline: fromCommandLine, fromFile: map[string]string{}, notes: notes}
	a.mapping("", root)
	if len(a.errs) > 0 {
		return &UsageError{Err: errors.Join(a.errs...)}
	}
	if fs.NArg() == 0 && (a.input != nil || a.inputs != nil) {
		pos := append(a.input, a.inputs...)
		return fs.Parse(append([]string{"--"}, pos...))
	}
	return nil
}

type configApplier struct {
	fs            *flag.FlagSet
	path          string
	cmdline       map[string]bool
	fromFile      map[string]string // flag -> the key that set it
	input, inputs []string
	notes         *[]string
	errs          []error
}

func (a *configApplier) errorf(key, format string, args ...any) error {
	return fmt.Errorf("--config %s: key %q: %s", a.path, key, fmt.Sprintf(format, args...))
}

func (a *configApplier) mapping(parent string, n *cnode) {
	for i, key := range n.keys {
		full := key
		if parent != "" {
			full = parent + "." + key
		}
		if err := a.entry(parent, full, strings.TrimLeft(key, "-"), n.items[i]); err != nil {
			a.errs = append(a.errs, err)
		}
	}
}

// lookup returns the flag a key names: the flag's name, or the name with
// every _ read as - when that matches exactly one flag (aliases aside).
func (a *configApplier) lookup(key string) (*flag.Flag, error) {
	if f := a.fs.Lookup(key); f != nil && !isAlias(f) {
		return f, nil
	}
	norm := func(s string) string { return strings.ReplaceAll(s, "_", "-") }
	var found []string
	a.fs.VisitAll(func(f *flag.Flag) {
		if !isAlias(f) && norm(f.Name) == norm(key) {
			found = append(found, f.Name)
		}
	})
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return a.fs.Lookup(found[0]), nil
	}
	sort.Strings(found)
	return nil, fmt.Errorf("ambiguous: flags %s", strings.Join(found, ", "))
}

// trlKey returns the TRL key a config key is: parent.key for a nested
// one, else the key itself.
func (a *configApplier) trlKey(parent, key string) *trlKey {
	if k := trlKeys()[parent+"."+key]; parent != "" && k != nil {
		return k
	}
	return trlKeys()[key]
}

func (a *configApplier) entry(parent, full, key string, n *cnode) error {
	var check func(string) (string, string, error)
	f, err := a.lookup(key)
	if err != nil {
		return a.errorf(full, "%v", err)
	}
	if k := a.trlKey(parent, key); k != nil {
		has := func(name string) bool { g := a.fs.Lookup(name); return g != nil && !isAlias(g) }
		to := k.target(a.fs.Name(), has)
		switch {
		case to != "" && has(to):
			f, check = a.fs.Lookup(to), k.check
		case k.owner != a.fs.Name() || n.kind == cNull:
			return nil // another stage's key
		case k.check != nil:
			v, err := a.values(full, n)
			if err != nil {
				return err
			}
			_, note, err := k.check(strings.Join(v, ","))
			if err != nil {
				return a.errorf(full, "refused: %v", err)
			}
			if note != "" {
				*a.notes = append(*a.notes, note)
			}
			return nil
		default:
			if k.note != "" && !(n.kind == cScalar && n.text == "false") { // false: not asked for
				*a.notes = append(*a.notes, fmt.Sprintf("%s: no effect here: %s", full, k.note))
			}
			return nil
		}
	}
	if f == nil {
		switch {
		case parent == "" && (key == "input" || key == "inputs"):
			vals, err := a.values(full, n)
			if err != nil {
				return err
			}
			if key == "input" {
				a.input = vals
			} else {
				a.inputs = vals
			}
			return nil
		case n.kind == cMap:
			a.mapping(full, n) // a section, such as train_config.json's lora
			return nil
		case parent == "" && anyToolKnows(key):
			return nil // another tool's flag
		}
		if s := nearest(key, a.knownKeys()); s != "" {
			return a.errorf(full, "unknown key; did you mean %s? (%s -h lists the flags)", s, a.fs.Name())
		}
		return a.errorf(full, "unknown key: no flag -%s (see %s -h)", key, a.fs.Name())
	}
	if f.Name == "config" {
		return a.errorf(full, "a config file cannot name another")
	}
	if prev, dup := a.fromFile[f.Name]; dup {
		return a.errorf(full, "sets -%s, as key %q does", f.Name, prev)
	}
	a.fromFile[f.Name] = full
	if a.cmdline[f.Name] || n.kind == cNull {
		return nil // the command line wins; null is "not set"
	}
	var vals []string
	switch n.kind {
	case cMap:
		s, err := mapValue(f, n)
		if err != nil {
			return a.errorf(full, "%v", err)
		}
		vals = []string{s}
	default:
		if vals, err = a.values(full, n); err != nil {
			return err
		}
		if r, ok := f.Value.(repeatable); !ok || !r.repeatable() {
			vals = []string{strings.Join(vals, ",")}
		}
	}
	for _, v := range vals {
		if check != nil {
			w, note, err := check(v)
			if err != nil {
				return a.errorf(full, "refused: %v", err)
			}
			if note != "" {
				*a.notes = append(*a.notes, note)
			}
			v = w
		}
		if err := a.fs.Set(f.Name, v); err != nil {
			return a.errorf(full, "-%s %q: %v", f.Name, v, err)
		}
	}
	return nil
}

// knownKeys returns the keys a config file may hold, for suggestions: the
// TRL keys and every tool's flags, spelled with _.
func (a *configApplier) knownKeys() []string {
	var keys []string
	for name := range trlKeys() {
		keys = append(keys, name)
	}
	seen := map[string]bool{}
	for _, fs := range append([]*flag.FlagSet{a.fs}, mapValues(toolFlagSets())...) {
		fs.VisitAll(func(f *flag.Flag) {
			if k := strings.ReplaceAll(f.Name, "-", "_"); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		})
	}
	sort.Strings(keys)
	return keys
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// values returns a scalar or a list of scalars as strings.
func (a *configApplier) values(key string, n *cnode) ([]string, error) {
	switch n.kind {
	case cScalar:
		return []string{n.text}, nil
	case cList:
		out := make([]string, len(n.items))
		for i, it := range n.items {
			if it.kind != cScalar {
				return nil, a.errorf(key, "item %d: want a scalar", i)
			}
			out[i] = it.text
		}
		return out, nil
	}
	return nil, a.errorf(key, "want a scalar or a list")
}

// mapValue renders a mapping for a flag: JSON for a flag that takes a JSON
// object (its usage says so, as --chat-template-kwargs), else key=value
// pairs joined with commas (--columns prompt=question,...).
func mapValue(f *flag.Flag, n *cnode) (string, error) {
	if strings.Contains(f.Usage, "JSON object") {
		b, err := json.Marshal(n.toAny())
		return string(b), err
	}
	var parts []string
	for i, k := range n.keys {
		if n.items[i].kind != cScalar {
			return "", fmt.Errorf("%s: want a scalar", k)
		}
		parts = append(parts, k+"="+n.items[i].text)
	}
	return strings.Join(parts, ","), nil
}

// toAny converts n for JSON: scalars stay text unless they read as JSON
// numbers or booleans.
func (n *cnode) toAny() any {
	switch n.kind {
	case cNull:
		return nil
	case cList:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			out[i] = it.toAny()
		}
		return out
	case cMap:
		out := make(map[string]any, len(n.items))
		for i, it := range n.items {
			out[n.keys[i]] = it.toAny()
		}
		return out
	}
	var v any
	if json.Unmarshal([]byte(n.text), &v) == nil {
		switch v.(type) {
		case float64, bool:
			return json.RawMessage(n.text)
		}
	}
	return n.text
}
