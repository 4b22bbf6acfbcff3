// Package e2e holds the end-to-end test of the four tools: it builds the
// binaries and chains them through real pipes, as a user would.
package e2e
