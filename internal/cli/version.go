package cli

import (
	"runtime"
	"runtime/debug"
	"strings"
)

func init() {
	if Version == "dev" { // not set with -ldflags -X
		Version = buildVersion(debug.ReadBuildInfo())
	}
}

// buildVersion returns the version recorded by the Go toolchain: the main
// module's version (a tag, or since Go 1.24 a pseudo-version with +dirty
// for a build from a VCS checkout), else the VCS revision ("rev-<12 hex>",
// "-modified" when the tree had changes), else "(devel)" (a build with
// -buildvcs=false and no -ldflags -X).
func buildVersion(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "(devel)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, modified := vcsInfo(bi)
	if rev == "" {
		return "(devel)"
	}
	v := "rev-" + rev
	if modified {
		v += "-modified"
	}
	return v
}

// vcsInfo returns the build's VCS revision (12 characters) and whether the
// tree had uncommitted changes.
func vcsInfo(bi *debug.BuildInfo) (rev string, modified bool) {
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return rev, modified
}

// versionLine is what --version prints: "dpo-train v0.3.1 (go1.26.8, rev
// 0123456789ab)".
func versionLine(name string) string {
	bi, ok := debug.ReadBuildInfo()
	return formatVersion(name, Version, bi, ok)
}

func formatVersion(name, version string, bi *debug.BuildInfo, ok bool) string {
	goVersion := runtime.Version()
	var extra []string
	if ok && bi != nil {
		goVersion = bi.GoVersion
		if rev, modified := vcsInfo(bi); rev != "" && !strings.Contains(version, rev) {
			if modified {
				rev += ", modified"
			}
			extra = append(extra, "rev "+rev)
		}
	}
	return name + " " + version + " (" + strings.Join(append([]string{goVersion}, extra...), ", ") + ")"
}
