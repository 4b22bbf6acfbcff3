package engine

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// CUDABackend is the backend name that means "find the CUDA PJRT plugin of
// an installed JAX wheel and run on it": [Options.Backend] "cuda" (or
// "cuda,opt=value,...", the options of the XLA backend such as
// preallocate=true) and $GOMLX_BACKEND=cuda. It needs a binary built with
// -tags xla.
const CUDABackend = "cuda"

// JAXSitePackagesEnv names the environment variable that points
// [DetectCUDA] at one Python site-packages directory holding
// jax_plugins/xla_cuda*/xla_cuda_plugin.so and nvidia/. When it is set no
// other directory is searched.
const JAXSitePackagesEnv = "DPO_JAX_SITE_PACKAGES"

// cudaInstall is a CUDA PJRT plugin found in a JAX installation.
type cudaInstall struct {
	sitePackages string   // the site-packages (or dist-packages) directory
	plugin       string   // absolute path of xla_cuda_plugin.so
	major        int      // CUDA major version of the plugin (12, 13)
	dataDir      string   // --xla_gpu_cuda_data_dir: holds bin/ptxas and nvvm/libdevice
	libDirs      []string // directories of the NVIDIA shared libraries
}

// sitePackagesCandidates returns the directories searched for a JAX
// installation, in order: $DPO_JAX_SITE_PACKAGES alone when set; else the
// active virtual environment ($VIRTUAL_ENV), conda ($CONDA_PREFIX), the
// user's ~/.local, /usr/local, Debian's /usr/lib/python3/dist-packages and
// /opt/conda. Globs over python3.* list newer Python versions first. root
// prefixes the system paths (tests); it is "" in production.
func sitePackagesCandidates(getenv func(string) string, home, root string) []string {
	if d := getenv(JAXSitePackagesEnv); d != "" {
		return []string{d}
	}
	var out []string
	add := func(pattern string) {
		matches, _ := filepath.Glob(pattern)
		slices.SortStableFunc(matches, comparePythonDirs)
		for _, m := range matches {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := getenv(env); p != "" && filepath.IsAbs(p) {
			add(filepath.Join(p, "lib", "python3*", "site-packages"))
		}
	}
	if home != "" {
		add(filepath.Join(home, ".local", "lib", "python3*", "site-packages"))
	}
	for _, p := range []string{
		"/usr/local/lib/python3*/dist-packages",
		"/usr/local/lib/python3*/site-packages",
		"/usr/lib/python3/dist-packages",
		"/usr/lib/python3*/site-packages",
		"/opt/conda/lib/python3*/site-packages",
	} {
		add(filepath.Join(root, p))
	}
	return out
}

// comparePythonDirs orders .../python3.12/... before .../python3.9/...
// (newest first); paths without a version keep their order.
func comparePythonDirs(a, b string) int {
	return pythonMinor(b) - pythonMinor(a)
}

func pythonMinor(p string) int {
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if v, ok := strings.CutPrefix(part, "python3."); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return -1
}

// findCUDAIn looks for jax_plugins/xla_cuda<N>/xla_cuda_plugin.so in one
// site-packages directory, preferring the highest N. It returns nil and no
// error when there is none.
func findCUDAIn(sp string) (*cudaInstall, error) {
	plugins, _ := filepath.Glob(filepath.Join(sp, "jax_plugins", "xla_cuda*", "xla_cuda_plugin.so"))
	best, bestMajor := "", -1
	for _, p := range plugins {
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "xla_cuda"))
		if err != nil {
			continue
		}
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if n > bestMajor {
			best, bestMajor = p, n
		}
	}
	if best == "" {
		return nil, nil
	}
	abs, err := filepath.Abs(best)
	if err != nil {
		return nil, err
	}
	inst := &cudaInstall{sitePackages: filepath.Dir(filepath.Dir(filepath.Dir(abs))), plugin: abs, major: bestMajor}
	nv := filepath.Join(inst.sitePackages, "nvidia")
	isDir := func(p string) bool { fi, err := os.Stat(p); return err == nil && fi.IsDir() }
	if bestMajor >= 13 {
		// CUDA 13 wheels (nvidia-*-cu13) share one tree: nvidia/cu13/{bin,lib,nvvm}.
		inst.dataDir = filepath.Join(nv, fmt.Sprintf("cu%d", bestMajor))
		if !isDir(inst.dataDir) {
			return nil, fmt.Errorf("found the CUDA %d PJRT plugin %s but not the NVIDIA libraries it needs in %s (install them with pip install \"jax[cuda%d]\")", bestMajor, abs, inst.dataDir, bestMajor)
		}
		inst.libDirs = append(inst.libDirs, filepath.Join(inst.dataDir, "lib"))
	} else {
		// CUDA 12 wheels: one directory per library, ptxas in cuda_nvcc.
		inst.dataDir = filepath.Join(nv, "cuda_nvcc")
		if !isDir(inst.dataDir) {
			return nil, fmt.Errorf("found the CUDA %d PJRT plugin %s but not the NVIDIA libraries it needs in %s (install them with pip install \"jax[cuda%d]\")", bestMajor, abs, inst.dataDir, bestMajor)
		}
	}
	// Libraries shipped outside the cu13 tree (cuDNN, NCCL, NVSHMEM), and
	// every per-library directory of the CUDA 12 layout.
	subs, _ := filepath.Glob(filepath.Join(nv, "*", "lib"))
	slices.Sort(subs)
	for _, d := range subs {
		if isDir(d) && !slices.Contains(inst.libDirs, d) {
			inst.libDirs = append(inst.libDirs, d)
		}
	}
	return inst, nil
}

