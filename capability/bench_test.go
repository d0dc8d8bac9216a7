package capability_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/environment"
)

// BenchmarkResolve measures one step's capability-root resolution over 10
// ready environments and 100 selected roots (10 per environment, each with
// two skills and a tools.json), discovery cache warm. Capture (the step's
// environment snapshot) is the baseline of the same run. DiscoverHit and
// DiscoverMiss compare one root answered by the cache with one read
// through a local environment.
func BenchmarkResolve(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	dir, _ = filepath.EvalSymlinks(dir)
	reg := environment.NewRegistry(environment.RegistryConfig{})
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
		sels = append(sels, environment.Selection{EnvironmentID: envID})
		for r := range 10 {
			p := filepath.Join(dir, fmt.Sprintf("root-%d-%d", e, r))
			write(b, filepath.Join(p, "SKILL.md"), skillMD(fmt.Sprintf("s%d%d", e, r)), 0o644)
			write(b, filepath.Join(p, "skills", "extra", "SKILL.md"), skillMD("extra"), 0o644)
			write(b, filepath.Join(p, "tools.json"), `{"tools":[{"name":"t","description":"d","command":["cat"]}]}`, 0o644)
			roots = append(roots, capability.EnvironmentRoot(fmt.Sprintf("root-%d-%d", e, r), envID, p))
		}
	}
	sels = reg.Select(sels)
	res, err := capability.NewResolver(capability.ResolverConfig{Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	snap := reg.Capture(sels)
	if got := res.Resolve(ctx, snap, roots); len(got.Available) != 100 {
		b.Fatalf("warm-up resolved %d roots (%v), want 100", len(got.Available), got.Unavailable)
	}
	b.Run("Capture", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reg.Capture(sels)
		}
	})
	b.Run("Resolve10x100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if got := res.Resolve(ctx, reg.Capture(sels), roots); len(got.Available) != 100 {
				b.Fatal("short resolution")
			}
		}
	})
	h, _ := reg.Lookup("env0")
	b.Run("DiscoverHit", func(b *testing.B) {
		cache := capability.NewDiscoveryCache()
		cache.Discover(ctx, h.Environment(), roots[0])
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cache.Discover(ctx, h.Environment(), roots[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DiscoverMiss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := capability.NewDiscoveryCache().Discover(ctx, h.Environment(), roots[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
