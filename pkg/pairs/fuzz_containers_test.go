package pairs

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/zstd"
)

var fuzzFormats = []string{"auto", "parquet", "arrow", "jsonl", "json"}

// FuzzContainers feeds arbitrary bytes to Open as dpo-tokenize's input:
// Parquet, Arrow IPC files and streams, .gz/.zst containers and format
// sniffing. It must return rows or errors, never panic or hang. Seeds: the
// same rows in every container, compressed and not.
func FuzzContainers(f *testing.F) {
	mem := memory.NewGoAllocator()
	var plain [][]byte
	for _, c := range containers {
		tr := textRecords(f, mem)
		plain = append(plain, c.write(f, mem, tr[0].Schema(), tr))
		cr := chatRecords(f, mem)
		plain = append(plain, c.write(f, mem, cr[0].Schema(), cr))
	}
	plain = append(plain, []byte(`{"prompt":"a","chosen":"b","rejected":"c","id":7}`+"\n"), []byte(`[{"chosen":"x","rejected":"y"}]`))
	for _, p := range plain {
		for fi := range fuzzFormats {
			f.Add(p, uint8(fi))
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(p)
		zw.Close()
		f.Add(gz.Bytes(), uint8(0))
		enc, _ := zstd.NewWriter(nil)
		f.Add(enc.EncodeAll(p, nil), uint8(0))
		enc.Close()
	}
	f.Fuzz(func(t *testing.T, data []byte, fi uint8) {
		format := fuzzFormats[int(fi)%len(fuzzFormats)]
		// A hang is a failure: crash (so the fuzzer keeps the input).
		watchdog := time.AfterFunc(10*time.Second, func() {
			panic(fmt.Sprintf("FuzzContainers: input of %d bytes as %s took more than 10 s", len(data), format))
		})
		defer watchdog.Stop()
		r, err := Open("-", bytes.NewReader(data), Options{Format: format, Mem: memory.NewGoAllocator()})
		if err != nil {
			return
		}
		defer r.Close()
		for row := int64(0); row < 1<<20; row++ {
			ex, err := r.Next()
			if err == io.EOF {
				return
			}
			var re *RowError
			switch {
			case err == nil:
				checkExample(t, ex, row)
			case errors.As(err, &re):
				if re.Err == nil || re.Error() == "" {
					t.Fatal("empty RowError")
				}
			default:
				return // fatal errors end the input
			}
		}
	})
}
