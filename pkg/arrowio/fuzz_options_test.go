package arrowio

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// FuzzStageOptions decodes arbitrary stage-options JSON (and other values)
// from stream metadata, as every stage does with its upstream's: errors
// are fine, panics are not.
func FuzzStageOptions(f *testing.F) {
	f.Add(StageReflogp, `{"model":"m","config_sha256":"ab","weights_sha256":"cd","architecture":"llama","backend":"go","batch_tokens":4096}`, "2")
	f.Add(StageTokenize, `{"max_length":1024,"max_prompt_length":512,"truncation_mode":"keep_end","bos_token":"<s>"}`, "1")
	f.Add(StageScore, `{"beta":0.1,"reference_free":false}`, "3")
	f.Add(StageTokenize, `{"max_length":"1024"}`, "")
	f.Add(StageTokenize, `[1,2]`, "x")
	f.Add(StageReflogp, `{"batch_tokens":1e400}`, "2")
	f.Fuzz(func(t *testing.T, stage, options, version string) {
		md := arrow.NewMetadata([]string{KeyFormatVersion, StageOptionsKey(stage), KeyTokenizerSHA256}, []string{version, options, options})
		m := MetadataFromArrow(md)
		_ = m.CheckFormatVersion()
		var generic map[string]any
		_ = m.StageOptions(stage, &generic)
		var typed struct {
			Model        string  `json:"model"`
			BatchTokens  int     `json:"batch_tokens"`
			MaxLength    int     `json:"max_length"`
			Truncation   string  `json:"truncation_mode"`
			Beta         float64 `json:"beta"`
			BF16         bool    `json:"bf16"`
			WeightsSHA   string  `json:"weights_sha256"`
			VocabChunk   int     `json:"vocab_chunk"`
			TemplateArgs map[string]any
		}
		_ = m.StageOptions(stage, &typed)
		_ = m.CheckSameTokenizer("x", options)
		_ = m.String()
		d := Derive(m, "t", "v")
		if err := d.SetStage(stage, "v", generic); err != nil {
			return
		}
	})
}
