package pairs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Roles of the columns Open reads, in the order they are decoded.
const (
	colChosen = iota
	colRejected
	colPrompt
	colID
	colSystem
	colTools
	numCols
)

// columns are the dataset's names of the columns Open reads, indexed by
// role (colChosen...). An empty name means the role is not read.
type columns [numCols]string

// Roles names the roles that Options.Columns may map, in decoding order.
var Roles = [numCols]string{"chosen", "rejected", "prompt", "id", "system", "tools"}

// RatedRoles names the extra roles of rated-completions rows (see
// [Binarize]): the list of completions and the parallel list of scores of a
// grouped row, the text and score keys inside a completion object (raw
// UltraFeedback's response and overall_score) or of a flat row, and the
// flat row's sample index.
var RatedRoles = []string{"completions", "scores", "completion", "score", "sample_index"}

// defaultColumns reads TRL's names; system and tools are read only when
// mapped (TRL's DPOTrainer has no system column; it forwards "tools").
var defaultColumns = columns{"chosen", "rejected", "prompt", "id", "", "tools"}

// ParseColumns parses a --columns value: comma-separated role=column pairs
// such as "prompt=question,system=system,chosen=chosen,rejected=rejected".
// Roles are chosen, rejected, prompt, id, system and tools, and for rated
// completions (see [Binarize]) completions, scores, completion, score and
// sample_index.
func ParseColumns(spec string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(spec) == "" {
		return m, nil
	}
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("pairs: columns: %q is not role=column", kv)
		}
		if !slices.Contains(Roles[:], k) && !slices.Contains(RatedRoles, k) {
			return nil, fmt.Errorf("pairs: columns: unknown role %q (want %s)", k, strings.Join(append(Roles[:], RatedRoles...), ", "))
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("pairs: columns: role %q given twice", k)
		}
		m[k] = v
	}
	if _, err := resolveColumns(m, false); err != nil {
		return nil, err
	}
	return m, nil
}

// resolveColumns applies Options.Columns to the defaults. With promptOnly
// the chosen and rejected roles are not read (and may not be mapped).
func resolveColumns(m map[string]string, promptOnly bool) (columns, error) {
	c := defaultColumns
	if promptOnly {
		c[colChosen], c[colRejected] = "", ""
		for _, role := range []string{"chosen", "rejected"} {
			if _, ok := m[role]; ok {
				return c, fmt.Errorf("pairs: columns: role %q is not read from prompts", role)
			}
		}
	}
	used := map[string]string{}
	for role, name := range m {
		if slices.Contains(RatedRoles, role) {
			continue // see resolveRatedNames
		}
		k := slices.Index(Roles[:], role)
		if k < 0 {
			return c, fmt.Errorf("pairs: columns: unknown role %q (want %s)", role, strings.Join(Roles[:], ", "))
		}
		if name == "" {
			return c, fmt.Errorf("pairs: columns: empty column name for %q", role)
		}
		c[k] = name
	}
	for k, name := range c {
		if name == "" {
			continue
		}
		if other, dup := used[name]; dup {
			return c, fmt.Errorf("pairs: columns: column %q is mapped to both %s and %s", name, other, Roles[k])
		}
		used[name] = Roles[k]
	}
	return c, nil
}

// mapped reports whether role k reads a column named by --columns rather
// than its default one (system has none).
func (c columns) mapped(k int) bool { return c[k] != "" && c[k] != defaultColumns[k] }

// required reports whether the column of role k must exist in the input:
// chosen and rejected, the prompt when only prompts are read, and any
// column --columns names. A default prompt, id or tools column may be
// absent (implicit prompt, row numbers, no tools).
func (c columns) required(k int) bool {
	return c[k] != "" && (k == colChosen || k == colRejected || k == colPrompt && c.promptOnly() || c.mapped(k))
}

// missingColumn is the error text for a required column that the input
// does not have; have lists what it has, under the label what ("columns",
// "the record's fields").
func (c columns) missingColumn(k int, what string, have []string) string {
	msg := fmt.Sprintf("missing column %q", c[k])
	if c.mapped(k) {
		msg += fmt.Sprintf(" (--columns %s=%s)", Roles[k], c[k])
	}
	return msg + fmt.Sprintf(" (%s: %s)", what, strings.Join(have, ", "))
}

// jsonSeen tracks, over the records of a JSON input, which mapped columns
// appeared: a record may leave out its system or tools field (none), but a
// --columns mapping that no record has is a mistake.
type jsonSeen struct {
	present [numCols]bool
	first   []string // the first record's fields, sorted; nil before it
}

func (s *jsonSeen) add(rec *record) {
	if s == nil || rec == nil || rec.obj == nil {
		return
	}
	if s.first == nil {
		s.first = append([]string{}, slices.Sorted(maps.Keys(rec.obj))...)
	}
	for k, ok := range rec.present {
		s.present[k] = s.present[k] || ok
	}
}

// check returns an error, at the end of input name, for a mapped system or
// tools column that no record had.
func (s *jsonSeen) check(name string, names columns) error {
	if s == nil || s.first == nil {
		return nil
	}
	for _, k := range []int{colSystem, colTools} {
		if names.mapped(k) && !s.present[k] {
			return fmt.Errorf("pairs: %s: %s: no record has it", name, names.missingColumn(k, "fields of the first record", s.first))
		}
	}
	return nil
}

// promptOnly reports whether c reads prompts only (no chosen or rejected
// column: resolveColumns never leaves them empty otherwise).
func (c columns) promptOnly() bool { return c[colChosen] == "" && c[colRejected] == "" }
