package arrowio

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// FormatVersion is the version of the stream contract this package writes.
// It changes only on incompatible changes (see docs/format.md). Version 2
// added the per-batch checksum (KeyChecksum), version 3 the batch order
// keys (KeyBatchIndex, KeyRowOffset, KeyPrevCRC, KeyTotalBatchN); readers
// require what a stream's version has. Version-1 and -2 streams are still
// read (see Reader.SetWarnings).
const FormatVersion = "3"

// readableVersions are the format versions this package reads.
var readableVersions = []string{"1", "2", "3"}

// Schema metadata keys. Stage keys are built with [StageVersionKey] and
// [StageOptionsKey].
const (
	KeyFormatVersion      = "dpo.format_version"       // "1"
	KeyProducer           = "dpo.producer"             // tool that wrote the stream: "dpo-tokenize"
	KeyProducerVersion    = "dpo.producer_version"     // its version: "v0.3.1", "dev"
	KeyTokenizerName      = "dpo.tokenizer.name"       // human name: "Qwen/Qwen3-0.6B"
	KeyTokenizerSHA256    = "dpo.tokenizer.sha256"     // hex sha256 of tokenizer.json's bytes
	KeyChatTemplateSHA256 = "dpo.chat_template.sha256" // hex sha256 of the template text; absent: none used
)

// Stage names used in stage keys.
const (
	StageTokenize = "tokenize"
	StageReflogp  = "reflogp"
	StageTrain    = "train"
	StageScore    = "score"
)

// StageVersionKey returns "dpo.<stage>.version": the version of the tool that
// ran the stage.
func StageVersionKey(stage string) string { return "dpo." + stage + ".version" }

// StageOptionsKey returns "dpo.<stage>.options": every option of the stage
// that shaped the stream, as one JSON value.
func StageOptionsKey(stage string) string { return "dpo." + stage + ".options" }

// ErrNoKey is returned (wrapped) by getters whose key is absent.
var ErrNoKey = errors.New("metadata key not present")

// Metadata is the schema-level key/value metadata of a dpo stream. The zero
// value is empty and ready to use. Keys are kept sorted when converted to
// Arrow metadata, so equal Metadata values serialize identically.
type Metadata struct {
	kv map[string]string
}

// NewMetadata returns metadata holding the current format version and the
// producing tool.
func NewMetadata(tool, version string) Metadata {
	var m Metadata
	m.Set(KeyFormatVersion, FormatVersion)
	m.SetProducer(tool, version)
	return m
}

// MetadataFromArrow copies Arrow schema metadata.
func MetadataFromArrow(md arrow.Metadata) Metadata {
	var m Metadata
	keys, values := md.Keys(), md.Values()
	for i := range keys {
		m.Set(keys[i], values[i])
	}
	return m
}

// Derive copies upstream metadata forward for a later stage: every key is
// kept and the producer is replaced by tool and version. The stage then adds
// its own keys with [Metadata.SetStage].
func Derive(upstream Metadata, tool, version string) Metadata {
	m := upstream.Clone()
	if _, ok := m.Get(KeyFormatVersion); !ok {
		m.Set(KeyFormatVersion, FormatVersion)
	}
	m.SetProducer(tool, version)
	return m
}

// Arrow returns the metadata as Arrow metadata with sorted keys.
func (m Metadata) Arrow() arrow.Metadata {
	keys := m.Keys()
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = m.kv[k]
	}
	return arrow.NewMetadata(keys, values)
}

// Len returns the number of keys.
func (m Metadata) Len() int { return len(m.kv) }

