// Command accuracy summarises judged completions (JSON Lines with a numeric
// "score", as examples/sort/judge writes them): how many are exactly right
// (score 1) and the mean score.
//
//	dpo-sample --temperature 0 --format jsonl ... | go run ./examples/sort/judge | go run ./examples/sort/accuracy
//
// Exit status: 0 success, 1 a line without a numeric score, 2 usage error.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("accuracy: ")
	label := flag.String("label", "", "text printed before the numbers")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	s, err := summarise(os.Stdin)
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	fmt.Printf("%sexact %d/%d = %.3f, mean score %.3f\n", *label, s.exact, s.n, s.accuracy(), s.meanScore())
}

type summary struct {
	n, exact int
	sum      float64
}

func (s summary) accuracy() float64 {
	if s.n == 0 {
		return 0
	}
	return float64(s.exact) / float64(s.n)
}

func (s summary) meanScore() float64 {
	if s.n == 0 {
		return 0
	}
	return s.sum / float64(s.n)
}

func summarise(r io.Reader) (summary, error) {
	var s summary
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var row struct {
			Score *float64 `json:"score"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row.Score == nil {
			return s, fmt.Errorf("line %d: no numeric score (%v)", line, err)
		}
		s.n++
		s.sum += *row.Score
		if *row.Score == 1 {
			s.exact++
		}
	}
	return s, sc.Err()
}
