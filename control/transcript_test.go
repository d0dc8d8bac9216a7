package control

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// elapsed matches the time in an aborted call's output, which depends on
// how often the clock was read.
var elapsed = regexp.MustCompile(`after [0-9]+\.[0-9]s`)

var update = flag.Bool("update", false, "rewrite control/testdata/*.golden from the transcripts")

// TestTranscripts runs each testdata/*.txt script and compares the rendered
// trace with the matching .golden file (-update rewrites it). Commands:
//
//	spawn PARENT NAME "TASK"      spawn a child; unless model lines were given
//	                              for it, it answers "NAME done"
//	model PATH call TOOL ARGS     queue a model response for PATH: a tool call
//	                              (ids t1, t2, ... in script order)
//	model PATH text "TEXT"        queue a model response: a final answer
//	turn PATH "INPUT"             submit user input, wait for the turn, render
//	                              its calls, outputs and answers
//	submit PATH "INPUT"           submit without waiting (see await)
//	await PATH                    wait for the turn of the last submit, render it
//	waitcall PATH TOOL            wait until PATH is running a call of TOOL
//	wait PATH STATUS ["MESSAGE"]  wait until the agent at PATH has STATUS
//	                              (and that status message)
//	send FROM TO "TEXT"           queue mail (no turn)
//	tree                          render paths and statuses
//	edges                         render the spawn edges below the root
//	history PATH                  render PATH's model-visible history
//	restart                       close the runtime, open a new one, resume
//	                              the tree
//
// Mail (agent_message items) is rendered only by history: where it enters
// a running turn depends on timing, so turn and await leave it out.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runTranscript(t, f) })
	}
}

// interp is the state of one transcript run.
type interp struct {
	t      *testing.T
	e      *env
	root   *Agent
	out    strings.Builder
	calls  int
	routed map[string]bool // paths given model lines

	pending map[string]*pendingTurn // by path (submit)

	evMu    sync.Mutex
	started []string                    // "PATH TOOL" of tool calls started
	paths   map[rollout.ThreadID]string // every agent seen, closed ones too
	sub     *Subscription
	subDone chan struct{}
}

type pendingTurn struct {
	turn *agent.Turn
	from int // history length at submit
}

