package tokenizer

// gpt2Pattern is the split regex of the ByteLevel pre-tokenizer.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

func gpt2Matcher() matcher {
	if f := fastMatcherFor(gpt2Pattern); f != nil {
		return f
	}
	m, err := compileRegex(gpt2Pattern)
	if err != nil {
		panic(err) // a constant pattern
	}
	return m
}

// fastMatcherFor returns a hand-written matcher equivalent to one of the
// well-known split regexes, or nil.
func fastMatcherFor(pattern string) matcher {
	return nil
}
