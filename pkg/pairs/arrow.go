package pairs

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/dpo-go/dpo/pkg/chat"
)

// columnIndices maps the columns of interest to their schema positions (-1
// when absent) and checks their types, so that a bad schema is one clear
// error rather than one per row.
func columnIndices(name string, sc *arrow.Schema, names columns) ([numCols]int, error) {
	var idx [numCols]int
	for k, col := range names {
		if col == "" {
			idx[k] = -1
			continue
		}
		is := sc.FieldIndices(col)
		switch {
		case len(is) == 0:
			idx[k] = -1
			if names.required(k) {
				var have []string
				for _, f := range sc.Fields() {
					have = append(have, f.Name)
				}
				hint := ""
				if len(sc.FieldIndices("completions")) > 0 || len(sc.FieldIndices("completion")) > 0 {
					hint = "; rated completions are read by dpo-tokenize only"
				}
				return idx, fmt.Errorf("pairs: %s: %s%s", name, names.missingColumn(k, "columns", have), hint)
			}
			continue
		case len(is) > 1:
			return idx, fmt.Errorf("pairs: %s: %d columns named %q", name, len(is), col)
		}
		idx[k] = is[0]
		dt := sc.Field(is[0]).Type
		if k == colSystem || k == colTools {
			if !stringType(dt) {
				return idx, fmt.Errorf("pairs: %s: column %q (%s) has unsupported type %s; want a string type", name, col, Roles[k], dt)
			}
			continue
		}
		if k == colID {
			if !stringType(dt) && !integerType(dt) {
				return idx, fmt.Errorf("pairs: %s: column %q has unsupported type %s; want a string or integer type", name, col, dt)
			}
			continue
		}
		if !stringType(dt) && !messagesType(dt) {
			return idx, fmt.Errorf("pairs: %s: column %q has unsupported type %s; want string, large_string or list<struct<role: string, content: string>>", name, col, dt)
		}
	}
	return idx, nil
}

func stringType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	case arrow.DICTIONARY:
		return stringType(dt.(*arrow.DictionaryType).ValueType)
	}
	return false
}

func integerType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

func messagesType(dt arrow.DataType) bool {
	lt, ok := dt.(arrow.ListLikeType)
	if !ok {
		return false
	}
	st, ok := lt.Elem().(*arrow.StructType)
	if !ok {
		return false
	}
	for _, name := range []string{"role", "content"} {
		f, ok := st.FieldByName(name)
		if !ok || !stringType(f.Type) {
			return false
		}
	}
	return true
}

// strCol reads a string-like column (string, large_string, string_view or
// a dictionary of them).
type strCol struct {
	arr   arrow.Array
	dict  *array.Dictionary
	value func(i int) string
	// budget, when not nil, is what is left of the row's byte bound: each
	// value read takes its length from it, and the value that overdraws
	// it is an ErrTooLarge error (before it is copied).
	budget *rowBudget
}

// rowBudget bounds the bytes of one row's strings (Options.MaxLineBytes).
type rowBudget struct{ max, left int }

func newStrCol(arr arrow.Array, budget *rowBudget) strCol {
	c := strCol{arr: arr, budget: budget}
	if d, ok := arr.(*array.Dictionary); ok {
		c.dict = d
		inner := newStrCol(d.Dictionary(), nil)
		c.value = func(i int) string { return inner.value(d.GetValueIndex(i)) }
		return c
	}
	c.value = arr.(interface{ Value(int) string }).Value
	return c
}