func runTranscript(t *testing.T, file string) {
	e := newEnv(t, nil)
	in := &interp{t: t, e: e, routed: map[string]bool{}, paths: map[rollout.ThreadID]string{},
		pending: map[string]*pendingTurn{}}
	in.root = e.start()
	in.setPath(in.root.ID(), "/root")
	in.subscribe()
	t.Cleanup(in.unsubscribe)
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(src)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fmt.Fprintf(&in.out, "> %s\n", line)
		in.run(line)
	}
	golden := strings.TrimSuffix(file, ".txt") + ".golden"
	if *update {
		if err := os.WriteFile(golden, []byte(in.out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got := in.out.String(); got != string(want) {
		t.Errorf("transcript %s:\n%s\nwant:\n%s", file, got, want)
	}
}

// fields splits line into at most n fields; the last keeps its spaces.
func fields(line string, n int) []string { return strings.SplitN(line, " ", n) }

func (in *interp) arg(line string, f []string, i int) string {
	in.t.Helper()
	if i >= len(f) {
		in.t.Fatalf("%s: missing argument %d", line, i)
	}
	if s, err := strconv.Unquote(f[i]); err == nil {
		return s
	}
	return f[i]
}

func (in *interp) node(p string) *node {
	in.t.Helper()
	in.e.rt.mu.Lock()
	defer in.e.rt.mu.Unlock()
	n := in.root.n.tree.byPath[p]
	if n == nil {
		in.t.Fatalf("no agent at %s", p)
	}
	return n
}

func (in *interp) run(line string) {
	t, e := in.t, in.e
	cmd, _, _ := strings.Cut(line, " ")
	switch cmd {
	case "spawn":
		f := fields(line, 4)
		parent := in.node(in.arg(line, f, 1))
		p, err := parent.path.Resolve(in.arg(line, f, 2))
		if err != nil {
			fmt.Fprintf(&in.out, "error: %v\n", err)
			return
		}
		e.rt.mu.Lock()
		taken := in.root.n.tree.byPath[p.String()] != nil
		e.rt.mu.Unlock()
		if !taken && !in.routed[p.String()] { // a refused spawn makes no request
			e.model.Route(modeltest.ForAgent(p.String()), modeltest.Text(in.arg(line, f, 2)+" done"))
		}
		child, err := e.rt.spawn(context.Background(), parent, p, spawnArgs{taskName: in.arg(line, f, 2), message: in.arg(line, f, 3), fork: ForkMode{Kind: ForkNone}})
		if err != nil {
			fmt.Fprintf(&in.out, "error: %v\n", err)
			return
		}
		in.setPath(child.id, child.path.String())
		fmt.Fprintf(&in.out, "spawned %s\n", p)
	case "model":
		f := fields(line, 5)
		p := in.arg(line, f, 1)
		in.routed[p] = true
		switch in.arg(line, f, 2) {
		case "call":
			in.calls++
			e.model.Route(modeltest.ForAgent(p), modeltest.CallID(fmt.Sprintf("t%d", in.calls), in.arg(line, f, 3), f[4]))
		case "text":
			f = fields(line, 4)
			e.model.Route(modeltest.ForAgent(p), modeltest.Text(in.arg(line, f, 3)))
		default:
			t.Fatalf("%s: want call or text", line)
		}
	case "turn", "submit":
		f := fields(line, 3)
		n := in.node(in.arg(line, f, 1))
		from := len(n.agent.History())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		turn, err := (&Agent{n: n}).Submit(ctx, in.arg(line, f, 2))
		if err != nil {
			t.Fatalf("%s: Submit = %v", line, err)
		}
		in.pending[n.path.String()] = &pendingTurn{turn: turn, from: from}
		if cmd == "turn" {
			in.await(n)
		}
	case "await":
		in.await(in.node(in.arg(line, fields(line, 2), 1)))
	case "waitcall":
		f := fields(line, 3)
		want := in.arg(line, f, 1) + " " + in.arg(line, f, 2)
		waitFor(t, want, func() bool {
			in.evMu.Lock()
			defer in.evMu.Unlock()
			return slices.Contains(in.started, want)
		})
		fmt.Fprintf(&in.out, "%s is in %s\n", in.arg(line, f, 1), in.arg(line, f, 2))
	case "wait":
		f := fields(line, 4)
		p, kind := in.arg(line, f, 1), StatusKind(in.arg(line, f, 2))
		if len(f) > 3 {
			msg := in.arg(line, f, 3)
			waitFor(t, line, func() bool {
				e.rt.mu.Lock()
				n := in.root.n.tree.byPath[p]
				e.rt.mu.Unlock()
				st := Status{}
				if n != nil {
					st = n.status()
				}
				return st.Kind == kind && st.Message == msg
			})
		} else {
			e.waitStatus(in.root, p, kind)
		}
		st := e.rt.Status(in.node(p).id)
		fmt.Fprintf(&in.out, "%s %s %q\n", p, st.Kind, st.Message)
	case "send":
		f := fields(line, 4)
		from, to := in.node(in.arg(line, f, 1)), in.node(in.arg(line, f, 2))
		msg := mailbox.Message{Author: from.path.String(), Recipient: to.path.String(),
			Content: []mailbox.Part{mailbox.Text(in.arg(line, f, 3))}}
		if err := e.rt.deliver(to, msg); err != nil {
			fmt.Fprintf(&in.out, "error: %v\n", err)
			return
		}
		fmt.Fprintf(&in.out, "queued %s -> %s\n", from.path, to.path)
	case "tree":
		infos, err := e.rt.Tree(in.root.ID())
		if err != nil {
			t.Fatalf("Tree() = %v", err)
		}
		for _, inf := range infos {
			fmt.Fprintf(&in.out, "%s %s\n", inf.Path, inf.Status.Kind)
		}
	case "edges":
		in.edges(in.root.ID())
	case "history":
		n := in.node(in.arg(line, fields(line, 2), 1))
		for _, it := range n.agent.History() {
			fmt.Fprintf(&in.out, "  %s\n", elapsed.ReplaceAllString(renderItem(&it), "after N.Ns"))
		}
	case "restart":
		in.unsubscribe()
		e.restart()
		root, err := e.rt.Resume(context.Background(), in.root.ID(), ThreadOptions{})
		if err != nil {
			t.Fatalf("Resume() = %v", err)
		}
		in.root = root
		in.pending = map[string]*pendingTurn{}
		in.subscribe()
		fmt.Fprintf(&in.out, "resumed %s\n", root.Path())
	default:
		t.Fatalf("unknown command %q", line)
	}
}

// await waits for the pending turn of n and renders what it added to the
// history (tool calls, outputs, answers) and how it ended.
func (in *interp) await(n *node) {
	in.t.Helper()
	p := in.pending[n.path.String()]
	if p == nil {
		in.t.Fatalf("no turn submitted to %s", n.path)
	}
	delete(in.pending, n.path.String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := p.turn.Wait(ctx)
	if err != nil {
		in.t.Fatalf("turn of %s: Wait = %v", n.path, err)
	}
	for _, it := range n.agent.History()[p.from:] {
		switch {
		case it.Type == rollout.ItemFunctionCall, it.Type == rollout.ItemFunctionCallOutput,
			it.Type == rollout.ItemMessage && it.Role == rollout.RoleAssistant:
			fmt.Fprintf(&in.out, "  %s\n", renderItem(&it))
		}
	}
	switch {
	case res.Aborted != "":
		fmt.Fprintf(&in.out, "%s turn aborted (%s)\n", n.path, res.Aborted)
	case res.Err != nil:
		fmt.Fprintf(&in.out, "%s turn errored: %s\n", n.path, res.Err.Message)
	default:
		fmt.Fprintf(&in.out, "%s turn completed %q\n", n.path, res.LastAgentMessage)
	}
}

// edges renders the spawn edges below id, breadth first.
func (in *interp) edges(id rollout.ThreadID) {
	queue := []rollout.ThreadID{id}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		es, err := in.e.index.ChildEdges(context.Background(), p)
		if err != nil {
			in.t.Fatalf("ChildEdges(%s) = %v", p, err)
		}
		for _, ed := range es {
			fmt.Fprintf(&in.out, "%s -> %s %s\n", in.pathOf(ed.Parent), in.pathOf(ed.Child), ed.Status)
			queue = append(queue, ed.Child)
		}
	}
}

// subscribe follows the tree's events to learn which tool calls started.
func (in *interp) subscribe() {
	sub, err := in.e.rt.Subscribe(in.root.ID())
	if err != nil {
		in.t.Fatalf("Subscribe() = %v", err)
	}
	in.sub, in.subDone = sub, make(chan struct{})
	go func() {
		defer close(in.subDone)
		for ev := range sub.C() {
			switch ev := ev.(type) {
			case *agent.ItemStarted:
				if c, ok := ev.Item.(*agent.DynamicToolCall); ok {
					p := in.pathOf(ev.ThreadID)
					in.evMu.Lock()
					in.started = append(in.started, p+" "+c.Tool)
					in.evMu.Unlock()
				}
			case *agent.ItemCompleted:
				if a, ok := ev.Item.(*agent.SubAgentActivity); ok {
					in.setPath(rollout.ThreadID(a.AgentThreadID), a.AgentPath)
				}
			}
		}
	}()
}

func (in *interp) setPath(id rollout.ThreadID, p string) {
	in.evMu.Lock()
	defer in.evMu.Unlock()
	in.paths[id] = p
}

// pathOf names thread id by its agent path.
func (in *interp) pathOf(id rollout.ThreadID) string {
	in.evMu.Lock()
	p, ok := in.paths[id]
	in.evMu.Unlock()
	if ok {
		return p
	}
	if n, err := in.e.rt.lookup(id); err == nil {
		return n.path.String()
	}
	return string(id)
}

func (in *interp) unsubscribe() {
	if in.sub != nil {
		in.sub.Close()
		<-in.subDone
		in.sub = nil
	}
}
