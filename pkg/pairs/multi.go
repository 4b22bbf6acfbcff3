package pairs

import (
	"errors"
	"io"
)

// OpenAll opens several datasets that the Reader reads one after the other,
// in the given order, as one (as datasets concatenates data_files): rows are
// numbered over all inputs, so a row's default ID is unique; errors name the
// current file. Each file is opened when the previous one ends, with the
// same options (its format detected on its own with "auto"). No paths means
// stdin; "-" may only be the only input. A directory that Hugging Face
// datasets' save_to_disk wrote stands for its data files (DatasetDirFiles,
// opts.Split).
func OpenAll(paths []string, stdin io.Reader, opts Options) (Reader, error) {
	if len(paths) == 0 {
		paths = []string{"-"}
	}
	paths, err := ExpandDatasetDirs(paths, opts.Split)
	if err != nil {
		return nil, err
	}
	if len(paths) == 1 {
		return Open(paths[0], stdin, opts)
	}
	for _, p := range paths {
		if p == "-" {
			return nil, errors.New("pairs: stdin (-) can only be the only input")
		}
	}
	cur, err := Open(paths[0], stdin, opts)
	if err != nil {
		return nil, err
	}
	return &chainReader{cur: cur, pending: paths[1:], opts: opts}, nil
}

// chainReader reads several Readers in order.
type chainReader struct {
	cur     Reader
	pending []string
	opts    Options
	rows    int64      // rows of the finished inputs
	seen    int64      // rows returned by cur
	rated   RatedStats // of the finished inputs
	err     error
}

// ratedCounter is implemented by readers of rated completions.
type ratedCounter interface {
	RatedStats() RatedStats
	rowsRead() int64
}

// RatedStats sums the rated-completions counts of the inputs read so far.
func (c *chainReader) RatedStats() RatedStats {
	s := c.rated
	if rc, ok := c.cur.(ratedCounter); ok {
		t := rc.RatedStats()
		s.Prompts, s.Completions, s.Pairs = s.Prompts+t.Prompts, s.Completions+t.Completions, s.Pairs+t.Pairs
	}
	return s
}

// ReadRatedStats returns the rated-completions counts of r (zero when r
// reads no rated completions).
func ReadRatedStats(r Reader) RatedStats {
	if rc, ok := r.(interface{ RatedStats() RatedStats }); ok {
		return rc.RatedStats()
	}
	return RatedStats{}
}

// firstRow is implemented by the readers that number rows.
type firstRow interface{ setFirstRow(int64) }

func (r *jsonlReader) setFirstRow(n int64)     { r.row = n }
func (r *jsonArrayReader) setFirstRow(n int64) { r.row = n }
func (r *arrowReader) setFirstRow(n int64)     { r.row = n }

func (c *chainReader) Next() (Example, error) {
	for {
		if c.err != nil {
			return Example{}, c.err
		}
		ex, err := c.cur.Next()
		if err != io.EOF {
			var rowErr *RowError
			if err == nil || errors.As(err, &rowErr) {
				c.seen++
			}
			return ex, err
		}
		if len(c.pending) == 0 {
			c.err = io.EOF
			return Example{}, io.EOF
		}
		if rc, ok := c.cur.(ratedCounter); ok {
			c.rated = c.RatedStats()
			c.seen = rc.rowsRead()
		}
		c.rows += c.seen
		c.seen = 0
		if err := c.cur.Close(); err != nil {
			c.err = err
			return Example{}, err
		}
		next, err := Open(c.pending[0], nil, c.opts)
		c.pending = c.pending[1:]
		if err != nil {
			c.cur, c.err = eofReader{}, err
			return Example{}, err
		}
		if fr, ok := next.(firstRow); ok {
			fr.setFirstRow(c.rows)
		}
		c.cur = next
	}
}

func (c *chainReader) Close() error {
	if c.err == nil {
		c.err = errClosed
	}
	return c.cur.Close()
}
