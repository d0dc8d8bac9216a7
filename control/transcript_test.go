package control

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/mailbox"
)

var update = flag.Bool("update", false, "rewrite control/testdata/*.golden from the transcripts")

// TestTranscripts runs each testdata/*.txt script and compares the rendered
// trace with the matching .golden file (-update rewrites it). Commands:
//
//	spawn PARENT NAME "TASK"   spawn a child that answers "NAME done"
//	wait PATH STATUS           wait until the agent at PATH has STATUS
//	send FROM TO "TEXT"        queue mail (no turn)
//	tree                       render paths and statuses
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runTranscript(t, f) })
	}
}

func runTranscript(t *testing.T, file string) {
	e := newEnv(t, nil)
	root := e.start()
	byPath := func(p string) *node {
		e.rt.mu.Lock()
		defer e.rt.mu.Unlock()
		n := root.n.tree.byPath[p]
		if n == nil {
			t.Fatalf("no agent at %s", p)
		}
		return n
	}
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(src)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fmt.Fprintf(&out, "> %s\n", line)
		f := strings.SplitN(line, " ", 4)
		arg := func(i int) string {
			if i >= len(f) {
				t.Fatalf("%s: missing argument %d", line, i)
			}
			if s, err := strconv.Unquote(f[i]); err == nil {
				return s
			}
			return f[i]
		}
		switch f[0] {
		case "spawn":
			parent := byPath(arg(1))
			p, err := parent.path.Resolve(arg(2))
			if err != nil {
				fmt.Fprintf(&out, "error: %v\n", err)
				continue
			}
			e.rt.mu.Lock()
			taken := root.n.tree.byPath[p.String()] != nil
			e.rt.mu.Unlock()
			if !taken { // a refused spawn makes no request
				e.model.Route(modeltest.ForAgent(p.String()), modeltest.Text(arg(2)+" done"))
			}
			if _, err := e.rt.spawn(context.Background(), parent, p, spawnArgs{taskName: arg(2), message: arg(3), fork: ForkMode{Kind: ForkNone}}); err != nil {
				fmt.Fprintf(&out, "error: %v\n", err)
				continue
			}
			fmt.Fprintf(&out, "spawned %s\n", p)
		case "wait":
			e.waitStatus(root, arg(1), StatusKind(arg(2)))
			st := e.rt.Status(byPath(arg(1)).id)
			fmt.Fprintf(&out, "%s %s %q\n", arg(1), st.Kind, st.Message)
		case "send":
			from, to := byPath(arg(1)), byPath(arg(2))
			msg := mailbox.Message{Author: from.path.String(), Recipient: to.path.String(),
				Content: []mailbox.Part{mailbox.Text(arg(3))}}
			if err := e.rt.deliver(to, msg); err != nil {
				fmt.Fprintf(&out, "error: %v\n", err)
				continue
			}
			fmt.Fprintf(&out, "queued %s -> %s\n", from.path, to.path)
		case "tree":
			infos, err := e.rt.Tree(root.ID())
			if err != nil {
				t.Fatalf("Tree() = %v", err)
			}
			for _, in := range infos {
				fmt.Fprintf(&out, "%s %s\n", in.Path, in.Status.Kind)
			}
		default:
			t.Fatalf("unknown command %q", line)
		}
	}
	golden := strings.TrimSuffix(file, ".txt") + ".golden"
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("transcript %s:\n%s\nwant:\n%s", file, got, want)
	}
}
