package engine

import (
	"fmt"
	"github.com/gomlx/compute"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// AutoBackend is the default backend configuration: the CUDA plugin when an
// NVIDIA GPU and JAX's CUDA plugin are present, else OpenXLA's CPU plugin
// when it is installed, else the pure-Go backend. XLA backends count only
// in binaries built with -tags xla. The choice and its reason are in
// [Engine.BackendNote].
const AutoBackend = "auto"

// XLACPUBackend is the backend configuration that means "find OpenXLA's
// CPU PJRT plugin from PyPI (pip install xla-cpu-pjrt) and run on it"
// ("xla:cpu,opt=value,..." passes options to the XLA backend). It needs a
// binary built with -tags xla and never downloads anything.
const XLACPUBackend = "xla:cpu"

// XLACPUPluginEnv names the environment variable that points the
// xla:cpu backend at the plugin file itself (xla_cpu_pjrt.so). When it is
// set no directory is searched.
const XLACPUPluginEnv = "DPO_XLA_CPU_PLUGIN"

// xlaCPUPluginRel is where the xla-cpu-pjrt wheel puts its plugin, relative
// to a site-packages directory.
const xlaCPUPluginRel = "xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so"

// xlaCPUInstallHint says how to get the plugin.
const xlaCPUInstallHint = "install it with pip install xla-cpu-pjrt (into the active virtual environment, or with --user), or set $" + XLACPUPluginEnv + " to the path of xla_cpu_pjrt.so"

// findXLACPU returns the absolute path of the CPU plugin: $DPO_XLA_CPU_PLUGIN
// when set (it must exist), else the first site-packages directory (see
// pythonSitePackages) holding xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so.
// searched lists the directories looked in.
func findXLACPU(getenv func(string) string, home, root string) (plugin string, searched []string, err error) {
	if p := getenv(XLACPUPluginEnv); p != "" {
		fi, err := os.Stat(p)
		if err != nil {
			return "", nil, fmt.Errorf("engine: xla:cpu: $%s=%s: %w", XLACPUPluginEnv, p, err)
		}
		if !fi.Mode().IsRegular() {
			return "", nil, fmt.Errorf("engine: xla:cpu: $%s=%s is not a regular file", XLACPUPluginEnv, p)
		}
		abs, err := filepath.Abs(p)
		return abs, nil, err
	}
	for _, sp := range pythonSitePackages(getenv, home, root) {
		searched = append(searched, sp)
		p := filepath.Join(sp, xlaCPUPluginRel)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			abs, err := filepath.Abs(p)
			return abs, searched, err
		}
	}
	where := "none of the usual Python site-packages directories exist"
	if len(searched) > 0 {
		where = "searched " + strings.Join(searched, ", ")
	}
	return "", searched, fmt.Errorf("engine: xla:cpu: OpenXLA's CPU PJRT plugin (%s) was not found (%s); %s", xlaCPUPluginRel, where, xlaCPUInstallHint)
}

// pythonSitePackages lists the Python site-packages directories searched for
// PJRT plugins, in order (see sitePackagesCandidates, without the JAX
// override).
func pythonSitePackages(getenv func(string) string, home, root string) []string {
	noJAX := func(k string) string {
		if k == JAXSitePackagesEnv {
			return ""
		}
		return getenv(k)
	}
	return sitePackagesCandidates(noJAX, home, root)
}

// hasNVIDIAGPU reports whether the NVIDIA kernel driver is loaded (root
// prefixes the paths in tests).
func hasNVIDIAGPU(root string) bool {
	for _, p := range []string{"/proc/driver/nvidia/version", "/dev/nvidiactl"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			return true
		}
	}
	return false
}

// backendChoice is a backend configuration resolved to one GoMLX can open.
type backendChoice struct {
	config string // for compute.NewWithConfig
	kind   string // "go", "xla:cpu", "xla:cuda" or "xla" (a plugin by path or name)
	note   string // why this backend, for the log ("" when asked for by name)
	hint   string // context for a failure to open it
}

// chooseBackend resolves "auto", "xla:cpu" and "cuda" (with options after a
// comma); other configurations pass through.
func chooseBackend(config string, getenv func(string) string, home, root string) (backendChoice, error) {
	name, opts, _ := strings.Cut(config, ",")
	withOpts := func(c string) string {
		if opts != "" {
			return c + "," + opts
		}
		return c
	}
	switch name {
	case AutoBackend:
		return chooseAuto(opts, getenv, home, root)
	case XLACPUBackend:
		if !backendRegistered("xla") {
			return backendChoice{}, fmt.Errorf("engine: backend %q needs the XLA backend, but this binary was built without -tags xla (rebuild with CGO_ENABLED=1 go build -tags xla ./cmd/..., or make with a C compiler present)", XLACPUBackend)
		}
		plugin, _, err := findXLACPU(getenv, home, root)
		if err != nil {
			return backendChoice{}, err
		}
		return backendChoice{config: xlaCPUConfig(plugin, opts), kind: XLACPUBackend,
			hint: fmt.Sprintf(" (plugin %s; if it is broken or of a PJRT API version this build cannot use, reinstall it: pip install --force-reinstall xla-cpu-pjrt)", plugin)}, nil
	case "go":
		// GoMLX's plain "go" runs ops in parallel on a worker pool that
		// stalls (seen on 2 cores: a Qwen2.5-0.5B-shaped training step
		// waited in workerspool.WaitToStart for minutes at 1% CPU); "go"
		// here means the pure-Go backend as auto picks it.
		return backendChoice{config: withOpts(DefaultGoBackend), kind: "go"}, nil
	case CUDABackend:
		resolved, hint, err := resolveBackendIn(config, getenv, home, root)
		return backendChoice{config: resolved, kind: "xla:cuda", hint: hint}, err
	}
	kind, plugin, _ := strings.Cut(name, ":")
	if kind == "xla" {
		switch base := filepath.Base(plugin); {
		case base == filepath.Base(xlaCPUPluginRel):
			return backendChoice{config: xlaCPUConfig(plugin, opts), kind: XLACPUBackend}, nil
		case strings.Contains(base, "cuda"):
			kind = "xla:cuda"
		}
	}
	return backendChoice{config: withOpts(name), kind: kind}, nil
}

