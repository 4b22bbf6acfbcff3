package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/ardanlabs/jinja"
)

// toValue converts a Go value to a template value. Supported: nil, bool,
// integer and float kinds, string, json.Number, json.RawMessage (decoded
// keeping object key order, which matters for tojson), Message, []Message,
// jinja.Value, and slices and string-keyed maps of these (maps in sorted key
// order, since Go maps have none).
func toValue(v any) (jinja.Value, error) {
	switch t := v.(type) {
	case nil:
		return jinja.None(), nil
	case jinja.Value:
		return t, nil
	case bool:
		return jinja.NewBool(t), nil
	case string:
		return jinja.NewString(t), nil
	case json.Number:
		return numberValue(t)
	case json.RawMessage:
		return decodeJSON(t)
	case Message:
		return messageValue(t), nil
	case []Message:
		items := make([]jinja.Value, len(t))
		for i, m := range t {
			items[i] = messageValue(m)
		}
		return jinja.NewList(items), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return jinja.NewInt(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Uint() > math.MaxInt64 {
			return jinja.Value{}, fmt.Errorf("integer %d out of range", rv.Uint())
		}
		return jinja.NewInt(int64(rv.Uint())), nil
	case reflect.Float32, reflect.Float64:
		return jinja.NewFloat(rv.Float()), nil
	case reflect.Slice, reflect.Array:
		items := make([]jinja.Value, rv.Len())
		for i := range items {
			x, err := toValue(rv.Index(i).Interface())
			if err != nil {
				return jinja.Value{}, fmt.Errorf("[%d]: %w", i, err)
			}
			items[i] = x
		}
		return jinja.NewList(items), nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return jinja.Value{}, fmt.Errorf("map key type %s is not string", rv.Type().Key())
		}
		keys := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		d := jinja.NewDict()
		for _, k := range keys {
			x, err := toValue(rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface())
			if err != nil {
				return jinja.Value{}, fmt.Errorf("[%q]: %w", k, err)
			}
			d.AsDict().Set(k, x)
		}
		return d, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return jinja.None(), nil
		}
		return toValue(rv.Elem().Interface())
	}
	return jinja.Value{}, fmt.Errorf("unsupported type %T", v)
}

func messageValue(m Message) jinja.Value {
	d := jinja.NewDict()
	d.AsDict().Set("role", jinja.NewString(m.Role))
	d.AsDict().Set("content", jinja.NewString(m.Content))
	if m.Extra != "" {
		// Checked by whoever built the message (pkg/pairs); an invalid
		// object adds nothing.
		if x, err := decodeJSON([]byte(m.Extra)); err == nil && x.IsDict() {
			for _, k := range x.AsDict().OrderedKeys() {
				v, _ := x.AsDict().Get(k)
				d.AsDict().Set(k, v)
			}
		}
	}
	return d
}

// numberValue keeps JSON integers as ints and everything else as floats,
// as Python's json module does.
func numberValue(n json.Number) (jinja.Value, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := n.Int64(); err == nil {
			return jinja.NewInt(i), nil
		}
	}
	f, err := n.Float64()
	if err != nil {
		return jinja.Value{}, fmt.Errorf("number %s: %w", s, err)
	}
	return jinja.NewFloat(f), nil
}

// decodeJSON decodes JSON into template values keeping object key order.
func decodeJSON(data []byte) (jinja.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeJSONValue(dec)
	if err != nil {
		return jinja.Value{}, fmt.Errorf("decoding JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return jinja.Value{}, fmt.Errorf("decoding JSON: trailing data")
	}
	return v, nil
}

func decodeJSONValue(dec *json.Decoder) (jinja.Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return jinja.Value{}, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			var items []jinja.Value
			for dec.More() {
				x, err := decodeJSONValue(dec)
				if err != nil {
					return jinja.Value{}, err
				}
				items = append(items, x)
			}
			_, err := dec.Token()
			return jinja.NewList(items), err
		case '{':
			d := jinja.NewDict()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return jinja.Value{}, err
				}
				k, _ := kt.(string)
				x, err := decodeJSONValue(dec)
				if err != nil {
					return jinja.Value{}, err
				}
				d.AsDict().Set(k, x)
			}
			_, err := dec.Token()
			return d, err
		}
		return jinja.Value{}, fmt.Errorf("unexpected %v", t)
	case json.Number:
		return numberValue(t)
	}
	return toValue(tok)
}
