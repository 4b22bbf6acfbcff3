package tokenizer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"
)

// Tokenizer encodes and decodes text like a Hugging Face fast tokenizer. It
// is immutable after loading and safe for concurrent use.
type Tokenizer struct {
	name   string
	sha    string
	model  *bpe
	added  *addedVocab
	norm   normalizer
	pre    preTokenizer
	post   postProcessor
	dec    decoder
	vocabN int
	bytes  bool // Builtin("bytes")
}

type fileJSON struct {
	Version       string          `json:"version"`
	AddedTokens   []AddedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

// Load reads a tokenizer.json file, or a model directory.
//
// A file is the Rust tokenizers library's tokenizer (Tokenizer.from_file).
// A directory is what transformers' AutoTokenizer.from_pretrained gives,
// which is what TRL tokenizes with: its tokenizer.json, with the sections
// that transformers rebuilds from tokenizer_config.json (and config.json)
// replaced as it does. Today that is LlamaTokenizer's (see hfclass.go):
// Llama 2 style files then differ from the raw file on leading spaces and,
// with legacy false, after special tokens.
func Load(path string) (*Tokenizer, error) {
	file, dir := path, ""
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		file, dir = filepath.Join(path, "tokenizer.json"), path
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	name := filepath.Base(filepath.Dir(file))
	fields, err := rawFields(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: parsing tokenizer.json: %w", file, err)
	}
	sum := sha256.New()
	sum.Write(data)
	var over map[string]json.RawMessage
	if dir != "" {
		over, err := transformersOverrides(dir, data)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", dir, err)
		}
		if over != nil {
			// The identity covers what was replaced: the same file read as a
			// file and as a directory are different tokenizers.
			b, _ := json.Marshal(over)
			sum.Write([]byte("\x00transformers\x00"))
			sum.Write(b)
			for k, v := range over {
				fields[k] = v
			}
		}
	}
	t, err := fromFields(fields, hex.EncodeToString(sum.Sum(nil)), name)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", file, err)
	}
	if over != nil {
		// LlamaTokenizer's BPE(fuse_unk=True, byte_fallback=True).
		t.model.byteFallback, t.model.fuseUnk = true, true
	}
	return t, nil
}

// FromJSON builds a tokenizer from the bytes of a tokenizer.json; name is
// what Name returns.
func FromJSON(data []byte, name string) (*Tokenizer, error) {
	fields, err := rawFields(data)
	if err != nil {
		return nil, fmt.Errorf("parsing tokenizer.json: %w", err)
	}
	sum := sha256.Sum256(data)
	return fromFields(fields, hex.EncodeToString(sum[:]), name)
}

// fromFields builds a tokenizer from the top-level sections of a
// tokenizer.json.
func fromFields(fields map[string]json.RawMessage, sha, name string) (*Tokenizer, error) {
	model := fields["model"]
	delete(fields, "model")
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("parsing tokenizer.json: %w", err)
	}
	var f fileJSON
	if err := json.Unmarshal(rest, &f); err != nil {
		return nil, fmt.Errorf("parsing tokenizer.json: %w", err)
	}
	f.Model = model
	if isNull(f.Model) {
		return nil, fmt.Errorf("missing model")
	}
	t := &Tokenizer{name: name, sha: sha}
	if t.model, err = parseModel(f.Model); err != nil {
		return nil, err
	}
	if t.norm, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if t.post, err = parsePostProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if t.dec, err = parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	for i, a := range f.AddedTokens {
		if a.Content == "" {
			return nil, fmt.Errorf("added_tokens[%d] (id %d): empty content", i, a.ID)
		}
	}
	t.added = newAddedVocab(f.AddedTokens, t.model, t.norm)
	t.vocabN = len(t.model.vocabR)
	for id := range t.added.byID {
		t.vocabN = max(t.vocabN, int(id)+1)
	}
	return t, nil
}

