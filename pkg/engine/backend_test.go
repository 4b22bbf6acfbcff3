package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/safetensors"
)

const cpuPlugin = "xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so"

func TestFindXLACPU(t *testing.T) {
	root := t.TempDir()
	venv := filepath.Join(root, "venv")
	home := filepath.Join(root, "home")
	sys := filepath.Join(root, "sys")
	fakeTree(t, venv, "lib/python3.11/site-packages/"+cpuPlugin)
	fakeTree(t, home, ".local/lib/python3.12/site-packages/"+cpuPlugin)
	fakeTree(t, sys, "usr/lib/python3/dist-packages/"+cpuPlugin)
	explicit := filepath.Join(root, "elsewhere", "my_plugin.so")
	fakeTree(t, root, "elsewhere/my_plugin.so")

	tests := []struct {
		name    string
		env     map[string]string
		home    string
		want    string // "" means an error is expected
		wantErr []string
	}{
		{"env var wins", map[string]string{XLACPUPluginEnv: explicit, "VIRTUAL_ENV": venv}, home, explicit, nil},
		{"env var naming nothing", map[string]string{XLACPUPluginEnv: filepath.Join(root, "nope.so"), "VIRTUAL_ENV": venv}, home, "",
			[]string{"$" + XLACPUPluginEnv, "nope.so"}},
		{"active venv before user site", map[string]string{"VIRTUAL_ENV": venv}, home, filepath.Join(venv, "lib/python3.11/site-packages", cpuPlugin), nil},
		{"user site", map[string]string{}, home, filepath.Join(home, ".local/lib/python3.12/site-packages", cpuPlugin), nil},
		{"system site", map[string]string{}, "", filepath.Join(sys, "usr/lib/python3/dist-packages", cpuPlugin), nil},
		{"JAX override does not hide the plugin", map[string]string{JAXSitePackagesEnv: filepath.Join(root, "jaxonly")}, home,
			filepath.Join(home, ".local/lib/python3.12/site-packages", cpuPlugin), nil},
		{"nothing installed", map[string]string{"VIRTUAL_ENV": filepath.Join(root, "emptyvenv")}, filepath.Join(root, "nohome"), "",
			[]string{"pip install xla-cpu-pjrt", XLACPUPluginEnv, "not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sys
			if tc.name == "nothing installed" {
				r = filepath.Join(root, "nosys")
			}
			got, _, err := findXLACPU(envFunc(tc.env), tc.home, r)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("found %s, want an error", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("findXLACPU = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestChooseBackend covers "auto", "xla:cpu" and plugin paths in this build:
// with -tags xla they resolve to the plugin found; without it, "xla:cpu" is
// an error saying how to build and "auto" falls back to pure Go.
func TestChooseBackend(t *testing.T) {
	root := t.TempDir()
	venv := filepath.Join(root, "venv")
	fakeTree(t, venv, "lib/python3.11/site-packages/"+cpuPlugin)
	plugin := filepath.Join(venv, "lib/python3.11/site-packages", cpuPlugin)
	gpuRoot := filepath.Join(root, "gpu")
	fakeTree(t, gpuRoot, "proc/driver/nvidia/version")
	fakeTree(t, venv, prefixed("lib/python3.11/site-packages", cu13)...)
	cudaPlugin := filepath.Join(venv, "lib/python3.11/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so")
	env := envFunc(map[string]string{"VIRTUAL_ENV": venv})
	noPlugin := envFunc(map[string]string{"VIRTUAL_ENV": filepath.Join(root, "empty")})
	xla := backendRegistered("xla")

	c, err := chooseBackend("xla:cpu", env, "", filepath.Join(root, "nosys"))
	if !xla {
		if err == nil || !strings.Contains(err.Error(), "built without -tags xla") {
			t.Errorf("xla:cpu without the tag: %v; want the build hint", err)
		}
	} else if err != nil || c.config != "xla:"+plugin+",shared_buffers" || c.kind != XLACPUBackend {
		t.Errorf("xla:cpu = %+v, %v; want plugin %s", c, err, plugin)
	}
	if xla {
		if _, err := chooseBackend("xla:cpu", noPlugin, "", filepath.Join(root, "nosys")); err == nil || !strings.Contains(err.Error(), "pip install xla-cpu-pjrt") {
			t.Errorf("xla:cpu with no plugin: %v; want the install hint", err)
		}
		c, err := chooseBackend("xla:cpu,noshared_buffers", env, "", filepath.Join(root, "nosys"))
		if err != nil || c.config != "xla:"+plugin+",noshared_buffers" {
			t.Errorf("xla:cpu with options = %q, %v", c.config, err)
		}
	}

	// auto, without a GPU.
	c, err = chooseBackend("auto", env, "", filepath.Join(root, "nosys"))
	switch {
	case err != nil:
		t.Fatalf("auto: %v", err)
	case !xla && (c.config != DefaultGoBackend || !strings.Contains(c.note, "without -tags xla")):
		t.Errorf("auto without the tag = %+v; want pure Go, saying why", c)
	case xla && (c.kind != XLACPUBackend || !strings.Contains(c.note, "no NVIDIA GPU") || !strings.Contains(c.note, plugin)):
		t.Errorf("auto without a GPU = %+v; want the CPU plugin, saying why", c)
	}
	// auto, no GPU and no plugin: pure Go.
	c, err = chooseBackend("auto", noPlugin, "", filepath.Join(root, "nosys"))
	if err != nil || c.config != DefaultGoBackend || c.kind != "go" {
		t.Errorf("auto with nothing = %+v, %v; want pure Go", c, err)
	}
	if xla && !strings.Contains(c.note, "no XLA CPU plugin") {
		t.Errorf("auto with nothing: note %q does not say the plugin is missing", c.note)
	}
	// auto with a GPU and JAX's plugin: CUDA.
	if xla {
		keepEnv(t)
		c, err = chooseBackend("auto", env, "", gpuRoot)
		if err != nil || c.kind != "xla:cuda" || !strings.Contains(c.config, cudaPlugin) || !strings.Contains(c.note, "NVIDIA GPU") {
			t.Errorf("auto with a GPU = %+v, %v; want the CUDA plugin", c, err)
		}
	}
	// A plugin path is taken as given; the CPU plugin's file name gets shared buffers.
	c, _ = chooseBackend("xla:"+plugin, env, "", "")
	if c.kind != XLACPUBackend || !strings.HasSuffix(c.config, ",shared_buffers") {
		t.Errorf("plugin path = %+v", c)
	}
	if c, _ = chooseBackend("go:ops_sequential", env, "", ""); c.config != "go:ops_sequential" || c.kind != "go" || c.note != "" {
		t.Errorf("go = %+v", c)
	}
}

// TestXLACPUDevices runs where make test's second pass runs it
// (GOMLX_BACKEND=xla:cpu in a -tags xla build): the plugin opens, reports
// its devices, and scores sequences as the pure-Go backend does.
func TestXLACPUDevices(t *testing.T) {
	if !backendRegistered("xla") || !isXLA(t) {
		t.Skip("needs a -tags xla build and GOMLX_BACKEND=xla:cpu (make test-xla)")
	}
	x := newTestEngine(t, Options{})
	if x.BackendKind() != XLACPUBackend || x.NumDevices() < 1 {
		t.Fatalf("backend %q kind %q with %d devices; want xla:cpu", x.BackendName(), x.BackendKind(), x.NumDevices())
	}
	t.Logf("%s: %d devices", x.BackendName(), x.NumDevices())
	g := newTestEngine(t, Options{Backend: DefaultGoBackend})
	cfg := tinyLlama()
	ws := randomTensors(t, cfg, 3, safetensors.F32)
	seqs := randomSeqs(rand.New(rand.NewPCG(1, 2)), 5, cfg.VocabSize, 3, 17)
	score := func(e *Engine) []float64 {
		m, err := e.LoadWeights(cfg, ws)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		lp, err := m.SequenceLogProbs(context.Background(), seqs, nil)
		if err != nil {
			t.Fatal(err)
		}
		return lp
	}
	a, b := score(x), score(g)
	for i := range a {
		if d := math.Abs(a[i] - b[i]); d > 1e-4*math.Max(1, math.Abs(b[i])) {
			t.Errorf("sequence %d: xla:cpu %.8g, go %.8g", i, a[i], b[i])
		}
	}
}

func TestCheckPJRTVersion(t *testing.T) {
	ok := "xla:/p/xla_cpu_pjrt.so - PJRT plugin (/p/xla_cpu_pjrt.so) v0.90 [StableHLO] [4 device(s)]"
	if err := checkPJRTVersion("xla:cpu", ok); err != nil {
		t.Errorf("v0.90: %v", err)
	}
	bad := "xla:/p/new.so - PJRT plugin (/p/new.so) v1.3 [4 device(s)]"
	err := checkPJRTVersion("xla:/p/new.so", bad)
	if err == nil || !strings.Contains(err.Error(), "v1.3") || !strings.Contains(err.Error(), "v0.104") {
		t.Errorf("v1.3: %v; want both versions named", err)
	}
}

func TestCheckPJRTVersionNamedPlugin(t *testing.T) {
	bad := `xla:cuda - PJRT "cuda" plugin (/p/xla_cuda_plugin.so) v2.0 [1 device(s)]`
	if err := checkPJRTVersion("cuda", bad); err == nil || !strings.Contains(err.Error(), "v2.0") {
		t.Errorf("named plugin v2.0: %v", err)
	}
}

// TestChooseBackendGo: "go" is the pure-Go backend as auto picks it
// (DefaultGoBackend, ops run in order), never GoMLX's parallel "go" mode,
// which stalls; options after a comma are kept; "go:..." passes through.
func TestChooseBackendGo(t *testing.T) {
	none := func(string) string { return "" }
	for in, want := range map[string]string{
		"go":                   DefaultGoBackend,
		"go,creation_order":    DefaultGoBackend + ",creation_order",
		"go:ops_sequential":    "go:ops_sequential",
		"go:ops_parallel,fast": "go:ops_parallel,fast",
	} {
		c, err := chooseBackend(in, none, "", t.TempDir())
		if err != nil || c.config != want || c.kind != "go" {
			t.Errorf("chooseBackend(%q) = %q kind %q, %v; want %q kind go", in, c.config, c.kind, err, want)
		}
	}
}
