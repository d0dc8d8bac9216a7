package environment_test

import (
	"fmt"
	"testing"

	"github.com/troupe-run/troupe/environment"
)

// BenchmarkCapture measures one step's snapshot over 10 selected ready
// environments; BenchmarkLookup10 (ten registry lookups) is the baseline
// of the same run.
func BenchmarkCapture(b *testing.B) {
	reg := environment.NewRegistry(environment.RegistryConfig{})
	defer reg.Close()
	var sels []environment.Selection
	for i := range 10 {
		id := fmt.Sprintf("env%d", i)
		env, err := environment.NewLocal(environment.LocalConfig{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := reg.Register(environment.Registration{ID: id, Env: env}); err != nil {
			b.Fatal(err)
		}
		sels = append(sels, environment.Selection{EnvironmentID: id})
	}
	sels = reg.Select(sels)
	b.Run("Capture10", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if s := reg.Capture(sels); len(s.Entries()) != 10 {
				b.Fatal("short snapshot")
			}
		}
	})
	b.Run("Lookup10", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, s := range sels {
				if _, ok := reg.Lookup(s.EnvironmentID); !ok {
					b.Fatal("missing")
				}
			}
		}
	})
}
