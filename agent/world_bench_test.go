package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/environment"
)

// BenchmarkWorldStep measures one model step's capture, capability-root
// resolution and world-state diff over 10 ready environments and 100
// selected roots (10 per environment, each with two skills and a declared
// tool), discovery cache warm. Capture (the registry's snapshot alone) and
// Resolve (capture + resolution) are the baselines of the same run;
// CaptureStep adds the tool set and the sections; Unchanged adds the diff
// against an equal baseline (nothing recorded, the usual step); Changed
// alternates one environment's cwd so every step renders a fragment and a
// merge patch.
func BenchmarkWorldStep(b *testing.B) {
	ctx := context.Background()
	dir, _ := filepath.EvalSymlinks(b.TempDir())
	reg := environment.NewRegistry(environment.RegistryConfig{Logger: slog.New(slog.DiscardHandler)})
	defer reg.Close()
	var sels []environment.Selection
	var roots []capability.SelectedCapabilityRoot
	for e := range 10 {
		envID := fmt.Sprintf("env%d", e)
		env, err := environment.NewLocal(environment.LocalConfig{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := reg.Register(environment.Registration{ID: envID, Env: env}); err != nil {
			b.Fatal(err)
		}
		sels = append(sels, environment.Selection{EnvironmentID: envID, Cwd: dir})
		for r := range 10 {
			p := filepath.Join(dir, fmt.Sprintf("root-%d-%d", e, r))
			for _, skill := range []string{"a", "b"} {
				benchWrite(b, filepath.Join(p, "skills", skill, "SKILL.md"), fmt.Sprintf("---\nname: %s%d%d\ndescription: skill %s\n---\nDo it.\n", skill, e, r, skill))
			}
			benchWrite(b, filepath.Join(p, "tools.json"), fmt.Sprintf(`{"tools":[{"name":"t%d_%d","description":"d","command":["cat"]}]}`, e, r))
			roots = append(roots, capability.EnvironmentRoot(fmt.Sprintf("root-%d-%d", e, r), envID, p))
		}
	}
	logger := slog.New(slog.DiscardHandler)
	ws, err := NewWorkspace(WorkspaceConfig{Registry: reg, Environments: sels, Roots: roots, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	info := StepInfo{TurnID: "t", Now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	step, err := ws.CaptureStep(ctx, info)
	if err != nil {
		b.Fatal(err)
	}
	if n := len(step.Tools.Specs()); n != 100 {
		b.Fatalf("warm-up advertised %d tools, want 100", n)
	}
	resolver, _ := capability.NewResolver(capability.ResolverConfig{Registry: reg, Logger: logger})
	resolver.Resolve(ctx, reg.Capture(sels), roots)

	b.Run("Capture", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reg.Capture(sels)
		}
	})
	b.Run("Resolve", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resolver.Resolve(ctx, reg.Capture(sels), roots)
		}
	})
	b.Run("CaptureStep", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ws.CaptureStep(ctx, info); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Unchanged", func(b *testing.B) {
		var w worldState
		ch, _, _ := w.diff(step.Sections)
		w.set(ch.state)
		b.ReportAllocs()
		for b.Loop() {
			s, err := ws.CaptureStep(ctx, info)
			if err != nil {
				b.Fatal(err)
			}
			ch, _, err := w.diff(s.Sections)
			if err != nil || ch.record != nil {
				b.Fatalf("unchanged step recorded %v (%v)", ch.record, err)
			}
		}
	})
	b.Run("Changed", func(b *testing.B) {
		var w worldState
		ch, _, _ := w.diff(step.Sections)
		w.set(ch.state)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			s, err := ws.CaptureStep(ctx, info)
			if err != nil {
				b.Fatal(err)
			}
			i++
			// A new section value: the captured one must not change.
			env := *s.Sections[0].(*EnvironmentsSection)
			env.Environments = maps.Clone(env.Environments)
			st := env.Environments["env3"]
			st.Cwd = fmt.Sprintf("/w/%d", i%2)
			env.Environments["env3"] = st
			s.Sections[0] = &env
			ch, _, err := w.diff(s.Sections)
			if err != nil || ch.record == nil || ch.record.Full {
				b.Fatalf("changed step recorded %v (%v)", ch.record, err)
			}
			w.set(ch.state)
		}
	})
}

func benchWrite(b *testing.B, path, content string) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}