// get returns a copy of row i (Arrow strings alias the batch's buffers).
func (c strCol) get(field string, i int) (string, bool, *fieldError) {
	if c.arr.IsNull(i) {
		return "", false, nil
	}
	s := c.value(i)
	if b := c.budget; b != nil && b.max > 0 {
		if b.left -= len(s); b.left < 0 {
			return "", false, ferr(field, ErrTooLarge, "the row's strings exceed %d bytes with this value's %d (raise --max-line-bytes, or 0 for no limit)", b.max, len(s))
		}
	}
	if !utf8.ValidString(s) {
		off := 0
		for off < len(s) {
			r, n := utf8.DecodeRuneInString(s[off:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			off += n
		}
		return "", false, ferr(field, ErrInvalidUTF8, "invalid UTF-8 (byte 0x%02x at offset %d of the string)", s[off], off)
	}
	return strings.Clone(s), true, nil
}

// textCol reads a prompt/chosen/rejected column.
type textCol struct {
	name          string
	s             *strCol
	list          array.ListLike
	msgs          *array.Struct
	role, content strCol
	toolCalls     arrow.Array // the struct's tool_calls field, if any
}

func newTextCol(name string, arr arrow.Array, budget *rowBudget) *textCol {
	c := &textCol{name: name}
	if stringType(arr.DataType()) {
		s := newStrCol(arr, budget)
		c.s = &s
		return c
	}
	c.list = arr.(array.ListLike)
	c.msgs = c.list.ListValues().(*array.Struct)
	st := c.msgs.DataType().(*arrow.StructType)
	ri, _ := st.FieldIdx("role")
	ci, _ := st.FieldIdx("content")
	c.role, c.content = newStrCol(c.msgs.Field(ri), budget), newStrCol(c.msgs.Field(ci), budget)
	if ti, ok := st.FieldIdx("tool_calls"); ok {
		c.toolCalls = c.msgs.Field(ti)
	}
	return c
}

func (c *textCol) value(i int) (value, *fieldError) {
	if c.s != nil {
		s, ok, fe := c.s.get(c.name, i)
		if fe != nil || !ok {
			return value{kind: null}, fe
		}
		return value{kind: str, str: s}, nil
	}
	if c.list.IsNull(i) {
		return value{kind: null}, nil
	}
	start, end := c.list.ValueOffsets(i)
	msgs := make([]chat.Message, 0, end-start)
	for j := start; j < end; j++ {
		path := fmt.Sprintf("%s[%d]", c.name, j-start)
		if c.msgs.IsNull(int(j)) {
			return value{}, ferr(path, ErrMissing, "message is null")
		}
		role, ok, fe := c.role.get(path+".role", int(j))
		if fe != nil {
			return value{}, fe
		}
		if !ok {
			return value{}, ferr(path+".role", ErrMissing, "is null")
		}
		if role == "" {
			return value{}, ferr(path+".role", ErrEmpty, "empty role")
		}
		content, ok, fe := c.content.get(path+".content", int(j))
		if fe != nil {
			return value{}, fe
		}
		if !ok {
			return value{}, ferr(path+".content", ErrMissing, "is null")
		}
		if fe := unsupportedToolCalls(c.toolCalls, int(j), path); fe != nil {
			return value{}, fe
		}
		msgs = append(msgs, chat.Message{Role: role, Content: content})
	}
	return value{kind: messages, msgs: msgs}, nil
}

// idCol reads the optional id column.
type idCol struct {
	arr arrow.Array
	s   *strCol
}

func (c idCol) get(i int) (string, bool, *fieldError) {
	if c.s != nil {
		return c.s.get("id", i)
	}
	if c.arr.IsNull(i) {
		return "", false, nil
	}
	switch a := c.arr.(type) {
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10), true, nil
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10), true, nil
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10), true, nil
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10), true, nil
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10), true, nil
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10), true, nil
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10), true, nil
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10), true, nil
	}
	return "", false, ferr("id", ErrType, "unsupported type %s", c.arr.DataType())
}

// batchSource yields record batches that the caller must release; io.EOF
// at the end.
type batchSource interface {
	next() (arrow.RecordBatch, error)
	close() error
}

// arrowReader turns the rows of Arrow record batches into Examples.
type arrowReader struct {
	name   string
	src    batchSource
	cols   [numCols]int
	names  columns
	system *strCol
	tools  *strCol
	closer func() error

	cur      arrow.RecordBatch
	i        int
	text     [3]*textCol
	id       *idCol
	row      int64
	err      error
	released bool
	budget   rowBudget
}

// newArrowReader reads the rows of src; maxRowBytes bounds the bytes of
// one row's strings (Options.MaxLineBytes: 0 the default, < 0 none).
func newArrowReader(name string, sc *arrow.Schema, src batchSource, closer func() error, names columns, maxRowBytes int) (*arrowReader, error) {
	cols, err := columnIndices(name, sc, names)
	if err != nil {
		return nil, err
	}
	if maxRowBytes == 0 {
		maxRowBytes = DefaultMaxLineBytes
	}
	return &arrowReader{name: name, src: src, cols: cols, closer: closer, names: names, budget: rowBudget{max: max(0, maxRowBytes)}}, nil
}