// xlaCPUConfig is the XLA backend configuration for the CPU plugin file:
// host and device memory are the same, so buffers are shared rather than
// copied (go-xla does this by itself only for a plugin named "cpu").
func xlaCPUConfig(plugin, opts string) string {
	c := "xla:" + plugin
	if !strings.Contains(opts, "shared_buffers") {
		c += ",shared_buffers"
	}
	if opts != "" {
		c += "," + opts
	}
	return c
}

// chooseAuto picks CUDA, then the XLA CPU plugin, then pure Go, saying why.
func chooseAuto(opts string, getenv func(string) string, home, root string) (backendChoice, error) {
	var why []string
	if !backendRegistered("xla") {
		why = append(why, "this binary was built without -tags xla")
	} else {
		if hasNVIDIAGPU(root) {
			if inst, err := findCUDA(getenv, home, root); err == nil && inst != nil {
				c, err := chooseBackend(joinOpts(CUDABackend, opts), getenv, home, root)
				c.note = fmt.Sprintf("auto: an NVIDIA GPU and JAX's CUDA plugin %s", inst.plugin)
				return c, err
			}
			why = append(why, "an NVIDIA GPU but no JAX CUDA plugin (pip install \"jax[cuda13]\")")
		} else {
			why = append(why, "no NVIDIA GPU")
		}
		if plugin, _, err := findXLACPU(getenv, home, root); err == nil {
			return backendChoice{config: xlaCPUConfig(plugin, opts), kind: XLACPUBackend,
				note: fmt.Sprintf("auto: %s; OpenXLA's CPU plugin %s", strings.Join(why, ", "), plugin)}, nil
		}
		why = append(why, "no XLA CPU plugin (pip install xla-cpu-pjrt)")
	}
	return backendChoice{config: DefaultGoBackend, kind: "go",
		note: "auto: " + strings.Join(why, ", ") + "; the pure-Go backend"}, nil
}

func joinOpts(name, opts string) string {
	if opts == "" {
		return name
	}
	return name + "," + opts
}

// pjrtAPIMajor and pjrtAPIMinor are the PJRT C API version go-xla v0.4.1 is
// built against (its pjrt_c_api.h). A plugin of another major version
// cannot be used; a newer minor version can.
const pjrtAPIMajor, pjrtAPIMinor = 0, 104

var pjrtVersionRE = regexp.MustCompile(`PJRT (?:"[^"]*" )?plugin \([^)]*\) v(\d+)\.(\d+)`)

// checkPJRTVersion reads the plugin's PJRT C API version from the XLA
// backend's description and refuses a major version go-xla cannot speak,
// naming both.
func checkPJRTVersion(config, description string) error {
	m := pjrtVersionRE.FindStringSubmatch(description)
	if m == nil {
		return nil
	}
	major, _ := strconv.Atoi(m[1])
	if major != pjrtAPIMajor {
		return fmt.Errorf("engine: backend %q: the plugin speaks PJRT C API v%s.%s, this build (go-xla v0.4.1) speaks v%d.%d: install a plugin of API major version %d (pip install xla-cpu-pjrt==0.0.1 for the CPU plugin)",
			config, m[1], m[2], pjrtAPIMajor, pjrtAPIMinor, pjrtAPIMajor)
	}
	return nil
}

// ResolveBackendKind returns the kind of backend ("go", "xla:cpu",
// "xla:cuda", "xla") that New would open for config ("" means
// $GOMLX_BACKEND, else DefaultBackend), without opening it.
func ResolveBackendKind(config string) (string, error) {
	c, err := resolveChoice(config)
	return c.kind, err
}

// resolveChoice resolves config as New does: "" means $GOMLX_BACKEND, else
// DefaultBackend.
func resolveChoice(config string) (backendChoice, error) {
	if config == "" {
		config = os.Getenv(compute.ConfigEnvVar)
	}
	if config == "" {
		config = DefaultBackend
	}
	home, _ := os.UserHomeDir()
	return chooseBackend(config, os.Getenv, home, "")
}