// findCUDA searches the candidate site-packages directories in order and
// returns the first CUDA plugin installation found.
func findCUDA(getenv func(string) string, home, root string) (*cudaInstall, error) {
	cands := sitePackagesCandidates(getenv, home, root)
	for _, sp := range cands {
		inst, err := findCUDAIn(sp)
		if err != nil {
			return nil, fmt.Errorf("engine: cuda: %w", err)
		}
		if inst != nil {
			return inst, nil
		}
	}
	if d := getenv(JAXSitePackagesEnv); d != "" {
		return nil, fmt.Errorf("engine: cuda: $%s=%s holds no jax_plugins/xla_cuda*/xla_cuda_plugin.so", JAXSitePackagesEnv, d)
	}
	searched := "none of the usual Python site-packages directories exist"
	if len(cands) > 0 {
		searched = "searched " + strings.Join(cands, ", ")
	}
	return nil, fmt.Errorf("engine: cuda: no JAX CUDA PJRT plugin (jax_plugins/xla_cuda*/xla_cuda_plugin.so) found (%s); install it with pip install \"jax[cuda13]\", or set $%s to the site-packages directory that holds it, or pass --backend xla:/abs/path/to/plugin.so", searched, JAXSitePackagesEnv)
}

// env returns the environment the plugin needs, given the current values
// (getenv): GOMLX_NO_AUTO_INSTALL=1, XLA_FLAGS with
// --xla_gpu_cuda_data_dir (an existing one is kept), the library
// directories prepended to LD_LIBRARY_PATH and the data directory's bin/
// (ptxas) prepended to PATH.
func (c *cudaInstall) env(getenv func(string) string) map[string]string {
	env := map[string]string{"GOMLX_NO_AUTO_INSTALL": "1"}
	flags := getenv("XLA_FLAGS")
	if !strings.Contains(flags, "--xla_gpu_cuda_data_dir") {
		flags = strings.TrimSpace(flags + " --xla_gpu_cuda_data_dir=" + c.dataDir)
	}
	env["XLA_FLAGS"] = flags
	env["LD_LIBRARY_PATH"] = prependPathList(getenv("LD_LIBRARY_PATH"), c.libDirs...)
	if fi, err := os.Stat(filepath.Join(c.dataDir, "bin")); err == nil && fi.IsDir() {
		env["PATH"] = prependPathList(getenv("PATH"), filepath.Join(c.dataDir, "bin"))
	}
	return env
}

