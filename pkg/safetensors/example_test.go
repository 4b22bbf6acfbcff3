package safetensors_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/dpo-go/dpo/pkg/safetensors"
)

func Example() {
	dir, _ := os.MkdirTemp("", "st")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	w, err := safetensors.FromFloat32("lm_head.weight", safetensors.BF16, []int{2, 2}, []float32{1, 0.1, -2, 3.14159})
	if err != nil {
		log.Fatal(err)
	}
	if err := safetensors.Write(path, []*safetensors.Tensor{w}, map[string]string{"format": "pt"}); err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	t, _ := f.Tensor("lm_head.weight")
	v, _ := t.Float32s()
	fmt.Println(t.DType, t.Shape, v, f.Metadata()["format"])
	// Output: BF16 [2 2] [1 0.100097656 -2 3.140625] pt
}
