package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeTree creates files (and directories, for names ending in "/") under root.
func fakeTree(t *testing.T, root string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(root, n)
		if strings.HasSuffix(n, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not a real library"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// cu13 is the layout of pip install "jax[cuda13]".
var cu13 = []string{
	"jax_plugins/xla_cuda13/xla_cuda_plugin.so",
	"jax_plugins/xla_cuda13/__init__.py",
	"nvidia/cu13/bin/ptxas",
	"nvidia/cu13/lib/libcudart.so.13",
	"nvidia/cu13/lib/libcublas.so.13",
	"nvidia/cu13/nvvm/libdevice/libdevice.10.bc",
	"nvidia/cudnn/lib/libcudnn.so.9",
	"nvidia/nccl/lib/libnccl.so.2",
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(prefix, n)
		if strings.HasSuffix(n, "/") {
			out[i] += "/"
		}
	}
	return out
}

func TestFindCUDA(t *testing.T) {
	tests := []struct {
		name    string
		files   []string          // under the fake root
		env     map[string]string // values may use {root}
		home    string            // relative to root, "" for none
		want    string            // plugin path relative to root, "" for an error
		wantErr string
	}{
		{
			name:  "debian dist-packages",
			files: prefixed("usr/lib/python3/dist-packages", cu13),
			want:  "usr/lib/python3/dist-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so",
		},
		{
			name:  "usr local newest python first",
			files: append(prefixed("usr/local/lib/python3.9/dist-packages", cu13), prefixed("usr/local/lib/python3.12/dist-packages", cu13)...),
			want:  "usr/local/lib/python3.12/dist-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so",
		},
		{
			name:  "virtualenv before system",
			files: append(prefixed("venv/lib/python3.11/site-packages", cu13), prefixed("usr/lib/python3/dist-packages", cu13)...),
			env:   map[string]string{"VIRTUAL_ENV": "{root}/venv"},
			want:  "venv/lib/python3.11/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so",
		},
		{
			name:  "user site before usr local",
			files: append(prefixed("home/u/.local/lib/python3.10/site-packages", cu13), prefixed("usr/local/lib/python3.10/dist-packages", cu13)...),
			home:  "home/u",
			want:  "home/u/.local/lib/python3.10/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so",
		},
		{
			name:  "conda",
			files: prefixed("opt/conda/lib/python3.11/site-packages", cu13),
			want:  "opt/conda/lib/python3.11/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so",
		},
		{
			name:  "explicit site-packages wins",
			files: append(prefixed("custom/sp", cu13), prefixed("usr/lib/python3/dist-packages", cu13)...),
			env:   map[string]string{JAXSitePackagesEnv: "{root}/custom/sp"},
			want:  "custom/sp/jax_plugins/xla_cuda13/xla_cuda_plugin.so",
		},
		{
			name:    "explicit site-packages without plugin",
			files:   prefixed("usr/lib/python3/dist-packages", cu13),
			env:     map[string]string{JAXSitePackagesEnv: "{root}/empty"},
			wantErr: "$DPO_JAX_SITE_PACKAGES=",
		},
		{
			name:    "plugin without nvidia libraries",
			files:   []string{"usr/lib/python3/dist-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"},
			wantErr: "nvidia/cu13",
		},
		{
			name:    "nothing installed",
			files:   []string{"usr/lib/python3/dist-packages/numpy/__init__.py"},
			wantErr: "no JAX CUDA PJRT plugin",
		},
		{
			name: "cuda13 preferred over cuda12 in one directory",
			files: append(prefixed("usr/lib/python3/dist-packages", cu13),
				"usr/lib/python3/dist-packages/jax_plugins/xla_cuda12/xla_cuda_plugin.so",
				"usr/lib/python3/dist-packages/nvidia/cuda_nvcc/bin/ptxas"),
			want: "usr/lib/python3/dist-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so",
		},
		{
			name: "plugin directory is a directory, not a file",
			files: []string{
				"usr/lib/python3/dist-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so/",
				"usr/lib/python3/dist-packages/nvidia/cu13/lib/",
			},
			wantErr: "no JAX CUDA PJRT plugin",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			fakeTree(t, root, tc.files...)
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = strings.ReplaceAll(v, "{root}", root)
			}
			home := ""
			if tc.home != "" {
				home = filepath.Join(root, tc.home)
			}
			inst, err := findCUDA(envFunc(env), home, root)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := inst.plugin, filepath.Join(root, tc.want); got != want {
				t.Errorf("plugin = %s, want %s", got, want)
			}
		})
	}
}

