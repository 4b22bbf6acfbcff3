// Package cli holds the command-line front ends of the dpo tools: flag
// parsing, wiring of the pkg/ building blocks, logging and exit codes. Each
// cmd/dpo-*/main.go only calls Main with one of the Run functions here, so the
// commands are tested in-process with buffers.
//
// Exit codes: 0 success, 1 runtime failure, 2 usage error.
package cli
