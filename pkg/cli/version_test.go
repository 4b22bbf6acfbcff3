package cli

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

// TestBuildVersion: the version comes from the module version, else the
// VCS revision; "dev" never appears when the build recorded either.
func TestBuildVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tt := range []struct {
		bi          *debug.BuildInfo
		ok          bool
		version, ln string
	}{
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.1"}}, true, "v0.3.1", "dpo-x v0.3.1 (go1.26.8)"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.1"}, Settings: vcs(rev, "false")}, true,
			"v0.3.1", "dpo-x v0.3.1 (go1.26.8, rev 0123456789ab)"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261129185520-0123456789ab+dirty"}, Settings: vcs(rev, "true")}, true,
			"v0.0.0-20261129185520-0123456789ab+dirty", "dpo-x v0.0.0-20261129185520-0123456789ab+dirty (go1.26.8)"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, true,
			"rev-0123456789ab-modified", "dpo-x rev-0123456789ab-modified (go1.26.8)"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true, "(devel)", "dpo-x (devel) (go1.26.8)"},
		{nil, false, "(devel)", ""},
	} {
		v := buildVersion(tt.bi, tt.ok)
		if v != tt.version || strings.Contains(v, "dev") && tt.bi != nil && (tt.bi.Main.Version != "(devel)" || len(tt.bi.Settings) > 0) {
			t.Errorf("buildVersion(%+v) = %q, want %q", tt.bi, v, tt.version)
		}
		if tt.ln != "" {
			if ln := formatVersion("dpo-x", v, tt.bi, tt.ok); ln != tt.ln {
				t.Errorf("formatVersion = %q, want %q", ln, tt.ln)
			}
		}
	}
}

// TestVersionAndHelp: --version and -h print to stdout and exit 0; an
// unknown flag prints one line (not the usage) to stderr and exits 2,
// stdout untouched.
func TestVersionAndHelp(t *testing.T) {
	for name, run := range map[string]RunFunc{"dpo-tokenize": Tokenize, "dpo-reflogp": Reflogp, "dpo-train": Train, "dpo-score": Score} {
		for _, tt := range []struct {
			args       []string
			code       int
			out, inErr string
		}{
			{[]string{"--version"}, 0, name + " " + Version + " (", ""},
			{[]string{"-h"}, 0, "Usage: " + name, ""},
			{[]string{"--help"}, 0, "Exit status", ""},
			{[]string{"--no-such-flag"}, 2, "", "unknown flag --no-such-flag (" + name + " -h lists all flags)"},
		} {
			var stdout, stderr bytes.Buffer
			code := runMain(t.Context(), run, tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.out) || tt.out == "" && stdout.Len() > 0 ||
				!strings.Contains(stderr.String(), tt.inErr) || tt.inErr == "" && stderr.Len() > 0 {
				t.Errorf("%s %v: exit %d\nstdout: %s\nstderr: %s", name, tt.args, code, stdout.String(), stderr.String())
			}
			if tt.code == 2 && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("%s %v: want one line on stderr", name, tt.args)
			}
		}
	}
}