// prependPathList puts dirs at the front of the ":"-separated list, each
// once, keeping the other entries in order.
func prependPathList(list string, dirs ...string) string {
	out := slices.Clone(dirs)
	for _, p := range strings.Split(list, ":") {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return strings.Join(out, ":")
}

// DetectCUDA finds the CUDA PJRT plugin of an installed JAX wheel
// (jax_plugins/xla_cuda13/xla_cuda_plugin.so, from pip install
// "jax[cuda13]"; CUDA 12 wheels work too) and prepares the process for it.
// See [JAXSitePackagesEnv] for the directories searched.
//
// It returns the GoMLX backend configuration "xla:/abs/path/xla_cuda_plugin.so"
// and the environment variables it set with os.Setenv: GOMLX_NO_AUTO_INSTALL,
// XLA_FLAGS (--xla_gpu_cuda_data_dir=<site-packages>/nvidia/cu13),
// LD_LIBRARY_PATH (<site-packages>/nvidia/cu13/lib and the other
// nvidia/*/lib) and PATH (the directory of ptxas). Child processes inherit
// them. The dynamic loader of the running process reads LD_LIBRARY_PATH only
// at start, so a binary built with -tags xla also loads the NVIDIA libraries
// explicitly (as JAX does) before it opens the plugin.
func DetectCUDA() (backend string, env map[string]string, err error) {
	inst, env, err := detectCUDA()
	if err != nil {
		return "", nil, err
	}
	return "xla:" + inst.plugin, env, nil
}

func detectCUDA() (*cudaInstall, map[string]string, error) {
	home, _ := os.UserHomeDir()
	return detectCUDAIn(os.Getenv, home, "")
}

// detectCUDAIn is detectCUDA searching with getenv, home and root (see
// sitePackagesCandidates); the environment it prepares is the process's.
func detectCUDAIn(getenv func(string) string, home, root string) (*cudaInstall, map[string]string, error) {
	inst, err := findCUDA(getenv, home, root)
	if err != nil {
		return nil, nil, err
	}
	env := inst.env(os.Getenv)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if err := os.Setenv(k, env[k]); err != nil {
			return nil, nil, fmt.Errorf("engine: cuda: setting $%s: %w", k, err)
		}
	}
	return inst, env, nil
}

// cudaLibraries are the NVIDIA shared libraries JAX loads before its CUDA
// plugin (jax/_src/lib: _load_nvidia_libraries), by soname, in
// dependency order. Both the CUDA 13 and CUDA 12 names are listed; those
// that are not installed are skipped.
var cudaLibraries = []string{
	"libcudart.so.13", "libcudart.so.12",
	"libnvJitLink.so.13", "libnvJitLink.so.12",
	"libnvrtc.so.13", "libnvrtc.so.12",
	"libcublasLt.so.13", "libcublas.so.13", "libcublasLt.so.12", "libcublas.so.12",
	"libnccl.so.2",
	"libcupti.so.13", "libcupti.so.12",
	"libcusparse.so.12",
	"libcusolver.so.12", "libcusolver.so.11",
	"libcufft.so.12", "libcufft.so.11",
	"libnvshmem_host.so.3",
	"libcudnn.so.9",
}

// preloadLibraries loads shared libraries by absolute path so that the
// plugin's own dependencies resolve to them. Binaries built with -tags xla
// replace it (cuda_xla.go); the pure-Go build never reaches it.
var preloadLibraries = func(paths []string) []error { return nil }

// preloadCUDA loads, from the library directories, each of
// cudaLibraries that exists. It returns the failures (not fatal by
// themselves: they are reported if the plugin then fails to start).
func preloadCUDA(libDirs []string) []error {
	var paths []string
	for _, name := range cudaLibraries {
		for _, d := range libDirs {
			p := filepath.Join(d, name)
			if _, err := os.Stat(p); err == nil {
				paths = append(paths, p)
				break
			}
		}
	}
	return preloadLibraries(paths)
}

// resolveBackend turns the "cuda" backend configuration into the XLA one
// (detecting the plugin and preparing the environment). Other
// configurations pass through unchanged. hint is extra context for a
// failure to create the backend afterwards.
func resolveBackend(config string) (resolved, hint string, err error) {
	home, _ := os.UserHomeDir()
	return resolveBackendIn(config, os.Getenv, home, "")
}

// resolveBackendIn is resolveBackend searching with getenv, home and root.
func resolveBackendIn(config string, getenv func(string) string, home, root string) (resolved, hint string, err error) {
	name, opts, _ := strings.Cut(config, ",")
	if name != CUDABackend {
		return config, "", nil
	}
	if !backendRegistered("xla") {
		return "", "", fmt.Errorf("engine: backend %q needs the XLA backend, but this binary was built without -tags xla (rebuild with CGO_ENABLED=1 go build -tags xla ./cmd/...)", CUDABackend)
	}
	inst, env, err := detectCUDAIn(getenv, home, root)
	if err != nil {
		return "", "", err
	}
	resolved = "xla:" + inst.plugin
	if opts != "" {
		resolved += "," + opts
	}
	if errs := preloadCUDA(inst.libDirs); len(errs) > 0 {
		hint = fmt.Sprintf(" (while preloading the NVIDIA libraries: %v)", errors.Join(errs...))
	}
	hint += fmt.Sprintf(" [cuda environment: XLA_FLAGS=%q LD_LIBRARY_PATH=%q]", env["XLA_FLAGS"], env["LD_LIBRARY_PATH"])
	return resolved, hint, nil
}
