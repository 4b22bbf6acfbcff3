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
	"sync"

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

// configKeys holds, per flag set, the config-file keys that name a flag
// other than by its own name: dpo-train's TRL names (learning_rate ->
// lr), which its train_config.json uses, and nested keys as
// "parent.key" (lora.r -> lora-r).
var configKeys sync.Map // *flag.FlagSet -> map[string]string

// setConfigKeys registers fs's extra config-file keys.
func setConfigKeys(fs *flag.FlagSet, keys map[string]string) { configKeys.Store(fs, keys) }

// trainConfigKeys are the keys of dpo-train's train_config.json (TRL's
// TrainingArguments names) that differ from its flags, so that the file is
// a --config reproducing the run.
var trainConfigKeys = map[string]string{
	"learning_rate":               "lr",
	"lr_scheduler_type":           "lr-scheduler",
	"per_device_train_batch_size": "batch-size",
	"gradient_accumulation_steps": "grad-accum",
	"num_train_epochs":            "epochs",
	"lora.r":                      "lora-r",
	"lora.target_modules":         "lora-target",
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
// the command line has none. Errors name the file and the key (exit 2).
func applyConfig(fs *flag.FlagSet, path string) error {
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
	fs.Visit(func(f *flag.Flag) { fromCommandLine[f.Name] = true })
	a := configApplier{fs: fs, path: path, cmdline: fromCommandLine, fromFile: map[string]string{}}
	if m, ok := configKeys.Load(fs); ok {
		a.keys = m.(map[string]string)
	}
	if err := a.mapping("", root); err != nil {
		return err
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
	keys          map[string]string
	cmdline       map[string]bool
	fromFile      map[string]string // flag -> the key that set it
	input, inputs []string
}

func (a *configApplier) errorf(key, format string, args ...any) error {
	return usagef("--config %s: key %q: %s", a.path, key, fmt.Sprintf(format, args...))
}

func (a *configApplier) mapping(parent string, n *cnode) error {
	for i, key := range n.keys {
		full := key
		if parent != "" {
			full = parent + "." + key
		}
		if err := a.entry(parent, full, strings.TrimLeft(key, "-"), n.items[i]); err != nil {
			return err
		}
	}
	return nil
}

// lookup returns the flag a key names: a registered key (parent.key for a
// nested one), the flag's name, or the name with every _ read as - when
// that matches exactly one flag.
func (a *configApplier) lookup(parent, key string) (*flag.Flag, error) {
	if parent != "" {
		if name, ok := a.keys[parent+"."+key]; ok {
			return a.fs.Lookup(name), nil
		}
	}
	if name, ok := a.keys[key]; ok {
		return a.fs.Lookup(name), nil
	}
	if f := a.fs.Lookup(key); f != nil {
		return f, nil
	}
	norm := func(s string) string { return strings.ReplaceAll(s, "_", "-") }
	var found []string
	a.fs.VisitAll(func(f *flag.Flag) {
		if norm(f.Name) == norm(key) {
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

func (a *configApplier) entry(parent, full, key string, n *cnode) error {
	f, err := a.lookup(parent, key)
	if err != nil {
		return a.errorf(full, "%v", err)
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
			return a.mapping(full, n) // a section, such as train_config.json's lora
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
		if err := a.fs.Set(f.Name, v); err != nil {
			return a.errorf(full, "-%s %q: %v", f.Name, v, err)
		}
	}
	return nil
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
