package scenario_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/control"
	"github.com/troupe-run/troupe/examples/scenario"
)

// TestSequencerScriptErrors: a script that does not match what the agents
// do ends the turn with a clear error instead of hanging, and Close
// reports the steps never served.
func TestSequencerScriptErrors(t *testing.T) {
	tests := []struct {
		name     string
		steps    []scenario.Step
		wantTurn string // in the turn's error
		wantLeft bool   // Close reports unserved steps
	}{
		{"step for an agent that never asks", []scenario.Step{{Agent: "/root/nobody", Reply: modeltest.Text("hi")}}, "stuck", true},
		{"more requests than steps", []scenario.Step{{Agent: "/root", Reply: modeltest.Call("sleep", `{"duration_ms":1}`)}}, "no response left", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noLeak(t)
			ctx := context.Background()
			seq := scenario.NewSequencer(io.Discard, tt.steps...)
			seq.Stuck = 50 * time.Millisecond
			rt, err := control.Open(ctx, control.Config{Home: t.TempDir(), Model: seq})
			if err != nil {
				t.Fatal(err)
			}
			root, err := rt.Start(ctx, control.ThreadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			turn, err := root.Submit(ctx, "hello")
			if err != nil {
				t.Fatal(err)
			}
			res, err := turn.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.Err == nil || !errors.Is(res.Err, scenario.ErrScript) || !strings.Contains(res.Err.Message, tt.wantTurn) {
				t.Errorf("turn error = %v, want ErrScript with %q", res.Err, tt.wantTurn)
			}
			if err := rt.Close(); err != nil {
				t.Fatal(err)
			}
			if err := seq.Trace().Close(); err != nil {
				t.Fatal(err)
			}
			if err := seq.Close(); (err != nil) != tt.wantLeft {
				t.Errorf("Close() = %v, want an error: %v", err, tt.wantLeft)
			}
		})
	}
}