// Builtin returns a tokenizer that needs no file. The only one is "bytes":
// ids 0..255 are the raw bytes of the text, then <|bos|>=256, <|eos|>=257,
// <|pad|>=258. Its Encode never adds BOS/EOS and never interprets special
// token text, so Decode(Encode(s), false) == s for every string s.
func Builtin(name string) (*Tokenizer, error) {
	if name != "bytes" {
		return nil, fmt.Errorf("tokenizer: unknown builtin %q (want \"bytes\")", name)
	}
	return &Tokenizer{name: "builtin:bytes", sha: "builtin:bytes", vocabN: 259, bytes: true}, nil
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

var builtinSpecials = [...]string{"<|bos|>", "<|eos|>", "<|pad|>"}

// Encode returns the token ids of text. With addSpecialTokens the
// post-processor's special tokens (e.g. BOS) are added. Invalid UTF-8 is
// first replaced by U+FFFD as Rust's from_utf8_lossy does.
func (t *Tokenizer) Encode(text string, addSpecialTokens bool) []int32 {
	if t.bytes {
		ids := make([]int32, len(text))
		for i := 0; i < len(text); i++ {
			ids[i] = int32(text[i])
		}
		return ids
	}
	text = toValidUTF8(text)
	sc := scratchPool.Get().(*scratch)
	ps := t.added.extract(sc, text, t.norm)
	if t.pre != nil {
		ps = t.pre.preTokenize(sc, ps)
	}
	ids := make([]int32, 0, len(text)/3+4)
	for _, p := range ps {
		if p.id >= 0 {
			ids = append(ids, p.id)
		} else {
			ids = t.model.tokenize(ids, p.s)
		}
	}
	// Drop string references before pooling.
	clear(ps[:cap(ps)])
	clear(sc.spare[:cap(sc.spare)])
	sc.pieces = ps[:0]
	scratchPool.Put(sc)
	if addSpecialTokens && t.post != nil {
		ids = t.post.process(ids)
	}
	return ids
}

// DecodeText is the text of a completion: Decode without special tokens,
// with bytes that are not UTF-8 (a byte-level model can produce any)
// replaced by U+FFFD, as transformers' decode (errors="replace") does.
func (t *Tokenizer) DecodeText(ids []int32) string {
	return strings.ToValidUTF8(t.Decode(ids, true), "\uFFFD")
}

// Decode returns the text of ids. Unknown ids are skipped; with
// skipSpecialTokens, special added tokens are too.
func (t *Tokenizer) Decode(ids []int32, skipSpecialTokens bool) string {
	if t.bytes {
		buf := make([]byte, 0, len(ids))
		for _, id := range ids {
			switch {
			case id >= 0 && id < 256:
				buf = append(buf, byte(id))
			case id >= 256 && id < 259 && !skipSpecialTokens:
				buf = append(buf, builtinSpecials[id-256]...)
			}
		}
		return string(buf)
	}
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, ok := t.IDToToken(id)
		if !ok || (skipSpecialTokens && t.added.special[tok]) {
			continue
		}
		tokens = append(tokens, tok)
	}
	if t.dec == nil {
		out := ""
		for i, s := range tokens {
			if i > 0 {
				out += " "
			}
			out += s
		}
		return out
	}
	parts := t.dec.decodeChain(tokens)
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	buf := make([]byte, 0, n)
	for _, p := range parts {
		buf = append(buf, p...)
	}
	return string(buf)
}

// TokenToID returns the id of a token string (added tokens first, then the
// model vocab).
func (t *Tokenizer) TokenToID(token string) (int32, bool) {
	if t.bytes {
		for i, s := range builtinSpecials {
			if s == token {
				return int32(256 + i), true
			}
		}
		if len(token) == 1 {
			return int32(token[0]), true
		}
		return 0, false
	}
	return t.added.tokenToID(token, t.model)
}

// IDToToken returns the token string of an id.
func (t *Tokenizer) IDToToken(id int32) (string, bool) {
	if t.bytes {
		switch {
		case id >= 0 && id < 256:
			return string([]byte{byte(id)}), true
		case id >= 256 && id < 259:
			return builtinSpecials[id-256], true
		}
		return "", false
	}
	if a, ok := t.added.byID[id]; ok {
		return a.Content, true
	}
	return t.model.idToToken(id)
}

// IsSpecial reports whether id is a special added token.
func (t *Tokenizer) IsSpecial(id int32) bool {
	if t.bytes {
		return id >= 256 && id < 259
	}
	tok, ok := t.IDToToken(id)
	return ok && t.added.special[tok]
}

// VocabSize is the largest id plus one over the model vocab and the added
// tokens.
func (t *Tokenizer) VocabSize() int { return t.vocabN }

// Name is the base name of the directory holding the tokenizer.json, or
// "builtin:bytes".
func (t *Tokenizer) Name() string { return t.name }

// SHA256 is the hex SHA-256 of the tokenizer.json bytes, or "builtin:bytes".
func (t *Tokenizer) SHA256() string { return t.sha }

// AddedTokens returns the added tokens with the ids they were given, in id
// order.
func (t *Tokenizer) AddedTokens() []AddedToken {
	if t.bytes {
		out := make([]AddedToken, len(builtinSpecials))
		for i, s := range builtinSpecials {
			out[i] = AddedToken{ID: int32(256 + i), Content: s, Special: true}
		}
		return out
	}
	out := make([]AddedToken, 0, len(t.added.byID))
	for id := int32(0); len(out) < len(t.added.byID); id++ {
		if a, ok := t.added.byID[id]; ok {
			out = append(out, a)
		}
	}
	return out
}

func isValidUTF8(s string) bool { return utf8.ValidString(s) }