// Keys returns the keys in sorted order.
func (m Metadata) Keys() []string {
	keys := make([]string, 0, len(m.kv))
	for k := range m.kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Get returns the value of key.
func (m Metadata) Get(key string) (string, bool) {
	v, ok := m.kv[key]
	return v, ok
}

// Set sets key to value.
func (m *Metadata) Set(key, value string) {
	if m.kv == nil {
		m.kv = make(map[string]string)
	}
	m.kv[key] = value
}

// Delete removes key.
func (m *Metadata) Delete(key string) { delete(m.kv, key) }

// Clone returns an independent copy.
func (m Metadata) Clone() Metadata {
	var c Metadata
	for k, v := range m.kv {
		c.Set(k, v)
	}
	return c
}

// Equal reports whether both hold the same keys and values.
func (m Metadata) Equal(o Metadata) bool {
	if len(m.kv) != len(o.kv) {
		return false
	}
	for k, v := range m.kv {
		if w, ok := o.kv[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// identityKeys must agree when two streams' metadata are merged.
var identityKeys = []string{KeyFormatVersion, KeyTokenizerSHA256, KeyChatTemplateSHA256}

// Merge copies every key of other into m, other's value winning, except that
// the identity keys (format version, tokenizer sha256, chat template sha256)
// must agree where both have them: a conflict is an error and leaves m
// unchanged.
func (m *Metadata) Merge(other Metadata) error {
	for _, k := range identityKeys {
		a, okA := m.Get(k)
		b, okB := other.Get(k)
		if okA && okB && a != b {
			return fmt.Errorf("arrowio: cannot merge metadata: %s differs (%q vs %q)", k, a, b)
		}
	}
	for k, v := range other.kv {
		m.Set(k, v)
	}
	return nil
}

// FormatVersion returns dpo.format_version ("" if absent).
func (m Metadata) FormatVersion() string { return m.kv[KeyFormatVersion] }

// CheckFormatVersion fails unless dpo.format_version is present and is one
// this package reads.
func (m Metadata) CheckFormatVersion() error {
	v, ok := m.Get(KeyFormatVersion)
	if !ok {
		return fmt.Errorf("not a dpo stream: schema metadata has no %s", KeyFormatVersion)
	}
	if !slices.Contains(readableVersions, v) {
		if n, err := strconv.Atoi(v); err == nil && n > 3 {
			return fmt.Errorf("stream has format version %s but this tool reads version %s: upgrade the dpo tools", v, FormatVersion)
		}
		return fmt.Errorf("stream has unsupported format version %q (this tool reads version %s)", v, FormatVersion)
	}
	return nil
}

// SetProducer records the tool that writes the stream and its version.
func (m *Metadata) SetProducer(tool, version string) {
	m.Set(KeyProducer, tool)
	m.Set(KeyProducerVersion, version)
}

// Producer returns the tool that wrote the stream and its version.
func (m Metadata) Producer() (tool, version string) {
	return m.kv[KeyProducer], m.kv[KeyProducerVersion]
}

// SetTokenizer records the tokenizer identity: a human-readable name and the
// hex sha256 of tokenizer.json (see [HashFile]).
func (m *Metadata) SetTokenizer(name, sha256hex string) {
	m.Set(KeyTokenizerName, name)
	m.Set(KeyTokenizerSHA256, sha256hex)
}

// Tokenizer returns the recorded tokenizer name and sha256 ("" if absent).
func (m Metadata) Tokenizer() (name, sha256hex string) {
	return m.kv[KeyTokenizerName], m.kv[KeyTokenizerSHA256]
}

// SetChatTemplateSHA256 records the hash of the chat template used (see
// [HashString]); "" removes the key (no template used).
func (m *Metadata) SetChatTemplateSHA256(sha256hex string) {
	if sha256hex == "" {
		m.Delete(KeyChatTemplateSHA256)
		return
	}
	m.Set(KeyChatTemplateSHA256, sha256hex)
}

// ChatTemplateSHA256 returns the recorded chat template hash ("" if none).
func (m Metadata) ChatTemplateSHA256() string { return m.kv[KeyChatTemplateSHA256] }

// SetStage records a stage's tool version and options: options is marshaled
// to JSON and stored under dpo.<stage>.options (nil stores nothing).
func (m *Metadata) SetStage(stage, version string, options any) error {
	if stage == "" || strings.ContainsAny(stage, ". ") {
		return fmt.Errorf("arrowio: invalid stage name %q", stage)
	}
	m.Set(StageVersionKey(stage), version)
	if options == nil {
		return nil
	}
	b, err := json.Marshal(options)
	if err != nil {
		return fmt.Errorf("arrowio: encoding %s options: %w", stage, err)
	}
	m.Set(StageOptionsKey(stage), string(b))
	return nil
}

// StageVersion returns the version recorded for stage ("" if absent).
func (m Metadata) StageVersion(stage string) string { return m.kv[StageVersionKey(stage)] }

// StageOptions decodes dpo.<stage>.options into v. Unknown fields are
// ignored, so a newer producer's extra options do not break older readers.
// An absent key returns an error wrapping [ErrNoKey].
func (m Metadata) StageOptions(stage string, v any) error {
	key := StageOptionsKey(stage)
	s, ok := m.Get(key)
	if !ok {
		return fmt.Errorf("arrowio: %s: %w", key, ErrNoKey)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("arrowio: decoding %s: %w", key, err)
	}
	return nil
}

// TokenizerMismatchError reports a stream tokenized with a different
// tokenizer than the one at hand.
type TokenizerMismatchError struct {
	StreamName, StreamSHA256 string // from the stream's metadata ("" if absent)
	Name, SHA256             string // the tokenizer at hand
}

func (e *TokenizerMismatchError) Error() string {
	if e.StreamSHA256 == "" {
		return fmt.Sprintf("stream records no tokenizer (%s missing) but the model directory has %s; pass --ignore-tokenizer-mismatch to override",
			KeyTokenizerSHA256, describeTokenizer(e.Name, e.SHA256, e.StreamSHA256))
	}
	return fmt.Sprintf("stream was tokenized with %s but the model directory has %s; pass --ignore-tokenizer-mismatch to override",
		describeTokenizer(e.StreamName, e.StreamSHA256, e.SHA256), describeTokenizer(e.Name, e.SHA256, e.StreamSHA256))
}

// describeTokenizer prints "name (sha256 abcdef012345…)", with enough of the
// hash to tell it from other.
func describeTokenizer(name, sha, other string) string {
	if name == "" {
		name = "an unnamed tokenizer"
	}
	short := sha
	if len(sha) > 12 && (len(other) < 12 || sha[:12] != other[:12]) {
		short = sha[:12] + "…"
	}
	return fmt.Sprintf("%s (sha256 %s)", name, short)
}

// CheckSameTokenizer fails with a *TokenizerMismatchError unless the stream
// was tokenized with the tokenizer whose tokenizer.json hashes to sha256hex.
// The hash is the identity; names only make the message readable.
func (m Metadata) CheckSameTokenizer(name, sha256hex string) error {
	streamName, streamSHA := m.Tokenizer()
	if streamSHA != "" && strings.EqualFold(streamSHA, sha256hex) {
		return nil
	}
	return &TokenizerMismatchError{StreamName: streamName, StreamSHA256: streamSHA, Name: name, SHA256: sha256hex}
}

// CheckSameChatTemplate fails unless the stream's chat template hash equals
// sha256hex ("" meaning no template).
func (m Metadata) CheckSameChatTemplate(sha256hex string) error {
	got := m.ChatTemplateSHA256()
	if strings.EqualFold(got, sha256hex) {
		return nil
	}
	desc := func(s string) string {
		if s == "" {
			return "no chat template"
		}
		if len(s) > 12 {
			s = s[:12] + "…"
		}
		return "chat template sha256 " + s
	}
	return fmt.Errorf("stream was rendered with %s but the model directory has %s", desc(got), desc(sha256hex))
}

// String lists the metadata one "key=value" per line, sorted.
func (m Metadata) String() string {
	var b bytes.Buffer
	for _, k := range m.Keys() {
		fmt.Fprintf(&b, "%s=%s\n", k, m.kv[k])
	}
	return b.String()
}

// HashBytes returns the hex sha256 of b.
func HashBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// HashString returns the hex sha256 of s (for chat templates).
func HashString(s string) string { return HashBytes([]byte(s)) }

// HashFile returns the hex sha256 of a file's bytes (for tokenizer.json).
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("arrowio: hashing %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("arrowio: hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
