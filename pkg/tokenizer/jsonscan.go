package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jscan is a minimal JSON scanner used to read the large parts of a
// tokenizer.json (the model's vocab and merges) without reflection, which
// makes loading several times faster than encoding/json. Everything else is
// handed to encoding/json as raw slices.
type jscan struct {
	b []byte
	i int
}

func (s *jscan) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", s.i, fmt.Sprintf(format, args...))
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) expect(c byte) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != c {
		if s.i >= len(s.b) {
			return s.errorf("unexpected end, want %q", c)
		}
		return s.errorf("got %q, want %q", s.b[s.i], c)
	}
	s.i++
	return nil
}

// peek returns the next non-space byte, or 0 at the end.
func (s *jscan) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// str reads a JSON string.
func (s *jscan) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			v := s.b[start:s.i]
			s.i++
			if !utf8.Valid(v) {
				return string(lossyBytes(nil, v)), nil
			}
			return string(v), nil
		}
		if c == '\\' {
			return s.strSlow(start)
		}
		if c < 0x20 {
			return "", s.errorf("control character in string")
		}
		s.i++
	}
	return "", s.errorf("unterminated string")
}

func (s *jscan) strSlow(start int) (string, error) {
	buf := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(buf) {
				buf = lossyBytes(nil, buf)
			}
			return string(buf), nil
		case c < 0x20:
			return "", s.errorf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", s.errorf("unterminated escape")
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", s.errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					var ok2 bool
					if r2, ok2 = s.hex4(); !ok2 {
						return "", s.errorf("bad \\u escape")
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
					} else {
						s.i = save
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", s.errorf("bad escape \\%c", e)
		}
	}
	return "", s.errorf("unterminated string")
}

func (s *jscan) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(v), true
}

// int reads a JSON number that must be an integer fitting in int32.
func (s *jscan) int32() (int32, error) {
	s.ws()
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.i++
			continue
		}
		break
	}
	v, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 32)
	if err != nil {
		return 0, s.errorf("want an integer id, got %q", s.b[start:s.i])
	}
	return int32(v), nil
}

// skip passes over one value and returns its raw bytes. Strings are
// scanned properly; nesting is tracked by counting brackets. The raw bytes
// are validated later by encoding/json when they are used.
func (s *jscan) skip() ([]byte, error) {
	s.ws()
	start := s.i
	depth := 0
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch c {
		case '"':
			if _, err := s.str(); err != nil {
				return nil, err
			}
			if depth == 0 {
				return s.b[start:s.i], nil
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return nil, s.errorf("unexpected %q", c)
			}
			if depth == 0 {
				s.i++
				return s.b[start:s.i], nil
			}
		case ',', ':':
			if depth == 0 {
				if s.i == start {
					return nil, s.errorf("unexpected %q", c)
				}
				return s.b[start:s.i], nil
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 {
				return s.b[start:s.i], nil
			}
		}
		s.i++
	}
	if depth != 0 || s.i == start {
		return nil, s.errorf("unexpected end")
	}
	return s.b[start:s.i], nil
}

// object calls f for each key of an object; f must consume the value.
func (s *jscan) object(f func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		k, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := f(k); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errorf("want ',' or '}' in object")
		}
	}
}

// array calls f for each element; f must consume it.
func (s *jscan) array(f func(i int) error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		if err := f(n); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.errorf("want ',' or ']' in array")
		}
	}
}

// rawFields splits a JSON object into its members' raw values (the last
// duplicate wins, as in encoding/json).
func rawFields(data []byte) (map[string]json.RawMessage, error) {
	s := &jscan{b: data}
	out := map[string]json.RawMessage{}
	err := s.object(func(k string) error {
		v, err := s.skip()
		out[k] = v
		return err
	})
	if err != nil {
		return nil, err
	}
	if s.peek() != 0 {
		return nil, s.errorf("trailing data after the top-level object")
	}
	return out, nil
}

// parseVocab reads {"token": id, ...}.
func parseVocab(raw json.RawMessage) (map[string]int32, error) {
	if isNull(raw) {
		return map[string]int32{}, nil
	}
	s := &jscan{b: raw}
	vocab := make(map[string]int32, len(raw)/16)
	err := s.object(func(k string) error {
		id, err := s.int32()
		if err != nil {
			return fmt.Errorf("token %q: %w", k, err)
		}
		vocab[k] = id
		return nil
	})
	return vocab, err
}

// parseMerges reads both merges formats: ["a b", ...] and [["a","b"], ...].
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	s := &jscan{b: raw}
	var out [][2]string
	err := s.array(func(i int) error {
		switch s.peek() {
		case '"':
			m, err := s.str()
			if err != nil {
				return err
			}
			a, b, ok := cutSpace(m)
			if !ok {
				return fmt.Errorf("merges[%d] %q: want two tokens separated by a space", i, m)
			}
			out = append(out, [2]string{a, b})
		case '[':
			var pair []string
			err := s.array(func(j int) error {
				x, err := s.str()
				pair = append(pair, x)
				return err
			})
			if err != nil {
				return fmt.Errorf("merges[%d]: %w", i, err)
			}
			if len(pair) != 2 {
				return fmt.Errorf("merges[%d]: want a pair, got %d elements", i, len(pair))
			}
			out = append(out, [2]string{pair[0], pair[1]})
		default:
			return fmt.Errorf("merges[%d]: want \"a b\" or [a, b]", i)
		}
		return nil
	})
	return out, err
}
