package tokenizer

import (
	"encoding/json"
	"fmt"
)

// postProcessor adds special tokens around a single encoded sequence.
type postProcessor interface {
	process(ids []int32) []int32
}

func parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h componentHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	if err := checkRequired("post_processor", h.Type, raw); err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("post_processor %s: %w", h.Type, err) }
	switch h.Type {
	case "Sequence":
		var c struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		var seq seqPost
		for i, r := range c.Processors {
			p, err := parsePostProcessor(r)
			if err != nil {
				return nil, fmt.Errorf("post_processor Sequence[%d]: %w", i, err)
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	case "ByteLevel":
		return nil, nil // only trims offsets; ids are unchanged
	case "TemplateProcessing":
		var c struct {
			Single        []map[string]json.RawMessage `json:"single"`
			SpecialTokens map[string]struct {
				ID  string  `json:"id"`
				IDs []int32 `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		var tp templatePost
		for i, item := range c.Single {
			if len(item) != 1 {
				return nil, wrap(fmt.Errorf("single[%d]: want one of SpecialToken or Sequence", i))
			}
			for kind, body := range item {
				var p struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(body, &p); err != nil {
					return nil, wrap(fmt.Errorf("single[%d]: %w", i, err))
				}
				switch kind {
				case "Sequence":
					if p.ID != "A" {
						return nil, wrap(fmt.Errorf("single[%d]: sequence %q in a single template", i, p.ID))
					}
					tp = append(tp, nil)
				case "SpecialToken":
					st, ok := c.SpecialTokens[p.ID]
					if !ok {
						return nil, wrap(fmt.Errorf("single[%d]: special token %q missing from special_tokens", i, p.ID))
					}
					tp = append(tp, append([]int32{}, st.IDs...))
				default:
					return nil, wrap(fmt.Errorf("single[%d]: unknown piece %q", i, kind))
				}
			}
		}
		return tp, nil
	case "RobertaProcessing", "BertProcessing":
		var c struct {
			Sep []json.RawMessage `json:"sep"`
			Cls []json.RawMessage `json:"cls"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, wrap(err)
		}
		if len(c.Sep) != 2 || len(c.Cls) != 2 {
			return nil, wrap(fmt.Errorf("sep and cls must be [token, id] pairs"))
		}
		var sep, cls int32
		if err := json.Unmarshal(c.Sep[1], &sep); err != nil {
			return nil, wrap(fmt.Errorf("sep id: %w", err))
		}
		if err := json.Unmarshal(c.Cls[1], &cls); err != nil {
			return nil, wrap(fmt.Errorf("cls id: %w", err))
		}
		return templatePost{{cls}, nil, {sep}}, nil
	}
	return nil, fmt.Errorf("unsupported post_processor type %q", h.Type)
}

type seqPost []postProcessor

func (s seqPost) process(ids []int32) []int32 {
	for _, p := range s {
		ids = p.process(ids)
	}
	return ids
}

// templatePost is a single-sequence template: nil stands for the sequence,
// anything else for special-token ids.
type templatePost [][]int32

func (t templatePost) process(ids []int32) []int32 {
	n := 0
	for _, p := range t {
		n += len(p)
	}
	out := make([]int32, 0, n+len(ids))
	for _, p := range t {
		if p == nil {
			out = append(out, ids...)
		} else {
			out = append(out, p...)
		}
	}
	return out
}
