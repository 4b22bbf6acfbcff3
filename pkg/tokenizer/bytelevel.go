package tokenizer

import "unicode/utf8"

// byteToChar maps each byte to the printable rune GPT-2's bytes_to_unicode
// assigns it; charToByte is its inverse.
var (
	byteToChar    [256]rune
	byteToCharStr [256]string
	charToByte    = map[rune]byte{}
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			byteToChar[b] = rune(b)
		} else {
			byteToChar[b] = rune(256 + n)
			n++
		}
		byteToCharStr[b] = string(byteToChar[b])
		charToByte[byteToChar[b]] = byte(b)
	}
}

// byteLevelEncode maps every byte of s to its byte-level rune.
func byteLevelEncode(s string) string {
	buf := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteToChar[s[i]])
	}
	return string(buf)
}