func TestCUDAEnv(t *testing.T) {
	root := t.TempDir()
	sp := filepath.Join(root, "sp")
	fakeTree(t, sp, cu13...)
	inst, err := findCUDA(envFunc(map[string]string{JAXSitePackagesEnv: sp}), "", root)
	if err != nil {
		t.Fatal(err)
	}
	if inst.major != 13 || inst.dataDir != filepath.Join(sp, "nvidia", "cu13") {
		t.Fatalf("major %d, data dir %s", inst.major, inst.dataDir)
	}
	wantLibs := []string{filepath.Join(sp, "nvidia/cu13/lib"), filepath.Join(sp, "nvidia/cudnn/lib"), filepath.Join(sp, "nvidia/nccl/lib")}
	if !slices.Equal(inst.libDirs, wantLibs) {
		t.Errorf("libDirs = %q, want %q", inst.libDirs, wantLibs)
	}

	env := inst.env(envFunc(map[string]string{
		"LD_LIBRARY_PATH": "/usr/lib/x:" + wantLibs[1],
		"PATH":            "/usr/bin",
		"XLA_FLAGS":       "--xla_dump_to=/tmp/d",
	}))
	want := map[string]string{
		"GOMLX_NO_AUTO_INSTALL": "1",
		"XLA_FLAGS":             "--xla_dump_to=/tmp/d --xla_gpu_cuda_data_dir=" + filepath.Join(sp, "nvidia/cu13"),
		"LD_LIBRARY_PATH":       strings.Join(wantLibs, ":") + ":/usr/lib/x",
		"PATH":                  filepath.Join(sp, "nvidia/cu13/bin") + ":/usr/bin",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if len(env) != len(want) {
		t.Errorf("env has %d variables, want %d: %v", len(env), len(want), env)
	}

	// A user's own --xla_gpu_cuda_data_dir is kept.
	env = inst.env(envFunc(map[string]string{"XLA_FLAGS": "--xla_gpu_cuda_data_dir=/usr/local/cuda"}))
	if env["XLA_FLAGS"] != "--xla_gpu_cuda_data_dir=/usr/local/cuda" {
		t.Errorf("XLA_FLAGS = %q", env["XLA_FLAGS"])
	}
}

func TestCUDA12Layout(t *testing.T) {
	root := t.TempDir()
	sp := filepath.Join(root, "sp")
	fakeTree(t, sp,
		"jax_plugins/xla_cuda12/xla_cuda_plugin.so",
		"nvidia/cuda_nvcc/bin/ptxas",
		"nvidia/cublas/lib/libcublas.so.12",
		"nvidia/cuda_runtime/lib/libcudart.so.12",
	)
	inst, err := findCUDA(envFunc(map[string]string{JAXSitePackagesEnv: sp}), "", root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(sp, "nvidia/cublas/lib"), filepath.Join(sp, "nvidia/cuda_runtime/lib")}
	if inst.major != 12 || inst.dataDir != filepath.Join(sp, "nvidia/cuda_nvcc") || !slices.Equal(inst.libDirs, want) {
		t.Errorf("got major %d, data dir %s, libs %q", inst.major, inst.dataDir, inst.libDirs)
	}
}

// keepEnv restores, after the test, the variables DetectCUDA sets.
func keepEnv(t *testing.T) {
	for _, k := range []string{"GOMLX_NO_AUTO_INSTALL", "XLA_FLAGS", "LD_LIBRARY_PATH", "PATH", JAXSitePackagesEnv} {
		if v, ok := os.LookupEnv(k); ok {
			t.Setenv(k, v)
		} else {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

func TestDetectCUDASetsEnv(t *testing.T) {
	keepEnv(t)
	sp := t.TempDir()
	fakeTree(t, sp, cu13...)
	t.Setenv(JAXSitePackagesEnv, sp)
	t.Setenv("XLA_FLAGS", "")
	backend, env, err := DetectCUDA()
	if err != nil {
		t.Fatal(err)
	}
	if want := "xla:" + filepath.Join(sp, "jax_plugins/xla_cuda13/xla_cuda_plugin.so"); backend != want {
		t.Errorf("backend = %q, want %q", backend, want)
	}
	for k, v := range env {
		if got := os.Getenv(k); got != v {
			t.Errorf("$%s = %q after DetectCUDA, want %q", k, got, v)
		}
	}
	if !strings.HasPrefix(os.Getenv("LD_LIBRARY_PATH"), filepath.Join(sp, "nvidia/cu13/lib")+":") {
		t.Errorf("LD_LIBRARY_PATH = %q", os.Getenv("LD_LIBRARY_PATH"))
	}
}

func TestResolveBackendPassThrough(t *testing.T) {
	for _, c := range []string{"go", "go:ops_sequential", "xla:cuda", "xla:/x/cuda.so", "cudax", "xla:cpu"} {
		got, _, err := resolveBackend(c)
		if err != nil || got != c {
			t.Errorf("resolveBackend(%q) = %q, %v; want it unchanged", c, got, err)
		}
	}
}

// TestNewCUDA checks what --backend cuda does in this build: without the
// xla tag a clear error; with it, the detected plugin path reaches the XLA
// backend (a fake plugin file then fails to load, naming that path).
func TestNewCUDA(t *testing.T) {
	keepEnv(t)
	sp := t.TempDir()
	fakeTree(t, sp, cu13...)
	t.Setenv(JAXSitePackagesEnv, sp)
	for _, cfg := range []string{"cuda", "cuda,preallocate=false"} {
		for _, viaEnv := range []bool{false, true} {
			opts := Options{Backend: cfg}
			if viaEnv {
				opts.Backend = ""
				t.Setenv("GOMLX_BACKEND", cfg)
			}
			e, err := New(opts)
			if err == nil {
				e.Close()
				t.Fatalf("New(%q) succeeded on a fake plugin", cfg)
			}
			if !backendRegistered("xla") {
				if !strings.Contains(err.Error(), "built without -tags xla") {
					t.Errorf("New(%q): %v; want the 'built without -tags xla' message", cfg, err)
				}
				continue
			}
			plugin := filepath.Join(sp, "jax_plugins/xla_cuda13/xla_cuda_plugin.so")
			if !strings.Contains(err.Error(), plugin) {
				t.Errorf("New(%q): %v; want an error naming %s", cfg, err, plugin)
			}
		}
	}
}
