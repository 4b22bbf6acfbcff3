package pairs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/dpo-go/dpo/pkg/chat"
)

// decodeJSONRecord decodes one JSON object into a record. Every string that
// is used is checked for invalid UTF-8 and unpaired surrogate escapes, which
// encoding/json would silently replace with U+FFFD.
func decodeJSONRecord(raw []byte, names columns) (*record, *fieldError) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, ferr("", ErrSyntax, "malformed JSON at byte %d: %v", se.Offset, err)
		}
		return nil, ferr("", ErrType, "expected a JSON object, got %s", jsonKind(raw))
	}
	if obj == nil { // the literal null
		return nil, ferr("", ErrType, "expected a JSON object, got null")
	}
	rec := &record{obj: obj}
	var fe, idErr *fieldError
	field := func(k int) json.RawMessage {
		if names[k] == "" {
			return nil
		}
		return obj[names[k]]
	}
	// The id first, so that a rejected record is reported under its own id
	// (not its row index), but completion errors are reported first: they
	// are the most useful.
	if id := field(colID); id != nil {
		rec.id, rec.hasID, idErr = decodeJSONID(names[colID], id)
	}
	// A column --columns names must be in every record (null counts as
	// present), except system and tools, which only some records may have
	// (see jsonSeen).
	for k, col := range names {
		if col == "" {
			continue
		}
		_, rec.present[k] = obj[col]
		if !rec.present[k] && names.mapped(k) && k != colSystem && k != colTools {
			return rec, ferr(col, ErrMissing, "%s", names.missingColumn(k, "the record's fields", slices.Sorted(maps.Keys(obj))))
		}
	}
	if rec.chosen, fe = decodeJSONText(names[colChosen], field(colChosen)); fe != nil {
		return rec, fe
	}
	if rec.rejected, fe = decodeJSONText(names[colRejected], field(colRejected)); fe != nil {
		return rec, fe
	}
	if rec.prompt, fe = decodeJSONText(names[colPrompt], field(colPrompt)); fe != nil {
		return rec, fe
	}
	if idErr != nil {
		return rec, idErr
	}
	if sys := field(colSystem); sys != nil {
		switch k := jsonKind(sys); k {
		case "null":
		case "string":
			if rec.system, fe = decodeJSONString(names[colSystem], bytes.TrimSpace(sys)); fe != nil {
				return rec, fe
			}
		default:
			return rec, ferr(names[colSystem], ErrType, "expected a string (the system message), got %s", k)
		}
	}
	if tools := field(colTools); tools != nil {
		if rec.tools, fe = decodeTools(names[colTools], tools, false); fe != nil {
			return rec, fe
		}
	}
	return rec, nil
}

// decodeJSONID accepts a string or an integer literal; null means no id.
func decodeJSONID(field string, raw json.RawMessage) (string, bool, *fieldError) {
	raw = bytes.TrimSpace(raw)
	switch k := jsonKind(raw); k {
	case "null":
		return "", false, nil
	case "string":
		s, fe := decodeJSONString(field, raw)
		return s, fe == nil, fe
	case "number":
		if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return strconv.FormatInt(i, 10), true, nil
		}
		if isBigInt(raw) { // beyond int64: the literal is already decimal
			return string(raw), true, nil
		}
		return "", false, ferr(field, ErrType, "expected a string or an integer, got number %s", raw)
	default:
		return "", false, ferr(field, ErrType, "expected a string or an integer, got %s", k)
	}
}

func isBigInt(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// decodeJSONText decodes a prompt/chosen/rejected field; raw is nil when
// the field is absent.
func decodeJSONText(field string, raw json.RawMessage) (value, *fieldError) {
	if raw == nil {
		return value{kind: absent}, nil
	}
	raw = bytes.TrimSpace(raw)
	switch k := jsonKind(raw); k {
	case "null":
		return value{kind: null}, nil
	case "string":
		s, fe := decodeJSONString(field, raw)
		return value{kind: str, str: s}, fe
	case "array":
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return value{}, ferr(field, ErrSyntax, "%v", err)
		}
		msgs := make([]chat.Message, len(elems))
		for i, e := range elems {
			path := fmt.Sprintf("%s[%d]", field, i)
			e = bytes.TrimSpace(e)
			if k := jsonKind(e); k != "object" {
				return value{}, ferr(path, ErrType, "expected a message object with role and content, got %s", k)
			}
			var fe *fieldError
			if msgs[i], fe = decodeJSONMessage(path, e); fe != nil {
				return value{}, fe
			}
		}
		return value{kind: messages, msgs: msgs}, nil
	default:
		return value{}, ferr(field, ErrType, "expected a string or a list of messages, got %s", k)
	}
}

func decodeJSONMessageString(path string, m map[string]json.RawMessage, key string) (string, *fieldError) {
	raw, ok := m[key]
	if !ok {
		return "", ferr(path, ErrMissing, "missing")
	}
	raw = bytes.TrimSpace(raw)
	if k := jsonKind(raw); k != "string" {
		return "", ferr(path, ErrType, "expected a string, got %s", k)
	}
	return decodeJSONString(path, raw)
}

// decodeJSONString decodes a JSON string literal after checking that its
// bytes are valid UTF-8 and that every \u escape of a UTF-16 surrogate is
// part of a pair.
func decodeJSONString(field string, raw []byte) (string, *fieldError) {
	if !utf8.Valid(raw) {
		off := 0
		for off < len(raw) {
			r, n := utf8.DecodeRune(raw[off:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			off += n
		}
		return "", ferr(field, ErrInvalidUTF8, "invalid UTF-8 (byte 0x%02x at offset %d of the string)", raw[off], off-1)
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	if pos, bad := loneSurrogate(raw); bad != "" {
		return "", ferr(field, ErrInvalidUTF8, "unpaired UTF-16 surrogate escape %s at offset %d of the string", bad, pos-1)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", ferr(field, ErrSyntax, "%v", err)
	}
	return s, nil
}

// loneSurrogate returns the position and text of the first \uD800-\uDFFF
// escape in the JSON string literal raw that is not a high surrogate
// directly followed by a low one.
func loneSurrogate(raw []byte) (int, string) {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 < len(raw) && raw[i+1] != 'u' {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, ok := hex4(i)
		if !ok {
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if r2, ok := hex4(i + 6); ok && r2 >= 0xDC00 && r2 < 0xE000 {
				i += 11
				continue
			}
			return i, string(raw[i : i+6])
		case r >= 0xDC00 && r < 0xE000:
			return i, string(raw[i : i+6])
		}
		i += 5
	}
	return 0, ""
}

// jsonKind names the kind of a syntactically valid JSON value.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}
