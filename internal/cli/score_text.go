package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

// textDecoder returns the decoder of dpo-score --text: the --tokenizer, or
// the builtin bytes tokenizer, or the policy's tokenizer.json when it is the
// stream's (same SHA-256). Unlike the summary's worst pairs, which fall back
// to printing ids, --text fails without the stream's tokenizer.
func textDecoder(tokDir, policy string, meta arrowio.Metadata) (func([]int32) string, error) {
	_, sha := meta.Tokenizer()
	var tok *tokenizer.Tokenizer
	var err error
	switch {
	case tokDir != "":
		if tok, err = tokenizer.Load(tokDir); err != nil {
			return nil, fmt.Errorf("--text: %w", err)
		}
	case sha == "builtin:bytes":
		if tok, err = tokenizer.Builtin("bytes"); err != nil {
			return nil, err
		}
	default:
		if _, err := os.Stat(filepath.Join(policy, "tokenizer.json")); err != nil {
			return nil, fmt.Errorf("--text: the policy %s has no tokenizer.json; pass --tokenizer DIR", policy)
		}
		if tok, err = tokenizer.Load(policy); err != nil {
			return nil, fmt.Errorf("--text: %w", err)
		}
		if tok.SHA256() != sha {
			return nil, fmt.Errorf("--text: the policy's tokenizer is not the stream's (SHA-256 %s, stream %s); pass --tokenizer DIR", tok.SHA256(), sha)
		}
	}
	return func(ids []int32) string { return tok.Decode(ids, false) }, nil
}

// writeText appends the decoded "prompt", "chosen" and "rejected" of row i
// of rec to a JSON object being written in buf (after its other fields).
func writeText(buf *strings.Builder, dec func([]int32) string, rec arrow.RecordBatch, i int) error {
	p, err := arrowio.ReadPairs(rec)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		ids  []int32
	}{{"prompt", p.Prompt.Row(i)}, {"chosen", p.Chosen.Row(i)}, {"rejected", p.Rejected.Row(i)}} {
		v, _ := json.Marshal(dec(f.ids))
		fmt.Fprintf(buf, ",%q:%s", f.name, v)
	}
	return nil
}
