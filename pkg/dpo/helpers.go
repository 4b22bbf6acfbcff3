package dpo

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

func shapeOf(dt dtypes.DType, dims ...int) shapes.Shape { return shapes.Make(dt, dims...) }

func log1p(x float64) float64 { return math.Log1p(x) }
func log(x float64) float64   { return math.Log(x) }