func (r *arrowReader) Next() (ex Example, err error) {
	if r.err != nil {
		return Example{}, r.err
	}
	defer func() {
		// arrow-go panics on some corrupt inputs; never let that escape.
		if p := recover(); p != nil {
			r.err = fmt.Errorf("pairs: %s: reading row %d: %v", r.name, r.row, p)
			ex, err = Example{}, r.err
		}
	}()
	for r.cur == nil || r.i >= int(r.cur.NumRows()) {
		if r.cur != nil {
			r.cur.Release()
			r.cur = nil
		}
		b, err := r.src.next()
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("pairs: %s: reading record batch after row %d: %w", r.name, r.row, err)
			}
			r.err = err
			return Example{}, err
		}
		if err := r.bind(b); err != nil {
			b.Release()
			r.err = err
			return Example{}, err
		}
		r.cur, r.i = b, 0
	}
	i := r.i
	r.i++
	row := r.row
	r.row++
	rec := &record{}
	r.budget.left = r.budget.max
	fe := r.decode(rec, i)
	if fe == nil {
		if ex, fe = build(rec, row, r.names); fe == nil {
			return ex, nil
		}
	}
	ex = Example{Row: row, ID: rec.id}
	if !rec.hasID {
		ex.ID = strconv.FormatInt(row, 10)
	}
	return ex, &RowError{File: r.name, Row: row, Field: fe.field, Err: fe.err}
}

// bind prepares the column readers for batch b.
func (r *arrowReader) bind(b arrow.RecordBatch) error {
	sc := b.Schema()
	cols, err := columnIndices(r.name, sc, r.names)
	if err != nil {
		return err
	}
	for k := range r.text {
		r.text[k] = nil
		if cols[k] >= 0 {
			r.text[k] = newTextCol(r.names[k], b.Column(cols[k]), &r.budget)
		}
	}
	r.system, r.tools = nil, nil
	if j := cols[colSystem]; j >= 0 {
		s := newStrCol(b.Column(j), &r.budget)
		r.system = &s
	}
	if j := cols[colTools]; j >= 0 {
		s := newStrCol(b.Column(j), &r.budget)
		r.tools = &s
	}
	r.id = nil
	if j := cols[colID]; j >= 0 {
		c := &idCol{arr: b.Column(j)}
		if stringType(c.arr.DataType()) {
			s := newStrCol(c.arr, &r.budget)
			c.s = &s
		}
		r.id = c
	}
	return nil
}

func (r *arrowReader) decode(rec *record, i int) *fieldError {
	// The id first, so that a rejected row is reported under its own id;
	// its error comes after the completions'.
	var idErr *fieldError
	if r.id != nil {
		rec.id, rec.hasID, idErr = r.id.get(i)
	}
	dst := [3]*value{&rec.chosen, &rec.rejected, &rec.prompt}
	for k, c := range r.text {
		if c == nil {
			continue
		}
		v, fe := c.value(i)
		if fe != nil {
			return fe
		}
		*dst[k] = v
	}
	if idErr != nil {
		return idErr
	}
	if r.system != nil {
		s, _, fe := r.system.get(r.names[colSystem], i)
		if fe != nil {
			return fe
		}
		rec.system = s
	}
	if r.tools != nil {
		s, ok, fe := r.tools.get(r.names[colTools], i)
		if fe != nil {
			return fe
		}
		if ok {
			if rec.tools, fe = decodeTools(r.names[colTools], []byte(s), true); fe != nil {
				return fe
			}
		}
	}
	return nil
}

func (r *arrowReader) Close() error {
	if r.released {
		return nil
	}
	r.released = true
	if r.err == nil {
		r.err = errClosed
	}
	return closeSource(&r.cur, r.src, r.closer)
}

// closeSource releases the batch being read (cur), closes src and then
// closer, and returns their errors joined: the end of every Arrow-backed
// reader of this package.
func closeSource(cur *arrow.RecordBatch, src batchSource, closer func() error) error {
	if *cur != nil {
		(*cur).Release()
		*cur = nil
	}
	err := src.close()
	if closer != nil {
		err = errors.Join(err, closer())
	}
	return err
}
