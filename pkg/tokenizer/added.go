package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// AddedToken is an entry of tokenizer.json's added_tokens.
type AddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedVocab mirrors the Rust AddedVocabulary: ids for added tokens, the set
// of special contents, and two matchers: one over the raw input for tokens
// with normalized=false, one over normalized pieces for the others.
type addedVocab struct {
	byContent  map[string]int32
	byID       map[int32]AddedToken
	special    map[string]bool
	rawTrie    *trie
	normTrie   *trie
	hasNormal  bool
	orderedIDs []int32
}

// newAddedVocab registers tokens in file order the way AddedVocabulary's
// add_tokens does: an id comes from an earlier added token or the model
// vocab with the same content, otherwise it is the next free id after the
// model vocab.
func newAddedVocab(tokens []AddedToken, model *bpe, norm normalizer) *addedVocab {
	av := &addedVocab{byContent: map[string]int32{}, byID: map[int32]AddedToken{}, special: map[string]bool{}}
	var specials, others []AddedToken
	for _, t := range tokens {
		if t.Special && t.Content != "" && !av.special[t.Content] {
			specials = append(specials, t)
			av.special[t.Content] = true
		}
	}
	modelSize := int32(len(model.vocab))
	seen := map[AddedToken]bool{} // tokens (without id) already registered
	maxID := int32(-1)
	for _, t := range tokens {
		key := t
		key.ID = 0
		if t.Content == "" || seen[key] {
			continue
		}
		id, ok := av.tokenToID(t.Content, model)
		if !ok {
			id = modelSize
			if maxID >= 0 && (maxID >= modelSize || modelSize == 0) {
				id = maxID + 1
			}
		}
		if old, ok := av.byID[id]; ok {
			o := old
			o.ID = 0
			delete(seen, o)
		}
		seen[key] = true
		av.byContent[t.Content] = id
		maxID = max(maxID, id)
		t.ID = id
		av.byID[id] = t
		if !av.special[t.Content] {
			others = append(others, t)
		}
	}
	raw, normd := newTrie(), newTrie()
	for _, t := range append(specials, others...) {
		id, _ := av.tokenToID(t.Content, model)
		t.ID = id
		if t.Normalized {
			c := t.Content
			if norm != nil {
				c = norm.normalize(c)
			}
			normd.add(c, t)
			av.hasNormal = true
		} else {
			raw.add(t.Content, t)
		}
	}
	av.rawTrie, av.normTrie = raw, normd
	return av
}

func (av *addedVocab) tokenToID(content string, model *bpe) (int32, bool) {
	if id, ok := av.byContent[content]; ok {
		return id, true
	}
	id, ok := model.vocab[content]
	return id, ok
}

// extract splits the input on added tokens and normalizes the rest, as
// AddedVocabulary::extract_and_normalize does.
func (av *addedVocab) extract(sc *scratch, text string, norm normalizer) []piece {
	ps := av.rawTrie.split(sc.pieces[:0], text, true)
	out := sc.spare[:0]
	for _, p := range ps {
		if p.id >= 0 {
			out = append(out, p)
			continue
		}
		s := p.s
		if norm != nil {
			s = norm.normalize(s)
		}
		if s == "" {
			continue
		}
		if av.hasNormal {
			out = av.normTrie.split(out, s, p.first)
		} else {
			out = append(out, piece{s: s, id: -1, first: p.first})
		}
	}
	sc.spare = ps[:0]
	return out
}

// trie matches added tokens leftmost-longest, like aho-corasick's
// MatchKind::LeftmostLongest: at the leftmost position where some token
// matches, the longest token starting there wins, then the scan resumes
// after it.
type trie struct {
	nodes []trieNode
	first [256]bool
	empty bool
}

type trieNode struct {
	next map[byte]int32
	tok  *AddedToken
}

func newTrie() *trie { return &trie{nodes: []trieNode{{}}, empty: true} }

func (t *trie) add(s string, tok AddedToken) {
	if s == "" {
		return
	}
	t.empty = false
	t.first[s[0]] = true
	n := int32(0)
	for i := 0; i < len(s); i++ {
		if t.nodes[n].next == nil {
			t.nodes[n].next = map[byte]int32{}
		}
		c, ok := t.nodes[n].next[s[i]]
		if !ok {
			c = int32(len(t.nodes))
			t.nodes = append(t.nodes, trieNode{})
			t.nodes[n].next[s[i]] = c
		}
		n = c
	}
	if t.nodes[n].tok == nil { // the first pattern wins among duplicates
		tk := tok
		t.nodes[n].tok = &tk
	}
}

// longest returns the longest token that is a prefix of s.
func (t *trie) longest(s string) (*AddedToken, int) {
	n := int32(0)
	var best *AddedToken
	bestLen := 0
	for i := 0; i < len(s); i++ {
		c, ok := t.nodes[n].next[s[i]]
		if !ok {
			break
		}
		n = c
		if t.nodes[n].tok != nil {
			best, bestLen = t.nodes[n].tok, i+1
		}
	}
	return best, bestLen
}

// split appends to dst the pieces of s: added tokens (id >= 0) and the text
// between them, as AddedVocabulary::find_matches does. Empty pieces are
// dropped.
func (t *trie) split(dst []piece, s string, first bool) []piece {
	if t.empty {
		if s != "" {
			dst = append(dst, piece{s: s, id: -1, first: first})
		}
		return dst
	}
	startOffset := 0
	for i := 0; i < len(s); {
		if !t.first[s[i]] {
			i++
			continue
		}
		tok, n := t.longest(s[i:])
		if tok == nil {
			i++
			continue
		}
		start, stop := i, i+n
		i = stop
		if tok.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			ns := len(strings.TrimRightFunc(s[:start], unicode.IsSpace))
			start = max(ns, startOffset)
		}
		if tok.RStrip {
			// The scan resumes after the match itself, as aho-corasick's
			// iterator does, not after the stripped spaces.
			stop += len(s[stop:]) - len(strings.TrimLeftFunc(s[stop:], unicode.IsSpace))
		}
		if start > startOffset {
			dst = append(dst, piece{s: s[startOffset:start], id: -1, first: first && startOffset == 0})
		}
		if stop > start {
			dst = append(dst, piece{s: s[start:stop], id: tok.ID})
		}
		startOffset = stop
	}
	if startOffset < len(s) {
		dst = append(dst, piece{s: s[startOffset:], id: -1, first: first && startOffset == 0})
	}
	return dst
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordChar(r)
}
