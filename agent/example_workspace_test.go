package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/environment"
)

// A Workspace captures each step from an environment registry: the tools
// a capability root declares join the advertised tools, and the step's
// world state lists the environments and the roots.
func ExampleWorkspace() {
	dir, _ := os.MkdirTemp("", "workspace-example")
	defer os.RemoveAll(dir)
	dir, _ = filepath.EvalSymlinks(dir)
	kit := filepath.Join(dir, "kit")
	os.MkdirAll(filepath.Join(kit, "skills", "review"), 0o755)
	os.WriteFile(filepath.Join(kit, "skills", "review", "SKILL.md"), []byte("---\nname: review\ndescription: Review a diff\n---\nLook closely.\n"), 0o644)
	os.WriteFile(filepath.Join(kit, "tools.json"), []byte(`{"tools":[{"name":"lint","description":"Lint","command":["true"]}]}`), 0o644)

	reg := environment.NewRegistry(environment.RegistryConfig{})
	defer reg.Close()
	local, _ := environment.NewLocal(environment.LocalConfig{Dir: dir, Shell: environment.Shell{Name: "bash", Path: "/bin/bash"}})
	reg.Register(environment.Registration{ID: environment.LocalID, Env: local})

	ws, err := agent.NewWorkspace(agent.WorkspaceConfig{
		Registry: reg,
		Roots:    []capability.SelectedCapabilityRoot{capability.EnvironmentRoot("kit", environment.LocalID, kit)},
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	// An agent calls CaptureStep at the top of each step (agent.Config.Steps = ws).
	step, _ := ws.CaptureStep(context.Background(), agent.StepInfo{TurnID: "turn-1", Now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)})
	for _, s := range step.Tools.Specs() {
		fmt.Println("tool:", s.Name)
	}
	for _, s := range step.Sections {
		fmt.Println("section:", s.SectionID())
	}
	roots := step.Sections[1].(*agent.RootsSection)
	fmt.Println("kit skills:", roots.Roots["kit"].Skills[0].Name)
	// Output:
	// tool: lint
	// section: environments
	// section: capability_roots
	// kit skills: review
}
