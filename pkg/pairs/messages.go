package pairs

import (
	"bytes"

	"encoding/json"
	"fmt"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"strings"
	"unicode/utf8"

	"github.com/dpo-go/dpo/pkg/chat"
)

// decodeJSONMessage decodes one message object. "role" must be a non-empty
// string. "content" is a string; a list of OpenAI-style text parts
// ({"type": "text", "text": ...}), which is flattened by concatenating the
// texts; or null (or absent) in an assistant message that has tool_calls.
// Every other key (tool_calls, tool_call_id, name, reasoning_content...) is
// kept, in order, in Message.Extra for the chat template, as transformers
// passes the message dict. Anything else is an error naming the field.
func decodeJSONMessage(path string, raw json.RawMessage) (chat.Message, *fieldError) {
	var m chat.Message
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{', checked by the caller
		return m, ferr(path, ErrSyntax, "%v", err)
	}
	var extra bytes.Buffer
	var content json.RawMessage
	hasRole, hasContent, hasToolCalls := false, false, false
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return m, ferr(path, ErrSyntax, "%v", err)
		}
		key, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return m, ferr(path, ErrSyntax, "%v", err)
		}
		v = bytes.TrimSpace(v)
		switch key {
		case "role":
			hasRole = true
			if k := jsonKind(v); k != "string" {
				return m, ferr(path+".role", ErrType, "expected a string, got %s", k)
			}
			var fe *fieldError
			if m.Role, fe = decodeJSONString(path+".role", v); fe != nil {
				return m, fe
			}
			continue
		case "content":
			hasContent, content = true, v
			continue
		case "tool_calls":
			if k := jsonKind(v); k != "null" {
				if k != "array" {
					return m, ferr(path+".tool_calls", ErrType, "expected a list of tool calls, got %s", k)
				}
				hasToolCalls = !bytes.Equal(bytes.Join(bytes.Fields(v), nil), []byte("[]"))
			}
		}
		if fe := checkJSONText(path+"."+key, v); fe != nil {
			return m, fe
		}
		if extra.Len() > 0 {
			extra.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		extra.Write(k)
		extra.WriteByte(':')
		extra.Write(v)
	}
	if !hasRole {
		return m, ferr(path+".role", ErrMissing, "missing")
	}
	if m.Role == "" {
		return m, ferr(path+".role", ErrEmpty, "empty role")
	}
	switch k := jsonKind(content); {
	case !hasContent || k == "null":
		if !hasToolCalls {
			if !hasContent {
				return m, ferr(path+".content", ErrMissing, "missing")
			}
			return m, ferr(path+".content", ErrMissing, "is null and the message has no tool_calls")
		}
		if hasContent { // the template sees None, as in transformers
			if extra.Len() > 0 {
				extra.WriteByte(',')
			}
			extra.WriteString(`"content":null`)
		}
	case k == "string":
		var fe *fieldError
		if m.Content, fe = decodeJSONString(path+".content", content); fe != nil {
			return m, fe
		}
	case k == "array":
		var fe *fieldError
		if m.Content, fe = flattenParts(path+".content", content); fe != nil {
			return m, fe
		}
	default:
		return m, ferr(path+".content", ErrType, "expected a string, a list of text parts or null, got %s", k)
	}
	if extra.Len() > 0 {
		m.Extra = "{" + extra.String() + "}"
	}
	return m, nil
}

// flattenParts concatenates OpenAI-style text content parts.
func flattenParts(path string, raw json.RawMessage) (string, *fieldError) {
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", ferr(path, ErrSyntax, "%v", err)
	}
	var b strings.Builder
	for i, p := range parts {
		pp := fmt.Sprintf("%s[%d]", path, i)
		if k := jsonKind(p); k != "object" {
			return "", ferr(pp, ErrType, "expected a content part object {\"type\": \"text\", \"text\": ...}, got %s", k)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(p, &obj); err != nil {
			return "", ferr(pp, ErrSyntax, "%v", err)
		}
		typ, fe := decodeJSONMessageString(pp+".type", obj, "type")
		if fe != nil {
			return "", fe
		}
		if typ != "text" {
			return "", ferr(pp+".type", ErrType, "content part of type %q cannot be represented: only text parts are supported", typ)
		}
		text, fe := decodeJSONMessageString(pp+".text", obj, "text")
		if fe != nil {
			return "", fe
		}
		b.WriteString(text)
	}
	return b.String(), nil
}

// checkJSONText checks a JSON value kept verbatim for invalid UTF-8 and
// unpaired surrogate escapes.
func checkJSONText(path string, v []byte) *fieldError {
	if !utf8.Valid(v) {
		return ferr(path, ErrInvalidUTF8, "invalid UTF-8")
	}
	if _, bad := loneSurrogate(v); bad != "" {
		return ferr(path, ErrInvalidUTF8, "unpaired UTF-16 surrogate escape %s", bad)
	}
	return nil
}

// decodeTools reads a tools field: a JSON list of tool (function) schemas,
// or a string holding one (as Parquet/Arrow datasets store it); null or
// absent means none. It is passed to the chat template as "tools", as TRL
// forwards a tools column to apply_chat_template.
func decodeTools(field string, raw []byte, isString bool) (json.RawMessage, *fieldError) {
	raw = bytes.TrimSpace(raw)
	if !isString && jsonKind(raw) == "string" {
		s, fe := decodeJSONString(field, raw)
		if fe != nil {
			return nil, fe
		}
		raw, isString = bytes.TrimSpace([]byte(s)), true
	}
	if isString && len(raw) == 0 {
		return nil, nil
	}
	if !json.Valid(raw) {
		return nil, ferr(field, ErrSyntax, "not valid JSON (want a list of tool schemas)")
	}
	switch k := jsonKind(raw); k {
	case "null":
		return nil, nil
	case "array":
	default:
		return nil, ferr(field, ErrType, "expected a list of tool schemas, got %s", k)
	}
	if fe := checkJSONText(field, raw); fe != nil {
		return nil, fe
	}
	return json.RawMessage(bytes.Clone(raw)), nil
}

// unsupportedToolCalls returns an error when message j of an Arrow or
// Parquet messages column has tool calls: only role and content are read
// from message structs, and dropping the calls would leave an empty turn.
func unsupportedToolCalls(tc arrow.Array, j int, path string) *fieldError {
	if tc == nil || tc.IsNull(j) {
		return nil
	}
	if l, ok := tc.(array.ListLike); ok {
		if start, end := l.ValueOffsets(j); start == end {
			return nil
		}
	} else if s, ok := tc.(interface{ Value(int) string }); ok && strings.TrimSpace(s.Value(j)) == "" {
		return nil
	}
	return ferr(path+".tool_calls", ErrType, "tool calls in Arrow or Parquet message structs are not supported (only role and content are read); convert the dataset to JSON Lines")
}
