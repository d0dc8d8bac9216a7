package scenario_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/examples/scenario"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the runs")

// childEnv names the scenario a child process runs (TestLongRunningCrash
// re-executes the test binary), childArgs its flags.
const (
	childEnv  = "TROUPE_SCENARIO_CHILD"
	childArgs = "TROUPE_SCENARIO_ARGS"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		os.Exit(scenario.Command(context.Background(), name, strings.Fields(os.Getenv(childArgs)), os.Stdout, os.Stderr, offline))
	}
	os.Exit(m.Run())
}

// offline is an environment without OPENAI_API_KEY: the tests never reach
// a network.
func offline(string) string { return "" }

// golden compares got with testdata/name.golden (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update)", err)
	}
	if got != string(want) {
		t.Errorf("trace of %s differs from %s:\n%s", name, path, diff(string(want), got))
	}
}

// diff shows the first differing line with some context.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n\nwhole trace:\n" + got
		}
	}
	return ""
}

// noLeak fails the test if goroutines started during it outlive it.
func noLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines outlive the run (before: %d)\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
	})
}

func run(t *testing.T, name, home string, opts scenario.Options) (string, scenario.Result) {
	t.Helper()
	sc, ok := scenario.Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q) = false", name)
	}
	var out bytes.Buffer
	opts.Home, opts.Out = home, &out
	res, err := sc.Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run(%s) = %v\ntrace:\n%s", name, err, out.String())
	}
	return out.String(), res
}

func TestGoldenResearchTeam(t *testing.T) {
	noLeak(t)
	home := t.TempDir()
	out, res := run(t, "research_team", home, scenario.Options{})
	golden(t, "research_team", out)
	if res.Root == "" || res.Stopped {
		t.Errorf("Run = %+v, want a root and not stopped", res)
	}
	// A second run in the same home prints the same trace (nothing in it
	// depends on ids, times or what the home already holds).
	again, _ := run(t, "research_team", home, scenario.Options{})
	if again != out {
		t.Errorf("second run in the same home:\n%s", diff(out, again))
	}
}

// TestGoldenCodeReview runs go test in the checkout it makes (through the
// review kit's run_tests tool), so it needs a POSIX shell and Go in PATH.
func TestGoldenCodeReview(t *testing.T) {
	noLeak(t)
	home := t.TempDir()
	out, _ := run(t, "code_review", home, scenario.Options{})
	golden(t, "code_review", out)
	// The fixer's edits are in the checkout.
	b, err := os.ReadFile(filepath.Join(home, "examples", "code_review", "checkout", "ratelimit", "limiter.go"))
	if err != nil || !strings.Contains(string(b), "min(l.burst,") {
		t.Errorf("limiter.go after the review = %q, %v; want the capped refill", b, err)
	}
}

func TestGoldenLongRunning(t *testing.T) {
	noLeak(t)
	home := t.TempDir()
	out, res := run(t, "long_running", home, scenario.Options{})
	golden(t, "long_running", out)
	if !res.Stopped {
		t.Errorf("first run: Stopped = false, want true")
	}
	out2, res2 := run(t, "long_running", home, scenario.Options{})
	golden(t, "long_running.resumed", out2)
	if res2.Stopped || res2.Root != res.Root {
		t.Errorf("second run = %+v, want the first run's root %s, not stopped", res2, res.Root)
	}
	// The third run starts over.
	out3, res3 := run(t, "long_running", home, scenario.Options{})
	if out3 != out || res3.Root == res.Root {
		t.Errorf("third run: root %s (first %s), trace:\n%s", res3.Root, res.Root, diff(out, out3))
	}
}

// TestLongRunningCrash kills the first run like a crash (a child process
// exits without closing anything), then resumes in this process.
func TestLongRunningCrash(t *testing.T) {
	home := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=long_running", childArgs+"=--crash --home "+home, "OPENAI_API_KEY=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("crash run: %v, want exit status 3\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	golden(t, "long_running.crash", stdout.String())

	noLeak(t)
	out, res := run(t, "long_running", home, scenario.Options{})
	golden(t, "long_running.resumed", out)
	if res.Stopped {
		t.Errorf("resumed run stopped again")
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"research_team", []string{"--bogus"}, 2, "flag provided but not defined"},
		{"research_team", []string{"extra"}, 2, "unexpected arguments"},
		{"research_team", []string{"--crash"}, 2, "are for long_running"},
		{"nope", nil, 2, "unknown scenario"},
		{"research_team", []string{"-h"}, 0, "OPENAI_API_KEY"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{tt.name}, tt.args...), " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := scenario.Command(context.Background(), tt.name, tt.args, &out, &errb, offline)
			if code != tt.code || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("Command(%s %q) = %d, stderr %q; want %d and %q", tt.name, tt.args, code, errb.String(), tt.code, tt.want)
			}
		})
	}
	t.Run("ok", func(t *testing.T) {
		home := t.TempDir()
		var out, errb bytes.Buffer
		if code := scenario.Command(context.Background(), "research_team", []string{"--home", home}, &out, &errb, offline); code != 0 {
			t.Fatalf("Command = %d, stderr:\n%s", code, errb.String())
		}
		if !strings.Contains(errb.String(), "threads tree") || !strings.Contains(errb.String(), home) {
			t.Errorf("stderr does not say how to look at the threads:\n%s", errb.String())
		}
	})
}

func TestEndpointFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		getenv  func(string) string
		want    *scenario.Endpoint
		wantErr bool
	}{
		{"no key: offline", env("OPENAI_BASE_URL", "http://x"), nil, false},
		{"defaults", env("OPENAI_API_KEY", "sk-secret"), &scenario.Endpoint{APIKey: "sk-secret", ModelName: scenario.DefaultModel, API: "responses"}, false},
		{"all set", env("OPENAI_API_KEY", "sk-secret", "OPENAI_BASE_URL", "http://localhost:11434/v1", "TROUPE_MODEL", "qwen3", "TROUPE_API", "chat"),
			&scenario.Endpoint{APIKey: "sk-secret", BaseURL: "http://localhost:11434/v1", ModelName: "qwen3", API: "chat"}, false},
		{"bad api", env("OPENAI_API_KEY", "sk-secret", "TROUPE_API", "grpc"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scenario.EndpointFromEnv(tt.getenv)
			if (err != nil) != tt.wantErr {
				t.Fatalf("EndpointFromEnv() error = %v, want error %v", err, tt.wantErr)
			}
			switch {
			case got == nil && tt.want == nil:
			case got == nil || tt.want == nil || *got != *tt.want:
				t.Errorf("EndpointFromEnv() = %+v, want %+v", got, tt.want)
			}
			if got != nil {
				if _, err := got.Model(); err != nil {
					t.Errorf("Model() = %v", err)
				}
				if strings.Contains(got.String(), got.APIKey) {
					t.Errorf("String() = %q shows the key", got.String())
				}
			}
		})
	}
}
