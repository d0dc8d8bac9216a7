package capability_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/environment"
	"github.com/troupe-run/troupe/environment/envtest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func write(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func skillMD(name string) string {
	return fmt.Sprintf("---\nname: %s\ndescription: The %s skill\n---\nInstructions of %s.\n", name, name, name)
}

// envTree builds an environment directory holding capability roots:
//
//	roots/alpha        skills alpha-root, lint, review (+ broken and
//	                   escaping ones), tools.json with good and bad tools
//	roots/beta         skill beta
//	roots/evil → a directory outside the environment
//
// and returns the real path of the environment directory.
func envTree(t testing.TB) string {
	t.Helper()
	dir, outside := t.TempDir(), t.TempDir()
	dir, _ = filepath.EvalSymlinks(dir)
	alpha := filepath.Join(dir, "roots", "alpha")
	write(t, filepath.Join(alpha, "SKILL.md"), skillMD("alpha-root"), 0o644)
	write(t, filepath.Join(alpha, "lint", "SKILL.md"), skillMD("lint"), 0o644)
	write(t, filepath.Join(alpha, "skills", "review", "SKILL.md"), skillMD("review"), 0o644)
	write(t, filepath.Join(alpha, "skills", "broken", "SKILL.md"), "no front matter", 0o644)
	write(t, filepath.Join(alpha, "skills", "again", "SKILL.md"), skillMD("review"), 0o644)
	write(t, filepath.Join(alpha, "bin", "echo-args"), "#!/bin/sh\ncat\n", 0o755)
	write(t, filepath.Join(dir, "roots", "beta", "SKILL.md"), skillMD("beta"), 0o644)
	write(t, filepath.Join(dir, "roots", "beta", "bin", "x"), "#!/bin/sh\n", 0o755)
	symlink(t, filepath.Join(dir, "roots", "beta"), filepath.Join(alpha, "skills", "escape"))
	symlink(t, filepath.Join(dir, "roots", "beta", "bin", "x"), filepath.Join(alpha, "bin", "sneaky"))
	write(t, filepath.Join(alpha, "tools.json"), `{"tools": [
		{"name": "echo_args", "description": "Echo the arguments", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}, "command": ["bin/echo-args"], "timeout_ms": 5000},
		{"name": "bare", "description": "Cat", "command": ["cat"], "dir": "lint"},
		{"name": "escape", "description": "x", "command": ["../beta/bin/x"]},
		{"name": "sneaky", "description": "x", "command": ["bin/sneaky"]},
		{"name": "missing", "description": "x", "command": ["bin/missing"]},
		{"name": "bad name!", "description": "x", "command": ["cat"]},
		{"name": "echo_args", "description": "dup", "command": ["cat"]},
		{"name": "arr", "description": "x", "command": ["cat"], "parameters": {"type": "array"}}
	]}`, 0o644)
	write(t, filepath.Join(outside, "SKILL.md"), skillMD("outside"), 0o644)
	symlink(t, outside, filepath.Join(dir, "roots", "evil"))
	return dir
}

