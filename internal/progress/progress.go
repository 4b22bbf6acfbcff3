// Package progress reports how far a long job is: rows or steps done, the
// rate, the elapsed time and the time left (ETA).
//
// On a terminal it redraws one line in place (at once, then at most every 200 ms); on
// anything else (a log file, a pipe, a batch scheduler's stderr) it writes
// a plain line at least every Interval (30 s by default) and at the end, so
// a job's log shows it is alive and how long it has left. The clock is a
// field, so tests drive it.
package progress

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// DefaultInterval is how often a plain line is logged off a terminal.
const DefaultInterval = 30 * time.Second

// redraw is the least time between two redraws on a terminal.
const redraw = 200 * time.Millisecond

// Options configure a Meter.
type Options struct {
	Unit     string           // what is counted: "pairs", "steps"
	Total    int64            // how many there are (0: unknown, no ETA)
	Start    int64            // done before this run (a resumed training): not in the rate
	Terminal bool             // redraw one line in place; else plain lines every Interval
	Interval time.Duration    // off a terminal (0: DefaultInterval)
	Now      func() time.Time // the clock (nil: time.Now)
}

// Meter reports progress on a writer. Its methods are safe for concurrent
// use.
type Meter struct {
	mu       sync.Mutex
	w        io.Writer
	o        Options
	start    time.Time
	last     time.Time // last draw or log line
	n        int64
	extra    string
	drawn    bool // a terminal line is on screen
	logged   bool // a plain line was logged
	finished bool
}

// New starts a meter writing to w (io.Discard: nothing).
func New(w io.Writer, o Options) *Meter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	m := &Meter{w: w, o: o, n: o.Start}
	m.start = o.Now()
	if !o.Terminal {
		m.last = m.start // the first plain line after Interval
	} // on a terminal the first Update draws at once
	return m
}

// SetTotal sets the total (0: unknown).
func (m *Meter) SetTotal(total int64) {
	m.mu.Lock()
	m.o.Total = total
	m.mu.Unlock()
}

// Update records that n are done; extra (e.g. "loss 0.5312") is shown
// after the counts. It draws or logs when it is time to.
func (m *Meter) Update(n int64, extra string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n, m.extra = n, extra
	now := m.o.Now()
	switch {
	case m.o.Terminal && now.Sub(m.last) >= redraw:
		m.last = now
		fmt.Fprintf(m.w, "\r%s\033[K", m.line(now))
		m.drawn = true
	case !m.o.Terminal && now.Sub(m.last) >= m.o.Interval:
		m.last, m.logged = now, true
		fmt.Fprintln(m.w, m.line(now))
	}
}

// Clear erases the terminal line, so that a log line can be written; the
// next Update draws it again.
func (m *Meter) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.drawn {
		fmt.Fprint(m.w, "\r\033[K")
		m.drawn = false
		m.last = time.Time{} // redraw at the next Update
	}
}

// Done ends the meter: off a terminal it logs the final line if it logged
// one before (a job shorter than Interval ends with the caller's summary
// alone); on one it erases the line (the caller's summary follows). Later
// calls do nothing.
func (m *Meter) Done() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished {
		return
	}
	m.finished = true
	if m.o.Terminal {
		if m.drawn {
			fmt.Fprint(m.w, "\r\033[K")
		}
		return
	}
	if m.logged {
		fmt.Fprintln(m.w, m.line(m.o.Now()))
	}
}

// Line returns the progress line now, e.g. "120/300 steps (40%), 2.10
// steps/s, elapsed 57s, ETA 1m26s, loss 0.5312".
func (m *Meter) Line() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.line(m.o.Now())
}

func (m *Meter) line(now time.Time) string {
	el := now.Sub(m.start)
	var b strings.Builder
	if m.o.Total > 0 {
		fmt.Fprintf(&b, "%d/%d %s (%.0f%%)", m.n, m.o.Total, m.o.Unit, 100*float64(m.n)/float64(m.o.Total))
	} else {
		fmt.Fprintf(&b, "%d %s", m.n, m.o.Unit)
	}
	rate := Rate(m.n-m.o.Start, el)
	fmt.Fprintf(&b, ", %s %s/s, elapsed %s", formatRate(rate), m.o.Unit, Duration(el))
	if eta, ok := ETA(m.n, m.o.Total, rate); ok {
		fmt.Fprintf(&b, ", ETA %s", Duration(eta))
	}
	if m.extra != "" {
		b.WriteString(", ")
		b.WriteString(m.extra)
	}
	return b.String()
}

// Rate is done per second over el (0 before any time has passed).
func Rate(done int64, el time.Duration) float64 {
	if el <= 0 || done <= 0 {
		return 0
	}
	return float64(done) / el.Seconds()
}

// ETA is the time left to reach total at rate; ok is false when it is
// unknown (no total, no rate yet, or done).
func ETA(n, total int64, rate float64) (time.Duration, bool) {
	if total <= 0 || rate <= 0 || n >= total {
		return 0, total > 0 && n >= total
	}
	s := float64(total-n) / rate
	if s > 1e9 {
		return 0, false
	}
	return time.Duration(math.Round(s)) * time.Second, true
}

func formatRate(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 1:
		return fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%.3g", r)
}

// Duration formats d as 45s, 1m26s, 2h03m (whole seconds).
func Duration(d time.Duration) string {
	s := int64(math.Round(d.Seconds()))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}
