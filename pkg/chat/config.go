package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Config is the part of a tokenizer_config.json that chat rendering needs.
type Config struct {
	// ChatTemplate is the default template: "chat_template" when it is a
	// string, the entry named "default" when it is a list of
	// {"name", "template"} objects, or the contents of chat_template.jinja
	// when LoadConfig was given a directory holding one.
	ChatTemplate string
	// Templates holds every named template ("default" included). A string
	// "chat_template" is stored under "default".
	Templates map[string]string
	// Special tokens; each may be a string or an AddedToken object
	// ({"content": ...}) in the JSON. Empty when absent or null.
	BOSToken, EOSToken, PADToken, UNKToken string
	// AddBOSToken and AddEOSToken are nil when the key is absent.
	AddBOSToken, AddEOSToken *bool
	// Raw is the whole decoded JSON object.
	Raw map[string]any
}

// RenderOptions returns options carrying the config's special tokens.
func (c *Config) RenderOptions() RenderOptions {
	return RenderOptions{BOSToken: c.BOSToken, EOSToken: c.EOSToken, PADToken: c.PADToken, UNKToken: c.UNKToken}
}

// LoadConfig reads a tokenizer_config.json, given either its path or a
// directory holding it. A directory may also hold chat_template.jinja (the
// layout newer transformers versions save), whose contents then win over
// the "chat_template" key, as in transformers. A directory with only
// chat_template.jinja yields a Config with just the template set.
func LoadConfig(path string) (*Config, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("chat: loading config: %w", err)
	}
	cfgPath, jinjaPath := path, ""
	if st.IsDir() {
		cfgPath = filepath.Join(path, "tokenizer_config.json")
		jinjaPath = filepath.Join(path, "chat_template.jinja")
	}
	c := &Config{Templates: map[string]string{}}
	data, err := os.ReadFile(cfgPath)
	switch {
	case err == nil:
		if err := c.parse(data); err != nil {
			return nil, fmt.Errorf("chat: parsing %s: %w", cfgPath, err)
		}
	case st.IsDir() && errors.Is(err, os.ErrNotExist):
		// chat_template.jinja alone is acceptable.
	default:
		return nil, fmt.Errorf("chat: loading config: %w", err)
	}
	if jinjaPath != "" {
		src, err := os.ReadFile(jinjaPath)
		switch {
		case err == nil:
			c.ChatTemplate = string(src)
			c.Templates["default"] = string(src)
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("chat: loading config: %w", err)
		case c.Raw == nil:
			return nil, fmt.Errorf("chat: loading config: %s holds neither tokenizer_config.json nor chat_template.jinja", path)
		}
	}
	return c, nil
}

// ParseConfig decodes tokenizer_config.json contents.
func ParseConfig(data []byte) (*Config, error) {
	c := &Config{Templates: map[string]string{}}
	if err := c.parse(data); err != nil {
		return nil, fmt.Errorf("chat: parsing tokenizer config: %w", err)
	}
	return c, nil
}

func (c *Config) parse(data []byte) error {
	if err := json.Unmarshal(data, &c.Raw); err != nil {
		return err
	}
	if c.Raw == nil {
		return errors.New("not a JSON object")
	}
	switch t := c.Raw["chat_template"].(type) {
	case nil:
	case string:
		c.ChatTemplate = t
		c.Templates["default"] = t
	case []any:
		for i, e := range t {
			m, ok := e.(map[string]any)
			if !ok {
				return fmt.Errorf("field chat_template[%d]: want an object with name and template, got %T", i, e)
			}
			name, ok1 := m["name"].(string)
			src, ok2 := m["template"].(string)
			if !ok1 || !ok2 {
				return fmt.Errorf("field chat_template[%d]: want string fields name and template", i)
			}
			c.Templates[name] = src
		}
		c.ChatTemplate = c.Templates["default"]
	default:
		return fmt.Errorf("field chat_template: want a string or a list, got %T", t)
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"bos_token", &c.BOSToken}, {"eos_token", &c.EOSToken}, {"pad_token", &c.PADToken}, {"unk_token", &c.UNKToken}} {
		s, err := tokenString(c.Raw[f.key])
		if err != nil {
			return fmt.Errorf("field %s: %w", f.key, err)
		}
		*f.dst = s
	}
	for _, f := range []struct {
		key string
		dst **bool
	}{{"add_bos_token", &c.AddBOSToken}, {"add_eos_token", &c.AddEOSToken}} {
		switch v := c.Raw[f.key].(type) {
		case nil:
		case bool:
			*f.dst = &v
		default:
			return fmt.Errorf("field %s: want a boolean, got %T", f.key, v)
		}
	}
	return nil
}

// tokenString accepts a special token as a string, null, or an AddedToken
// object such as {"__type": "AddedToken", "content": "<s>", ...}.
func tokenString(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	case map[string]any:
		s, ok := t["content"].(string)
		if !ok {
			return "", errors.New("token object has no string \"content\"")
		}
		return s, nil
	}
	return "", fmt.Errorf("want a string or {\"content\": ...}, got %T", v)
}
