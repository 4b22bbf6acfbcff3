package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/train"
	"io"
	"log"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"
)

// Version is set at build time with -ldflags "-X github.com/dpo-go/dpo/internal/cli.Version=v1.2.3";
// otherwise it comes from the build information (version.go).
var Version = "dev"

// RunFunc is the signature of every command.
type RunFunc func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

// UsageError is a command-line mistake: exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by a RunFunc to the process exit code.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	default:
		return 1
	}
}

// Main runs a command with the process's arguments and streams, cancels it on
// SIGINT/SIGTERM, prints the error, and returns the exit code. main() calls
// os.Exit with it, after run's deferred cleanup has happened.
func Main(name string, run RunFunc) int {
	log.SetPrefix(name + ": ")
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	grace, msg := interruptGrace, "interrupted: stopped without waiting for the current batch; no output file written"
	if name == "dpo-train" {
		// An interrupted run saves a checkpoint (atomically) between
		// micro-batches and returns. A micro-batch of a real model can run
		// for a minute: after trainInterruptGrace the run is left without
		// it, as a SIGKILL would, but never while a checkpoint is being
		// written (trainSaving).
		grace, msg = trainInterruptGrace, "interrupted: the step in progress did not end within "+trainInterruptGrace.String()+" and was dropped; --out keeps the checkpoints saved before it (resume with --resume)"
	}
	return runInterruptible(ctx, grace, func() int {
		return runMain(ctx, run, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	}, os.Stderr, msg)
}

// trainInterruptGrace is how long dpo-train may take, after SIGINT or
// SIGTERM, to end its micro-batch and save a checkpoint.
const trainInterruptGrace = 5 * time.Second

// trainSaving is true while dpo-train writes a checkpoint (train.Config.Saving):
// an interruption waits for it, so no partial checkpoint is left.
var trainSaving atomic.Bool

// interruptGrace is how long Main waits, after SIGINT or SIGTERM, for the
// run to notice the cancelled context and return (it checks between
// batches; one compiled graph over a batch of a real model can run for
// minutes and cannot be interrupted).
const interruptGrace = 2 * time.Second

// runInterruptible runs main in a goroutine and returns its exit code, or,
// once ctx is cancelled and main has not returned within grace (nor while
// trainSaving holds), discards every uncommitted output (abortLive: no
// partial file is left), logs msg and returns 1 without waiting; the
// caller exits, ending main's goroutine.
func runInterruptible(ctx context.Context, grace time.Duration, main func() int, stderr io.Writer, msg string) int {
	done := make(chan int, 1)
	go func() { done <- main() }()
	select {
	case code := <-done:
		return code
	case <-ctx.Done():
	}
	select {
	case code := <-done:
		return code
	case <-time.After(grace):
	}
	waited := false
	for trainSaving.Load() {
		waited = true
		select {
		case code := <-done:
			return code
		case <-time.After(50 * time.Millisecond):
		}
	}
	if waited { // the save is done: the run returns next
		grace = 2 * time.Second
	} else {
		grace = 0
	}
	select {
	case code := <-done:
		return code
	case <-time.After(grace):
	}
	abortLive()
	train.Abandon() // no empty --out left behind by a run that is dropped
	log.New(stderr, log.Prefix(), 0).Print(msg)
	return 1
}

// runMain runs a command and returns its exit code: -h's text goes to
// stdout (exit 0), an error to stderr through the log package.
func runMain(ctx context.Context, run RunFunc, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdin, stdout, stderr)
	var help *helpError
	if errors.As(err, &help) {
		fmt.Fprint(stdout, help.text)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		log.New(stderr, log.Prefix(), 0).Print(err)
	}
	return ExitCode(err)
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { // to stderr after a usage error; -h's goes to stdout (parse)
		fmt.Fprint(fs.Output(), usage)
		fmt.Fprintln(fs.Output(), "\nFlags (TRL's names, with _ or -, set the same flags):")
		printFlags(fs.Output(), fs)
	}
	return fs
}