type harness struct {
	reg  *environment.Registry
	res  *capability.Resolver
	logs *syncBuffer
	dir  string // real path of the "local" environment's directory
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reg := environment.NewRegistry(environment.RegistryConfig{Logger: log})
	t.Cleanup(func() { reg.Close() })
	dir := envTree(t)
	local, err := environment.NewLocal(environment.LocalConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(environment.Registration{ID: "local", Env: local}); err != nil {
		t.Fatal(err)
	}
	res, err := capability.NewResolver(capability.ResolverConfig{Registry: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{reg: reg, res: res, logs: &logs, dir: dir}
}

func (h *harness) fake(t testing.TB, id string, lazy bool) (*envtest.Fake, *environment.Handle) {
	t.Helper()
	local, err := environment.NewLocal(environment.LocalConfig{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	f := envtest.NewFake(local)
	hd, err := h.reg.Register(environment.Registration{ID: id, Env: f, Lazy: lazy})
	if err != nil {
		t.Fatal(err)
	}
	return f, hd
}

func (h *harness) step(t testing.TB, envs []string, roots []capability.SelectedCapabilityRoot) (environment.Snapshot, capability.Resolution) {
	t.Helper()
	var sels []environment.Selection
	for _, id := range envs {
		sels = append(sels, environment.Selection{EnvironmentID: id})
	}
	snap := h.reg.Capture(h.reg.Select(sels))
	return snap, h.res.Resolve(context.Background(), snap, roots)
}

func availableIDs(r capability.Resolution) []string {
	var out []string
	for _, a := range r.Available {
		out = append(out, a.Root.ID)
	}
	return out
}

func unavailable(r capability.Resolution, id string) (capability.UnavailableRoot, bool) {
	for _, u := range r.Unavailable {
		if u.Root.ID == id {
			return u, true
		}
	}
	return capability.UnavailableRoot{}, false
}

func TestDiscoverSkillsAndTools(t *testing.T) {
	h := newHarness(t)
	alpha := filepath.Join(h.dir, "roots", "alpha")
	_, res := h.step(t, []string{"local"}, []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("alpha", "local", alpha)})
	a, ok := res.Root("alpha")
	if !ok {
		t.Fatalf("Resolve() = %+v, want alpha available", res)
	}
	var skills []string
	for _, s := range a.Skills {
		skills = append(skills, s.Name)
		if !strings.HasPrefix(s.Path, alpha+"/") || s.Instructions != "Instructions of "+s.Name+".\n" {
			t.Errorf("skill %s = %+v, want a path in the root and its instructions", s.Name, s)
		}
	}
	if want := []string{"alpha-root", "lint", "review"}; !slices.Equal(skills, want) {
		t.Errorf("skills = %v, want %v", skills, want)
	}
	var tools []string
	for _, tl := range a.Tools {
		tools = append(tools, tl.Name)
	}
	if want := []string{"echo_args", "bare"}; !slices.Equal(tools, want) {
		t.Errorf("tools = %v, want %v", tools, want)
	}
	for _, w := range []string{"broken", `duplicate skill name "review"`, "escape", "sneaky", "missing", "bad name!", `duplicate tool name "echo_args"`, "object schema"} {
		if !strings.Contains(strings.Join(res.Warnings, "\n"), w) {
			t.Errorf("warnings %q do not mention %q", res.Warnings, w)
		}
	}
	echo := a.Tools[0]
	if echo.Command[0] != filepath.Join(alpha, "bin", "echo-args") || echo.Dir != alpha || echo.Timeout.Milliseconds() != 5000 {
		t.Errorf("echo_args = %+v, want the real command path, root dir, 5s", echo)
	}
	if a.Tools[1].Dir != filepath.Join(alpha, "lint") || string(a.Tools[1].Parameters) != `{"type":"object","properties":{}}` {
		t.Errorf("bare = %+v, want dir lint and the empty object schema", a.Tools[1])
	}
	// The declared tool runs in the root's environment.
	out, err := a.Handle.Environment().Run(t.Context(), environment.Command{Argv: echo.Command, Dir: echo.Dir, Stdin: []byte(`{"x":"hi"}`)})
	if err != nil || string(out.Stdout) != `{"x":"hi"}` {
		t.Errorf("running echo_args = %q, %v", out.Stdout, err)
	}
}

// TestRootOnStartingEnvironment is SPEC-environment §5.3 item 4.
func TestRootOnStartingEnvironment(t *testing.T) {
	h := newHarness(t)
	fake, hd := h.fake(t, "worker", false)
	selected := []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("beta", "worker", filepath.Join(h.dir, "roots", "beta"))}
	before := slices.Clone(selected)

	_, res := h.step(t, []string{"worker", "local"}, selected)
	if u, ok := unavailable(res, "beta"); !ok || u.Reason != capability.Starting || !strings.Contains(u.Message(), "starting") {
		t.Errorf("step 1: beta = %+v (%v), want unavailable, starting", u, ok)
	}
	fake.Release()
	if err := hd.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	snap, res := h.step(t, []string{"worker", "local"}, selected)
	a, ok := res.Root("beta")
	e, _ := snap.Lookup("worker")
	if !ok || a.Handle != e.Handle {
		t.Errorf("step 2: beta = %+v, %v; want available with the snapshot's handle", a, ok)
	}
	if !reflect.DeepEqual(selected, before) {
		t.Errorf("selection changed to %+v, want %+v", selected, before)
	}
}

// TestRootOnLazyEnvironment is SPEC-environment §5.3 item 5.
func TestRootOnLazyEnvironment(t *testing.T) {
	h := newHarness(t)
	fake, hd := h.fake(t, "lazy", true)
	selected := []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("beta", "lazy", filepath.Join(h.dir, "roots", "beta"))}
	if fake.Starts() != 0 {
		t.Fatal("lazy environment started at registration")
	}
	// The thread selected only "local": "lazy" is not in the snapshot.
	_, res := h.step(t, []string{"local"}, selected)
	if u, ok := unavailable(res, "beta"); !ok || u.Reason != capability.StartRequested {
		t.Errorf("step 1: beta = %+v (%v), want unavailable, start requested", u, ok)
	}
	<-fake.Started()
	fake.Release()
	if err := hd.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, res = h.step(t, []string{"local"}, selected)
	if a, ok := res.Root("beta"); !ok || a.Handle != hd || len(a.Skills) != 1 {
		t.Errorf("step 2: beta = %+v, %v; want available through the registry handle", a, ok)
	}
	if fake.Starts() != 1 {
		t.Errorf("Starts() = %d, want 1", fake.Starts())
	}
}

func TestRootOnMissingOrFailedEnvironment(t *testing.T) {
	h := newHarness(t)
	fake, hd := h.fake(t, "broken", false)
	fake.Fail(errors.New("no capacity"))
	<-hd.Done()
	selected := []capability.SelectedCapabilityRoot{
		capability.EnvironmentRoot("a", "nowhere", "/x"),
		capability.EnvironmentRoot("b", "broken", filepath.Join(h.dir, "roots", "beta")),
	}
	_, res := h.step(t, []string{"local"}, selected)
	if u, _ := unavailable(res, "a"); u.Reason != capability.Missing || !strings.Contains(u.Message(), "references unavailable environment `nowhere`") {
		t.Errorf("a = %+v (%s), want missing", u, u.Message())
	}
	if u, _ := unavailable(res, "b"); u.Reason != capability.Failed || !strings.Contains(u.Message(), "no capacity") {
		t.Errorf("b = %+v (%s), want failed with the cause", u, u.Message())
	}
}

// TestSharedRootFirstWins is SPEC-environment §5.3 item 6.
func TestSharedRootFirstWins(t *testing.T) {
	h := newHarness(t)
	f1, h1 := h.fake(t, "one", false)
	f2, h2 := h.fake(t, "two", false)
	f1.SetCapabilityRoots([]environment.AdvertisedRoot{{ID: "shared", Path: filepath.Join(h.dir, "roots", "alpha")}})
	f2.SetCapabilityRoots([]environment.AdvertisedRoot{{ID: "shared", Path: filepath.Join(h.dir, "roots", "beta")}})
	f1.Release()
	f2.Release()
	for _, hd := range []*environment.Handle{h1, h2} {
		if err := hd.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	_, res := h.step(t, []string{"one", "two"}, nil)
	a, ok := res.Root("shared")
	if !ok || a.Root.Location.EnvironmentID != "one" || a.Handle != h1 || len(res.Available) != 1 {
		t.Errorf("shared = %+v, %v (available %v); want only the one in environment one", a.Root, ok, availableIDs(res))
	}
	if !strings.Contains(h.logs.String(), "conflicting location") || !strings.Contains(strings.Join(res.Warnings, "\n"), "conflicting location") {
		t.Errorf("logs %q / warnings %q, want a conflicting-location warning", h.logs.String(), res.Warnings)
	}
}

func TestDuplicateSelectedIDs(t *testing.T) {
	h := newHarness(t)
	alpha, beta := filepath.Join(h.dir, "roots", "alpha"), filepath.Join(h.dir, "roots", "beta")
	selected := []capability.SelectedCapabilityRoot{
		capability.EnvironmentRoot("r", "local", beta),
		capability.EnvironmentRoot("r", "local", beta),  // identical: silently merged
		capability.EnvironmentRoot("r", "local", alpha), // conflicting: dropped with a warning
	}
	_, res := h.step(t, []string{"local"}, selected)
	if a, ok := res.Root("r"); !ok || a.Root.Location.Path != beta || len(res.Available)+len(res.Unavailable) != 1 {
		t.Errorf("Resolve() = available %v unavailable %v, want only r at beta", availableIDs(res), res.Unavailable)
	}
	var conflicts int
	for _, w := range res.Warnings {
		if strings.Contains(w, "conflicting location") {
			conflicts++
		}
	}
	if conflicts != 1 {
		t.Errorf("warnings = %q, want exactly one conflicting-location warning", res.Warnings)
	}
}

func TestAdvertisedRootsCapped(t *testing.T) {
	h := newHarness(t)
	f, hd := h.fake(t, "many", false)
	var roots []environment.AdvertisedRoot
	for i := range 300 {
		roots = append(roots, environment.AdvertisedRoot{ID: fmt.Sprintf("r%03d", i), Path: filepath.Join(h.dir, "roots", "beta")})
	}
	f.SetCapabilityRoots(roots)
	f.Release()
	if err := hd.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A selected root comes first and does not count against the cap.
	selected := []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("mine", "local", filepath.Join(h.dir, "roots", "alpha"))}
	_, res := h.step(t, []string{"many"}, selected)
	if got := len(res.Available); got != 1+capability.MaxAdvertisedRoots || len(res.Unavailable) != 0 {
		t.Errorf("available %d (unavailable %v), want %d", got, res.Unavailable, 1+capability.MaxAdvertisedRoots)
	}
	if _, ok := res.Root("r255"); !ok {
		t.Errorf("r255 missing, want the first 256 advertised roots")
	}
	if _, ok := res.Root("r256"); ok {
		t.Errorf("r256 present, want it dropped by the cap")
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "advertises 300 capability roots") {
		t.Errorf("warnings %q, want the cap warning", res.Warnings)
	}
}

// TestRootPathConfinement is SPEC-environment §5.3 item 8.
func TestRootPathConfinement(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		root   capability.SelectedCapabilityRoot
		reason capability.Unavailability
		err    error
	}{
		{capability.EnvironmentRoot("dots", "local", filepath.Join(h.dir, "roots")+"/alpha/../../.."), capability.Invalid, capability.ErrRootPath},
		{capability.EnvironmentRoot("link", "local", filepath.Join(h.dir, "roots", "evil")), capability.DiscoveryFailed, environment.ErrEscape},
		{capability.EnvironmentRoot("outside", "local", "/etc"), capability.DiscoveryFailed, environment.ErrEscape},
		{capability.EnvironmentRoot("file", "local", filepath.Join(h.dir, "roots", "alpha", "SKILL.md")), capability.DiscoveryFailed, capability.ErrRootPath},
		{capability.EnvironmentRoot("gone", "local", filepath.Join(h.dir, "roots", "gone")), capability.DiscoveryFailed, os.ErrNotExist},
	}
	for _, tt := range tests {
		_, res := h.step(t, []string{"local"}, []capability.SelectedCapabilityRoot{tt.root})
		u, ok := unavailable(res, tt.root.ID)
		if !ok || u.Reason != tt.reason || !errors.Is(u.Err, tt.err) {
			t.Errorf("root %s (%s) = %+v (%v), want %v wrapping %v", tt.root.ID, tt.root.Location.Path, u, ok, tt.reason, tt.err)
		}
	}
}

func TestDiscoveryCache(t *testing.T) {
	h := newHarness(t)
	selected := []capability.SelectedCapabilityRoot{
		capability.EnvironmentRoot("beta", "local", filepath.Join(h.dir, "roots", "beta")),
		capability.EnvironmentRoot("gone", "local", filepath.Join(h.dir, "roots", "gone")),
	}
	h.step(t, []string{"local"}, selected)
	if got, want := h.res.Cache().Stats(), (capability.CacheStats{Misses: 2}); got != want {
		t.Errorf("after step 1 Stats() = %+v, want %+v", got, want)
	}
	// The failure is cached too: creating the directory now changes nothing.
	write(t, filepath.Join(h.dir, "roots", "gone", "SKILL.md"), skillMD("gone"), 0o644)
	_, res := h.step(t, []string{"local"}, selected)
	if got, want := h.res.Cache().Stats(), (capability.CacheStats{Hits: 2, Misses: 2}); got != want {
		t.Errorf("after step 2 Stats() = %+v, want %+v", got, want)
	}
	if _, ok := unavailable(res, "gone"); !ok {
		t.Errorf("gone available in step 2, want the cached failure")
	}
	// Replacing the handle under the same id keeps the cache (stable key).
	local, err := environment.NewLocal(environment.LocalConfig{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	newHandle, err := h.reg.Register(environment.Registration{ID: "local", Env: local})
	if err != nil {
		t.Fatal(err)
	}
	_, res = h.step(t, []string{"local"}, selected)
	if a, ok := res.Root("beta"); !ok || a.Handle != newHandle {
		t.Errorf("beta = %+v, %v; want available on the new handle", a, ok)
	}
	if got, want := h.res.Cache().Stats(), (capability.CacheStats{Hits: 4, Misses: 2}); got != want {
		t.Errorf("after replacement Stats() = %+v, want %+v", got, want)
	}
	// A different path under the same id is a different key.
	moved := []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("beta", "local", filepath.Join(h.dir, "roots", "alpha"))}
	h.step(t, []string{"local"}, moved)
	if got := h.res.Cache().Stats().Misses; got != 3 {
		t.Errorf("Misses = %d after a path change, want 3", got)
	}
}

// flaky answers ErrUnavailable from RealPath until healed.
type flaky struct {
	*environment.Local
	mu     sync.Mutex
	broken bool
}

func (f *flaky) RealPath(ctx context.Context, p string) (string, error) {
	f.mu.Lock()
	broken := f.broken
	f.mu.Unlock()
	if broken {
		return "", fmt.Errorf("%w: connection reset", environment.ErrUnavailable)
	}
	return f.Local.RealPath(ctx, p)
}

func TestTransientDiscoveryFailureNotCached(t *testing.T) {
	h := newHarness(t)
	local, err := environment.NewLocal(environment.LocalConfig{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{Local: local, broken: true}
	if _, err := h.reg.Register(environment.Registration{ID: "flaky", Env: f}); err != nil {
		t.Fatal(err)
	}
	selected := []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("beta", "flaky", filepath.Join(h.dir, "roots", "beta"))}
	_, res := h.step(t, []string{"flaky"}, selected)
	if u, ok := unavailable(res, "beta"); !ok || !errors.Is(u.Err, environment.ErrUnavailable) {
		t.Fatalf("step 1: beta = %+v, %v; want unavailable (ErrUnavailable)", u, ok)
	}
	f.mu.Lock()
	f.broken = false
	f.mu.Unlock()
	_, res = h.step(t, []string{"flaky"}, selected)
	if _, ok := res.Root("beta"); !ok {
		t.Errorf("step 2: beta unavailable (%v), want a fresh discovery", res.Unavailable)
	}
}

func TestRemoteRootDiscovery(t *testing.T) {
	h := newHarness(t)
	local, err := environment.NewLocal(environment.LocalConfig{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, local)
	remote, err := environment.NewRemote(environment.RemoteConfig{URL: srv, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	hd, err := h.reg.Register(environment.Registration{ID: "remote", Env: remote})
	if err != nil {
		t.Fatal(err)
	}
	if err := hd.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	alpha := filepath.Join(h.dir, "roots", "alpha")
	_, viaRemote := h.step(t, []string{"remote"}, []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("alpha", "remote", alpha)})
	_, viaLocal := h.step(t, []string{"local"}, []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("alpha", "local", alpha)})
	r, ok1 := viaRemote.Root("alpha")
	l, ok2 := viaLocal.Root("alpha")
	if !ok1 || !ok2 || !reflect.DeepEqual(r.Skills, l.Skills) || !reflect.DeepEqual(r.Tools, l.Tools) {
		t.Errorf("remote discovery = %+v, local = %+v; want the same", r, l)
	}
	if !reflect.DeepEqual(viaRemote.Warnings, viaLocal.Warnings) {
		t.Errorf("remote warnings %q, local %q; want the same", viaRemote.Warnings, viaLocal.Warnings)
	}
}
