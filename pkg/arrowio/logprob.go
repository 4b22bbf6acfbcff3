package arrowio

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
)

// LogProbSlack is how far above 0 a summed log-probability may be and still
// count as one: float rounding of a near-certain completion. Every stage
// (dpo-reflogp's output, dpo-train's and dpo-score's inputs, dpo-score's own
// policy log-probs) applies the same rule through CheckLogProb.
const LogProbSlack = 1e-3

// CheckLogProb fails unless x is a summed log-probability: finite and
// <= LogProbSlack.
func CheckLogProb(x float64) error {
	if math.IsNaN(x) || math.IsInf(x, 0) || x > LogProbSlack {
		return fmt.Errorf("%v is not a log-probability (finite, <= 0)", x)
	}
	return nil
}

// RowName names row i of rec in errors: "row 3 (id "abc")", or "row 3"
// when rec has no readable id column (pairs and completions streams alike).
func RowName(rec arrow.RecordBatch, i int) string {
	if id, err := StringColumn(rec, ColID); err == nil && i < id.Len() {
		return fmt.Sprintf("row %d (id %q)", i, id.Value(i))
	}
	return fmt.Sprintf("row %d", i)
}

// LogProbColumn returns the float64 column name of rec (see Float64Column)
// after checking every value with CheckLogProb; the error names the row
// (index within the batch) and its id.
func LogProbColumn(rec arrow.RecordBatch, name string) ([]float64, error) {
	v, err := Float64Column(rec, name)
	if err != nil {
		return nil, err
	}
	if err := CheckLogProbs(rec, name, v); err != nil {
		return nil, err
	}
	return v, nil
}

// CheckLogProbs checks values computed for rec's rows (column name, which
// need not be in rec yet) with CheckLogProb, naming the first bad row.
func CheckLogProbs(rec arrow.RecordBatch, name string, v []float64) error {
	for i, x := range v {
		if err := CheckLogProb(x); err != nil {
			return fmt.Errorf("%s: %s = %w", RowName(rec, i), name, err)
		}
	}
	return nil
}
