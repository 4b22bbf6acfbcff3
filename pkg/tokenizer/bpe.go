package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

const (
	cacheCapacity  = 10000 // entries, as the Rust library's default
	cacheMaxLength = 256   // bytes; longer words are not cached
)

// bpe is the BPE model.
type bpe struct {
	vocab        map[string]int32
	vocabR       []string // id -> token ("" and hasID false for holes)
	hasID        []bool
	merges       map[uint64]mergeVal
	unkID        int32 // -1 if none
	unkToken     string
	contPrefix   string
	endSuffix    string
	byteFallback bool
	fuseUnk      bool
	ignoreMerges bool
	byteIDs      [256]int32 // <0xXX> ids when byteFallback, -1 when absent

	cache     sync.Map // string -> []int32
	cacheSize atomic.Int64
	pool      sync.Pool // *bpeWork
}

type mergeVal struct{ rank, newID int32 }

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

type bpeModelJSON struct {
	Type                    string   `json:"type"`
	Dropout                 *float64 `json:"dropout"`
	UnkToken                *string  `json:"unk_token"`
	ContinuingSubwordPrefix *string  `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string  `json:"end_of_word_suffix"`
	FuseUnk                 bool     `json:"fuse_unk"`
	ByteFallback            bool     `json:"byte_fallback"`
	IgnoreMerges            bool     `json:"ignore_merges"`
}

func parseModel(raw json.RawMessage) (*bpe, error) {
	fields, err := rawFields(raw)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	var typ string
	if t, ok := fields["type"]; ok {
		if err := json.Unmarshal(t, &typ); err != nil {
			return nil, fmt.Errorf("model type: %w", err)
		}
	} else if m, ok := fields["merges"]; ok && !isNull(m) {
		typ = "BPE" // old files omit the type; BPE is recognised by its merges
	}
	if typ != "BPE" {
		return nil, fmt.Errorf("unsupported model type %q (only BPE is implemented)", typ)
	}
	vocab, err := parseVocab(fields["vocab"])
	if err != nil {
		return nil, fmt.Errorf("model BPE vocab: %w", err)
	}
	merges, err := parseMerges(fields["merges"])
	if err != nil {
		return nil, fmt.Errorf("model BPE: %w", err)
	}
	delete(fields, "vocab")
	delete(fields, "merges")
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("model BPE: %w", err)
	}
	var c bpeModelJSON
	if err := json.Unmarshal(rest, &c); err != nil {
		return nil, fmt.Errorf("model BPE: %w", err)
	}
	if c.Dropout != nil && *c.Dropout > 0 {
		return nil, fmt.Errorf("model BPE: dropout %v is not supported (encoding would be random)", *c.Dropout)
	}
	opt := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return newBPE(vocab, merges, opt(c.UnkToken), opt(c.ContinuingSubwordPrefix), opt(c.EndOfWordSuffix), c.ByteFallback, c.FuseUnk, c.IgnoreMerges)
}

// cutSpace splits a "a b" merge at its first space.
func cutSpace(m string) (string, string, bool) { return strings.Cut(m, " ") }

func newBPE(vocab map[string]int32, merges [][2]string, unk, prefix, suffix string, byteFallback, fuseUnk, ignoreMerges bool) (*bpe, error) {
	m := &bpe{
		vocab: vocab, unkID: -1, unkToken: unk, contPrefix: prefix, endSuffix: suffix,
		byteFallback: byteFallback, fuseUnk: fuseUnk, ignoreMerges: ignoreMerges,
		merges: make(map[uint64]mergeVal, len(merges)),
	}
	maxID := int32(-1)
	for tok, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("vocab: token %q has negative id %d", tok, id)
		}
		maxID = max(maxID, id)
	}
	m.vocabR = make([]string, maxID+1)
	m.hasID = make([]bool, maxID+1)
	for tok, id := range vocab {
		m.vocabR[id] = tok
		m.hasID[id] = true
	}
	if unk != "" {
		id, ok := vocab[unk]
		if !ok {
			return nil, fmt.Errorf("unk_token %q is not in the vocab", unk)
		}
		m.unkID = id
	}
	for b := range m.byteIDs {
		m.byteIDs[b] = -1
		if id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	for i, mg := range merges {
		a, ok := vocab[mg[0]]
		if !ok {
			return nil, fmt.Errorf("merges[%d]: token %q is not in the vocab", i, mg[0])
		}
		b, ok := vocab[mg[1]]
		if !ok {
			return nil, fmt.Errorf("merges[%d]: token %q is not in the vocab", i, mg[1])
		}
		// Like the Rust library, the prefix's length is cut from the right
		// token whether or not it starts with the prefix.
		right := mg[1]
		if p := len(prefix); p > 0 {
			if len(right) < p || (p < len(right) && !utf8.RuneStart(right[p])) {
				return nil, fmt.Errorf("merges[%d]: token %q is shorter than continuing_subword_prefix %q", i, right, prefix)
			}
			right = right[p:]
		}
		n, ok := vocab[mg[0]+right]
		if !ok {
			return nil, fmt.Errorf("merges[%d]: merged token %q is not in the vocab", i, mg[0]+right)
		}
		m.merges[pairKey(a, b)] = mergeVal{int32(i), n}
	}
	m.pool.New = func() any { return &bpeWork{} }
	return m, nil
}

// idToToken returns the vocab token of id.
func (m *bpe) idToToken(id int32) (string, bool) {
	if id < 0 || int(id) >= len(m.vocabR) || !m.hasID[id] {
		return "", false
	}
	return m.vocabR[id], true
}

// tokenize appends the ids of word w to dst.
func (m *bpe) tokenize(dst []int32, w string) []int32 {
	if w == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[w]; ok {
			return append(dst, id)
		}
	}
	if v, ok := m.cache.Load(w); ok {
		return append(dst, v.([]int32)...)
	}
	start := len(dst)
	dst = m.mergeWord(dst, w)
	if len(w) < cacheMaxLength && m.cacheSize.Load() < cacheCapacity {
		ids := append([]int32(nil), dst[start:]...)
		if _, loaded := m.cache.LoadOrStore(strings.Clone(w), ids); !loaded {
			m.cacheSize.Add(1)
		}
	}
	return dst
}

type symbol struct {
	id         int32
	prev, next int32
	dead       bool
}

type mergeItem struct{ rank, pos, newID int32 }

type bpeWork struct {
	syms []symbol
	heap []mergeItem
}

func (m *bpe) mergeWord(dst []int32, w string) []int32 {
	wk := m.pool.Get().(*bpeWork)
	defer m.pool.Put(wk)
	syms := wk.syms[:0]
	add := func(id int32) {
		n := int32(len(syms))
		syms = append(syms, symbol{id: id, prev: n - 1, next: n + 1})
	}
	unkPending := false
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		end := i + size
		s := w[i:end]
		if (i > 0 && m.contPrefix != "") || (end == len(w) && m.endSuffix != "") {
			if i > 0 {
				s = m.contPrefix + s
			}
			if end == len(w) {
				s += m.endSuffix
			}
		}
		if id, ok := m.vocab[s]; ok {
			if unkPending {
				add(m.unkID)
				unkPending = false
			}
			add(id)
		} else {
			done := false
			if m.byteFallback {
				ok := true
				for k := 0; k < len(s); k++ {
					if m.byteIDs[s[k]] < 0 {
						ok = false
						break
					}
				}
				if ok {
					for k := 0; k < len(s); k++ {
						add(m.byteIDs[s[k]])
					}
					done = true
				}
			}
			if !done && m.unkID >= 0 {
				if unkPending && !m.fuseUnk {
					add(m.unkID)
				}
				unkPending = true
			}
		}
		i = end
	}
	if unkPending {
		add(m.unkID)
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}

	// Priority-queue merge over the linked list of symbols.
	h := wk.heap[:0]
	for i := 0; i+1 < len(syms); i++ {
		if mv, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h = heapPush(h, mergeItem{mv.rank, int32(i), mv.newID})
		}
	}
	for len(h) > 0 {
		var top mergeItem
		top, h = heapPop(h)
		cur := &syms[top.pos]
		if cur.dead || cur.next < 0 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		mv, ok := m.merges[pairKey(cur.id, right.id)]
		if !ok || mv.newID != top.newID {
			continue
		}
		cur.id = top.newID
		cur.next = right.next
		syms[nextPos].dead = true
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mv, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				h = heapPush(h, mergeItem{mv.rank, cur.prev, mv.newID})
			}
		}
		if cur.next >= 0 {
			if mv, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				h = heapPush(h, mergeItem{mv.rank, top.pos, mv.newID})
			}
		}
	}
	for i := range syms {
		if !syms[i].dead {
			dst = append(dst, syms[i].id)
		}
	}
	wk.syms, wk.heap = syms, h
	return dst
}

func mergeLess(a, b mergeItem) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

func heapPush(h []mergeItem, x mergeItem) []mergeItem {
	h = append(h, x)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !mergeLess(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func heapPop(h []mergeItem) (mergeItem, []mergeItem) {
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && mergeLess(h[r], h[l]) {
			c = r
		}
		if !mergeLess(h[c], h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	return top, h
}