// parse parses flags, mapping errors to UsageError. Flags may follow the
// positional arguments (dpo-score in.arrow -o out.arrow), as in GNU tools;
// "--" ends the flags. The positional arguments are left in fs.Args().
// Every flag set gets --config FILE (config.go): flags from a YAML or JSON
// file, under those of the command line; and TRL's names of its flags as
// aliases (flagset.go). -h returns a *helpError, which Main prints to
// stdout, and so does `completion SHELL` with the shell's completion
// script. A mistake is one line naming the nearest flag. Notes about TRL
// keys that have no effect here go to stderr, unless -q.
func parse(fs *flag.FlagSet, args []string) error {
	addConfigFlag(fs)
	var notes []string
	addAliases(fs, &notes)
	if isCompletion(args) {
		script, err := completion(fs, args[1])
		if err != nil {
			return err
		}
		return &helpError{text: script}
	}
	out := fs.Output()
	var msg bytes.Buffer
	fs.SetOutput(&msg)
	err := parseArgs(fs, args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		return &helpError{text: msg.String()}
	}
	if err != nil {
		return err
	}
	if path := fs.Lookup("config").Value.String(); path != "" {
		if err := applyConfig(fs, path, &notes); err != nil {
			return err
		}
	}
	if q := fs.Lookup("q"); q == nil || q.Value.String() != "true" {
		for _, n := range notes {
			fmt.Fprintf(out, "%s: note: %s\n", fs.Name(), n)
		}
	}
	return nil
}

func parseArgs(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return flagError(fs, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is positional
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	// Re-parse the positional arguments alone so fs.Args() returns them.
	return fs.Parse(append([]string{"--"}, pos...))
}

// isTerminal reports whether w is a terminal (golang.org/x/term: a tty,
// not merely a character device, so that > /dev/null is no terminal).
// Tests replace it.
var isTerminal = func(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// stdFlags are the flags every tool has, and its single optional input.
type stdFlags struct {
	quiet, version bool
}

// addStdFlags registers -q and -version on fs.
func addStdFlags(fs *flag.FlagSet) *stdFlags {
	s := &stdFlags{}
	fs.BoolVar(&s.quiet, "q", false, "no summary or progress on stderr")
	fs.BoolVar(&s.version, "version", false, "print the version and exit")
	return s
}

// parseInput parses args and returns the one input (default "-"). done is
// true after -version has been answered.
func (s *stdFlags) parseInput(fs *flag.FlagSet, args []string, stdout io.Writer) (input string, done bool, err error) {
	if err := parse(fs, args); err != nil {
		return "", false, err
	}
	if s.version {
		fmt.Fprintln(stdout, versionLine(fs.Name()))
		return "", true, nil
	}
	switch fs.NArg() {
	case 0:
		return "-", false, nil
	case 1:
		return fs.Arg(0), false, nil
	}
	return "", false, usagef("at most one input, got %d", fs.NArg())
}

// log returns where logs go: stderr, or nowhere with -q.
func (s *stdFlags) log(stderr io.Writer) io.Writer {
	if s.quiet {
		return io.Discard
	}
	return stderr
}

// codecUsage is --codec's help.
const codecUsage = "stream buffer compression: zstd, lz4, none"

// codecFlagVar registers --codec on fs, bound to p and checked when
// parsed (a bad name is a usage error before any work).
func codecFlagVar(fs *flag.FlagSet, p *string) {
	*p = arrowio.CodecZstd
	fs.Func("codec", codecUsage+" (default \"zstd\")", func(v string) error {
		if err := arrowio.CheckCodec(v); err != nil {
			return fmt.Errorf("want %s, %s or %s", arrowio.CodecZstd, arrowio.CodecLZ4, arrowio.CodecNone)
		}
		*p = v
		return nil
	})
}

// codecFlag is codecFlagVar into a new string.
func codecFlag(fs *flag.FlagSet) *string {
	p := new(string)
	codecFlagVar(fs, p)
	return p
}
