package gputool

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/dpo-go/dpo/pkg/engine"
)

// Detect prints, as JSON, what --backend cuda resolves to on this machine
// (engine.DetectCUDA): the backend configuration and the environment it sets.
// It exits with an error when no plugin is found.
func Detect(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	if len(args) != 0 {
		return fmt.Errorf("detect takes no arguments")
	}
	backend, env, err := engine.DetectCUDA()
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"backend": backend, "env": env})
}
