package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time                            { return c.t }
func (c *fakeClock) add(d time.Duration)                       { c.t = c.t.Add(d) }
func newClock() *fakeClock                                     { return &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }
func lines(s string) []string                                  { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
func newMeter(w *bytes.Buffer, c *fakeClock, o Options) *Meter { o.Now = c.now; return New(w, o) }

// TestPlainLinesEvery30s: off a terminal, one line per 30 s of updates
// (not per update), and one at the end, with rate, elapsed and ETA.
func TestPlainLinesEvery30s(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	m := newMeter(&buf, c, Options{Unit: "pairs", Total: 1000})
	for i := 1; i <= 100; i++ { // one update per second, 10 pairs each
		c.add(time.Second)
		m.Update(int64(10*i), "")
	}
	m.Done()
	got := lines(buf.String())
	want := []string{
		"300/1000 pairs (30%), 10.00 pairs/s, elapsed 30s, ETA 1m10s",
		"600/1000 pairs (60%), 10.00 pairs/s, elapsed 1m00s, ETA 40s",
		"900/1000 pairs (90%), 10.00 pairs/s, elapsed 1m30s, ETA 10s",
		"1000/1000 pairs (100%), 10.00 pairs/s, elapsed 1m40s, ETA 0s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(buf.String(), "\r") || strings.Contains(buf.String(), "\033") {
		t.Errorf("control characters off a terminal: %q", buf.String())
	}
	m.Done()
	if n := len(lines(buf.String())); n != 4 {
		t.Errorf("second Done wrote: %d lines", n)
	}
	// A job shorter than the interval logs nothing; the caller's summary
	// ends it.
	buf.Reset()
	m = newMeter(&buf, c, Options{Unit: "pairs"})
	c.add(29 * time.Second)
	m.Update(5, "")
	m.Done()
	if buf.Len() != 0 {
		t.Errorf("short job logged %q", buf.String())
	}
}

// TestTerminalRedraw: on a terminal one line is redrawn in place (\r and
// erase), at most every 200 ms, with no newline; Clear erases it; Done
// leaves nothing.
func TestTerminalRedraw(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	m := newMeter(&buf, c, Options{Unit: "steps", Total: 50, Start: 10, Terminal: true})
	for i := 11; i <= 20; i++ {
		c.add(100 * time.Millisecond)
		m.Update(int64(i), "loss 0.5000")
	}
	out := buf.String()
	if strings.Contains(out, "\n") || strings.Count(out, "\r") != 5 {
		t.Errorf("want 5 redraws (100, 300, ..., 900 ms) without newline: %q", out)
	}
	// 9 steps in 0.9 s since the resumed step 10: 10 steps/s; 31 left: 3 s.
	if want := "\r19/50 steps (38%), 10.00 steps/s, elapsed 1s, ETA 3s, loss 0.5000\033[K"; !strings.HasSuffix(out, want) {
		t.Errorf("last draw %q, want suffix %q", out, want)
	}
	buf.Reset()
	m.Clear()
	if buf.String() != "\r\033[K" {
		t.Errorf("Clear wrote %q", buf.String())
	}
	buf.Reset()
	m.Update(21, "")
	if !strings.HasPrefix(buf.String(), "\r21/50") {
		t.Errorf("no redraw after Clear: %q", buf.String())
	}
	buf.Reset()
	m.Done()
	if buf.String() != "\r\033[K" {
		t.Errorf("Done on a terminal wrote %q", buf.String())
	}
}

func TestETAAndFormat(t *testing.T) {
	for _, tt := range []struct {
		n, total int64
		rate     float64
		want     string
		ok       bool
	}{
		{0, 100, 0, "0s", false},
		{10, 0, 5, "0s", false},
		{10, 100, 2, "45s", true},
		{1, 7201, 1, "2h00m", true},
		{100, 100, 3, "0s", true},
	} {
		eta, ok := ETA(tt.n, tt.total, tt.rate)
		if ok != tt.ok || Duration(eta) != tt.want {
			t.Errorf("ETA(%d, %d, %v) = %v %v, want %s %v", tt.n, tt.total, tt.rate, Duration(eta), ok, tt.want, tt.ok)
		}
	}
	var buf bytes.Buffer
	c := newClock()
	m := newMeter(&buf, c, Options{Unit: "pairs"})
	c.add(4 * time.Second)
	m.Update(2, "")
	if got := m.Line(); got != "2 pairs, 0.5 pairs/s, elapsed 4s" {
		t.Errorf("unknown total: %q", got)
	}
	if Duration(3725*time.Second) != "1h02m" || Duration(61*time.Second) != "1m01s" {
		t.Errorf("Duration: %s %s", Duration(3725*time.Second), Duration(61*time.Second))
	}
}
