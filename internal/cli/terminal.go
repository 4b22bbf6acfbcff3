package cli

import "io"

// refuseBinaryToTerminal refuses (exit 2) to write a binary Arrow stream
// to stdout when stdout is a terminal, where it would only garble the
// screen. JSONL outputs do not call it.
func refuseBinaryToTerminal(tool, path string, stdout io.Writer) error {
	if (path == "-" || path == "" || path == "/dev/stdout") && isTerminal(stdout) {
		return usagef("refusing to write a binary Arrow stream to the terminal: give -o FILE, or pipe it into the next stage or a file (%s ... > out.arrow)", tool)
	}
	return nil
}
