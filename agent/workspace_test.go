package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/environment"
	"github.com/troupe-run/troupe/environment/envtest"
	"github.com/troupe-run/troupe/rollout"
)

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// kitDir makes an environment directory holding a capability root "kit"
// (skill "review", tool "echo" that prints its arguments) and returns the
// directory's real path and the root's path.
func kitDir(t testing.TB) (dir, kit string) {
	t.Helper()
	dir, _ = filepath.EvalSymlinks(t.TempDir())
	kit = filepath.Join(dir, "kit")
	writeFile(t, filepath.Join(kit, "skills", "review", "SKILL.md"), "---\nname: review\ndescription: Review a diff\n---\nLook closely.\n", 0o644)
	writeFile(t, filepath.Join(kit, "bin", "echo-args"), "#!/bin/sh\ncat\n", 0o755)
	writeFile(t, filepath.Join(kit, "tools.json"), `{"tools":[{"name":"echo","description":"Echo the arguments","parameters":{"type":"object","properties":{"x":{"type":"integer"}}},"command":["bin/echo-args"]}]}`, 0o644)
	return dir, kit
}

func newLocal(t testing.TB, dir string) *environment.Local {
	t.Helper()
	l, err := environment.NewLocal(environment.LocalConfig{Dir: dir, Shell: environment.Shell{Name: "bash", Path: "/bin/bash"}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newRegistry(t testing.TB) *environment.Registry {
	t.Helper()
	reg := environment.NewRegistry(environment.RegistryConfig{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { reg.Close() })
	return reg
}

func toolNames(req *agent.Request) []string {
	var out []string
	for _, s := range req.Tools {
		out = append(out, s.Name)
	}
	return out
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func allText(req *agent.Request) string {
	var b strings.Builder
	for _, it := range req.Input {
		for _, p := range it.Content {
			b.WriteString(p.Text)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// TestWorkspaceLazyRoot: a root on a lazily started environment is
// unavailable while the environment starts; its skill and tool appear in
// the world state and the tools only from the step after the environment
// became ready; the tool runs in that environment; when the environment is
// replaced by one that fails, the root and its tool disappear and the diff
// says so.
func TestWorkspaceLazyRoot(t *testing.T) {
	localDir := t.TempDir()
	workerDir, kit := kitDir(t)
	reg := newRegistry(t)
	if _, err := reg.Register(environment.Registration{ID: environment.LocalID, Env: newLocal(t, localDir)}); err != nil {
		t.Fatal(err)
	}
	fake := envtest.NewFake(newLocal(t, workerDir))
	worker, err := reg.Register(environment.Registration{ID: "worker", Env: fake, Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	bringUp := capability.Func{
		S: capability.Spec{Name: "bring_up", Description: "starts the worker"},
		Fn: func(ctx context.Context, _ capability.Call) (capability.Output, error) {
			fake.Release()
			if err := worker.Wait(ctx); err != nil {
				return capability.Output{}, err
			}
			return capability.Output{Text: "up"}, nil
		},
	}
	ws, err := agent.NewWorkspace(agent.WorkspaceConfig{
		Registry:     reg,
		Environments: []environment.Selection{{EnvironmentID: environment.LocalID}, {EnvironmentID: "worker", Cwd: workerDir}},
		Roots:        []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("kit", "worker", kit)},
		Tools:        []capability.Tool{bringUp},
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	model := modeltest.New(t,
		modeltest.Respond(modeltest.CallID("c1", "bring_up", `{}`)),
		modeltest.Respond(modeltest.CallID("c2", "echo", `{"x":7}`)),
		modeltest.Text("done"),
		modeltest.Text("second"))
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	h := start(t, model, withSteps(ws), func(c *agent.Config) { c.Now = func() time.Time { return now } })
	h.run("work")

	r0, r1 := model.Request(0), model.Request(1)
	if has(toolNames(r0), "echo") {
		t.Errorf("step 0 tools = %q, want no echo (worker starting)", toolNames(r0))
	}
	t0 := allText(r0)
	for _, want := range []string{`<environment id="worker">`, "<status>starting</status>", `<root id="kit" status="unavailable">`, "is starting", "<current_date>2026-11-25</current_date>", "<timezone>UTC</timezone>"} {
		if !strings.Contains(t0, want) {
			t.Errorf("step 0 world state lacks %q:\n%s", want, t0)
		}
	}
	if strings.Contains(t0, `name="review"`) {
		t.Errorf("step 0 shows the skill before the environment is ready:\n%s", t0)
	}
	if !has(toolNames(r1), "echo") {
		t.Errorf("step 1 tools = %q, want echo", toolNames(r1))
	}
	t1 := strings.TrimPrefix(allText(r1), t0)
	for _, want := range []string{`<environment id="worker">`, "<shell>bash</shell>", `<skill name="review" path="` + filepath.Join(kit, "skills", "review", "SKILL.md") + `">Review a diff</skill>`, `<tool name="echo" />`} {
		if !strings.Contains(t1, want) {
			t.Errorf("step 1 diff lacks %q:\n%s", want, t1)
		}
	}
	if strings.Contains(t1, `<environment id="local">`) {
		t.Errorf("step 1 diff restates unchanged values:\n%s", t1)
	}
	if out, ok := modeltest.Output(model.Request(2), "c2"); !ok || out != `{"x":7}` {
		t.Errorf("echo output = %q, %v; want the arguments", out, ok)
	}

	// The worker is replaced by a handle that fails: next turn, the root
	// and its tool are gone and the diff says so.
	bad := envtest.NewFake(newLocal(t, workerDir))
	nh, err := reg.Register(environment.Registration{ID: "worker", Env: bad})
	if err != nil {
		t.Fatal(err)
	}
	bad.Fail(errors.New("host unreachable"))
	<-nh.Done()
	h.run("again")
	r3 := model.Request(3)
	if has(toolNames(r3), "echo") {
		t.Errorf("after the failure tools = %q, want no echo", toolNames(r3))
	}
	t3 := strings.TrimPrefix(allText(r3), allText(model.Request(2)))
	for _, want := range []string{`<environment id="worker" status="unavailable" />`, `<root id="kit" status="unavailable">`, "host unreachable"} {
		if !strings.Contains(t3, want) {
			t.Errorf("diff after the failure lacks %q:\n%s", want, t3)
		}
	}
	ws0 := worldRecords(h.rec.items)
	if len(ws0) != 3 || !strings.HasPrefix(ws0[0], "full:") || !strings.HasPrefix(ws0[1], "patch:") || !strings.HasPrefix(ws0[2], "patch:") {
		t.Errorf("world_state records = %q, want full, patch, patch", ws0)
	}
	// The durable selection is untouched.
	if got := ws.Roots(); len(got) != 1 || got[0].ID != "kit" {
		t.Errorf("Roots() = %v, want the selection unchanged", got)
	}
}

// TestWorkspaceStepKeepsHandle: a tool advertised by a step runs against
// the handle that step captured, even if the registry replaces it before
// the call runs.
func TestWorkspaceStepKeepsHandle(t *testing.T) {
	dirA, kit := kitDir(t)
	reg := newRegistry(t)
	if _, err := reg.Register(environment.Registration{ID: "w", Env: newLocal(t, dirA)}); err != nil {
		t.Fatal(err)
	}
	ws, err := agent.NewWorkspace(agent.WorkspaceConfig{Registry: reg,
		Roots:  []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("kit", "w", kit)},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	step, err := ws.CaptureStep(context.Background(), agent.StepInfo{TurnID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	// Replace w by an environment whose start never ends.
	if _, err := reg.Register(environment.Registration{ID: "w", Env: envtest.NewFake(newLocal(t, t.TempDir()))}); err != nil {
		t.Fatal(err)
	}
	out, err := step.Tools.Invoke(context.Background(), capability.Call{ID: "c", Name: "echo", Arguments: json.RawMessage(`{"x":1}`)})
	if err != nil || out.IsError || out.Text != `{"x":1}` {
		t.Errorf("echo on the captured handle = %+v, %v; want the arguments", out, err)
	}
	next, err := ws.CaptureStep(context.Background(), agent.StepInfo{TurnID: "t1", Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := next.Tools.Lookup("echo"); ok {
		t.Errorf("next step advertises echo while w is starting")
	}
}

// TestWorkspaceSelectionPerTurn: SetEnvironments takes effect at the next
// turn, never within one.
func TestWorkspaceSelectionPerTurn(t *testing.T) {
	reg := newRegistry(t)
	for _, id := range []string{"a", "b"} {
		if _, err := reg.Register(environment.Registration{ID: id, Env: newLocal(t, t.TempDir())}); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := agent.NewWorkspace(agent.WorkspaceConfig{Registry: reg, Environments: []environment.Selection{{EnvironmentID: "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	envs := func(turn string, i int) []string {
		s, err := ws.CaptureStep(context.Background(), agent.StepInfo{TurnID: turn, Index: i})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for id := range s.Sections[0].(*agent.EnvironmentsSection).Environments {
			ids = append(ids, id)
		}
		return ids
	}
	envs("t1", 0)
	ws.SetEnvironments([]environment.Selection{{EnvironmentID: "b"}})
	if got := envs("t1", 1); !equal(got, []string{"a"}) {
		t.Errorf("same turn after SetEnvironments = %q, want [a]", got)
	}
	if got := envs("t2", 0); !equal(got, []string{"b"}) {
		t.Errorf("next turn = %q, want [b]", got)
	}
}

// TestEnvironmentsRender checks the environments section's fragments
// (Codex's render cases).
func TestEnvironmentsRender(t *testing.T) {
	two := &agent.EnvironmentsSection{Environments: map[string]agent.EnvironmentState{
		"devbox": {Cwd: "/workspace", Status: agent.EnvAvailable, Shell: "bash"},
		"laptop": {Cwd: "/repo", Status: agent.EnvAvailable, Shell: "zsh"}}}
	prior := func(s string) agent.Prior { return agent.Prior{Kind: agent.PriorKnown, State: json.RawMessage(s)} }
	tests := []struct {
		name  string
		s     *agent.EnvironmentsSection
		prior agent.Prior
		want  string // "" = no fragment
	}{
		{"absent lists all", two, agent.Prior{}, "<environment_context>\n  <environments>\n    <environment id=\"devbox\">\n      <cwd>/workspace</cwd>\n      <shell>bash</shell>\n    </environment>\n    <environment id=\"laptop\">\n      <cwd>/repo</cwd>\n      <shell>zsh</shell>\n    </environment>\n  </environments>\n</environment_context>"},
		{"unknown lists all", two, agent.Prior{Kind: agent.PriorUnknown}, "<environment_context>\n  <environments>\n    <environment id=\"devbox\">\n      <cwd>/workspace</cwd>\n      <shell>bash</shell>\n    </environment>\n    <environment id=\"laptop\">\n      <cwd>/repo</cwd>\n      <shell>zsh</shell>\n    </environment>\n  </environments>\n</environment_context>"},
		{"removal and start", &agent.EnvironmentsSection{Environments: map[string]agent.EnvironmentState{
			"devbox": {Cwd: "/workspace", Status: agent.EnvAvailable, Shell: "bash"},
			"remote": {Cwd: "/remote", Status: agent.EnvStarting}}},
			prior(`{"environments":{"devbox":{"cwd":"/workspace","status":"available","shell":"bash"},"old":{"cwd":"/old","status":"available"}}}`),
			"<environment_context>\n  <environments>\n    <environment id=\"old\" status=\"unavailable\" />\n    <environment id=\"remote\">\n      <cwd>/remote</cwd>\n      <status>starting</status>\n    </environment>\n  </environments>\n</environment_context>"},
		{"date change restates date and zone", &agent.EnvironmentsSection{Environments: map[string]agent.EnvironmentState{"local": {Cwd: "/repo", Status: agent.EnvAvailable, Shell: "zsh"}}, CurrentDate: "2026-06-20", Timezone: "UTC"},
			prior(`{"environments":{"local":{"cwd":"/repo","status":"available","shell":"zsh"}},"current_date":"2026-06-19","timezone":"UTC"}`),
			"<environment_context>\n  <current_date>2026-06-20</current_date>\n  <timezone>UTC</timezone>\n</environment_context>"},
		{"single environment is flat", &agent.EnvironmentsSection{Environments: map[string]agent.EnvironmentState{"local": {Cwd: "/repo", Status: agent.EnvAvailable, Shell: "zsh"}}}, agent.Prior{},
			"<environment_context>\n  <cwd>/repo</cwd>\n  <shell>zsh</shell>\n</environment_context>"},
		{"shell becoming known is no update", &agent.EnvironmentsSection{Environments: map[string]agent.EnvironmentState{"local": {Cwd: "/repo", Status: agent.EnvAvailable, Shell: "zsh"}}},
			prior(`{"environments":{"local":{"cwd":"/repo","status":"available"}}}`), ""},
		{"all gone", &agent.EnvironmentsSection{}, prior(`{"environments":{"local":{"cwd":"/repo","status":"available","shell":"bash"}}}`),
			"<environment_context>\n  <environments>\n    <environment id=\"local\" status=\"unavailable\" />\n  </environments>\n</environment_context>"},
		{"stored snapshot of another shape", two, prior(`{"invalid":true}`), "<environment_context>\n  <environments>\n    <environment id=\"devbox\">\n      <cwd>/workspace</cwd>\n      <shell>bash</shell>\n    </environment>\n    <environment id=\"laptop\">\n      <cwd>/repo</cwd>\n      <shell>zsh</shell>\n    </environment>\n  </environments>\n</environment_context>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := tc.s.Render(tc.prior)
			if tc.want == "" {
				if ok {
					t.Fatalf("Render = %q, want no fragment", f.Text)
				}
				return
			}
			if !ok || f.Text != tc.want || f.Role != rollout.RoleUser {
				t.Errorf("Render = %v %s %q, want user %q", ok, f.Role, f.Text, tc.want)
			}
		})
	}
}

// TestWorkspaceDisconnected: an environment that loses its connection
// after starting shows as disconnected, and the diff says so; the same
// section value is handed back while nothing changes.
func TestWorkspaceDisconnected(t *testing.T) {
	reg := newRegistry(t)
	fake := envtest.NewFake(newLocal(t, t.TempDir()))
	h, err := reg.Register(environment.Registration{ID: "w", Env: fake})
	if err != nil {
		t.Fatal(err)
	}
	fake.Release()
	if err := h.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ws, err := agent.NewWorkspace(agent.WorkspaceConfig{Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	capture := func(i int) *agent.EnvironmentsSection {
		s, err := ws.CaptureStep(context.Background(), agent.StepInfo{TurnID: "t", Index: i})
		if err != nil {
			t.Fatal(err)
		}
		return s.Sections[0].(*agent.EnvironmentsSection)
	}
	first := capture(0)
	if again := capture(1); again != first {
		t.Errorf("unchanged environments section was rebuilt")
	}
	fake.SetDisconnected(errors.New("link down"))
	lost := capture(2)
	if got := lost.Environments["w"].Status; got != agent.EnvDisconnected {
		t.Fatalf("status = %q, want %q", got, agent.EnvDisconnected)
	}
	prev, _ := json.Marshal(first)
	f, ok := lost.Render(agent.Prior{Kind: agent.PriorKnown, State: prev})
	if !ok || !strings.Contains(f.Text, "<status>disconnected</status>") {
		t.Errorf("diff = %v %q, want the disconnected status", ok, f.Text)
	}
}

// TestRootsRender checks the capability roots section's fragments.
func TestRootsRender(t *testing.T) {
	kit := agent.RootState{Status: agent.RootAvailable, Environment: "w", Path: "/k",
		Skills: []agent.SkillState{{Name: "review", Description: "Review <diffs>", Path: "/k/SKILL.md"}}, Tools: []string{"echo"}}
	prior := func(s string) agent.Prior { return agent.Prior{Kind: agent.PriorKnown, State: json.RawMessage(s)} }
	known := `{"roots":{"kit":{"status":"available","environment":"w","path":"/k","skills":[{"name":"review","description":"Review <diffs>","path":"/k/SKILL.md"}],"tools":["echo"]},"old":{"status":"available","environment":"w","path":"/o"}}}`
	tests := []struct {
		name  string
		s     *agent.RootsSection
		prior agent.Prior
		want  []string // substrings; nil = no fragment
		not   []string
	}{
		{"absent", &agent.RootsSection{Roots: map[string]agent.RootState{"kit": kit}}, agent.Prior{},
			[]string{"Capability roots offer", `<root id="kit" environment="w" path="/k">`, `<skill name="review" path="/k/SKILL.md">Review &lt;diffs&gt;</skill>`, `<tool name="echo" />`}, nil},
		{"empty absent", &agent.RootsSection{}, agent.Prior{}, nil, nil},
		{"gone and unchanged", &agent.RootsSection{Roots: map[string]agent.RootState{"kit": kit}}, prior(known),
			[]string{`<root id="old" status="unavailable" />`}, []string{`<root id="kit"`, "Capability roots offer"}},
		{"now unavailable", &agent.RootsSection{Roots: map[string]agent.RootState{"kit": {Status: agent.RootUnavailable, Environment: "w", Path: "/k", Reason: "environment `w` failed"}, "old": {Status: agent.RootAvailable, Environment: "w", Path: "/o"}}}, prior(known),
			[]string{"<root id=\"kit\" status=\"unavailable\">environment `w` failed</root>"}, []string{`<root id="old"`}},
		{"nothing changed", &agent.RootsSection{Roots: map[string]agent.RootState{"kit": kit, "old": {Status: agent.RootAvailable, Environment: "w", Path: "/o"}}}, prior(known), nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := tc.s.Render(tc.prior)
			if tc.want == nil {
				if ok {
					t.Fatalf("Render = %q, want no fragment", f.Text)
				}
				return
			}
			if !ok || f.Role != rollout.RoleDeveloper {
				t.Fatalf("Render = %v %s, want a developer fragment", ok, f.Role)
			}
			for _, w := range tc.want {
				if !strings.Contains(f.Text, w) {
					t.Errorf("fragment lacks %q:\n%s", w, f.Text)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(f.Text, w) {
					t.Errorf("fragment has %q:\n%s", w, f.Text)
				}
			}
		})
	}
}
