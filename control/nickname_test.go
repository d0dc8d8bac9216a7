package control

import (
	"context"
	"testing"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/rollout"
)

func TestFormatNickname(t *testing.T) {
	for _, tt := range []struct {
		resets int
		want   string
	}{
		{0, "Plato"}, {1, "Plato the 2nd"}, {2, "Plato the 3rd"}, {3, "Plato the 4th"},
		{9, "Plato the 10th"}, {10, "Plato the 11th"}, {11, "Plato the 12th"}, {12, "Plato the 13th"},
		{20, "Plato the 21st"}, {21, "Plato the 22nd"}, {22, "Plato the 23rd"},
		{100, "Plato the 101st"}, {110, "Plato the 111th"}, {111, "Plato the 112th"},
	} {
		if got := formatNickname("Plato", tt.resets); got != tt.want {
			t.Errorf("formatNickname(Plato, %d) = %q, want %q", tt.resets, got, tt.want)
		}
	}
}

func TestNicknamePick(t *testing.T) {
	first := func(int) int { return 0 }
	var ns nicknames
	var got []string
	for range 4 {
		got = append(got, ns.pick([]string{"alpha", "beta"}, first))
	}
	want := []string{"alpha", "beta", "alpha the 2nd", "beta the 2nd"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("picks = %q, want %q", got, want)
		}
	}
	if ns.resets != 1 {
		t.Errorf("resets = %d, want 1", ns.resets)
	}
	// A restored name is never handed out again.
	var rs nicknames
	rs.keep("alpha")
	if got := rs.pick([]string{"alpha", "beta"}, first); got != "beta" {
		t.Errorf("pick after keep(alpha) = %q, want beta", got)
	}
	// A restored name of a later round moves the rounds on.
	var ls nicknames
	ls.keep("alpha")
	ls.keep("alpha the 3rd")
	if got := ls.pick([]string{"alpha"}, first); got != "alpha the 4th" {
		t.Errorf("pick after keep(alpha the 3rd) = %q, want alpha the 4th", got)
	}
	for name, want := range map[string]int{"Ada": 0, "Ada the 2nd": 1, "Ada the 21st": 20, "Ada the 2th": 0, "Ada the 1st": 0, "the 5th": 0, "Mel the x": 0} {
		if got := nicknameResets(name); got != want {
			t.Errorf("nicknameResets(%q) = %d, want %d", name, got, want)
		}
	}
	if got := rs.pick(nil, first); got != "" {
		t.Errorf("pick(no candidates) = %q, want empty", got)
	}
}

// TestSpawnedNicknames: every spawned agent gets a nickname (the role's
// candidates first), recorded in its session_meta and its thread_spawn
// source; a resumed tree keeps them and does not hand them out again.
func TestSpawnedNicknames(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Nicknames = []string{"Ada"}
		c.Roles = map[string]Role{"checker": {Description: "checks", NicknameCandidates: []string{"Atlas"}}}
	})
	m := e.model
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c1", "spawn_agent", `{"task_name":"a","message":"x","fork_turns":"none"}`),
		modeltest.CallID("c2", "spawn_agent", `{"task_name":"b","message":"x","fork_turns":"none","agent_type":"checker"}`),
		modeltest.CallID("c3", "spawn_agent", `{"task_name":"c","message":"x","fork_turns":"none"}`),
		modeltest.Text("spawned"))
	for _, p := range []string{"/root/a", "/root/b", "/root/c"} {
		m.Route(modeltest.ForAgent(p), modeltest.Text("ok"))
	}
	root := e.start()
	e.submit(root, "spawn three")
	want := map[string]string{"/root/a": "Ada", "/root/b": "Atlas", "/root/c": "Ada the 2nd"}
	ids := map[string]rollout.ThreadID{}
	for p, nick := range want {
		n := e.waitStatus(root, p, StatusCompleted)
		ids[p] = n.id
		meta, err := rollout.ReadMeta(n.rec.Path())
		if err != nil {
			t.Fatal(err)
		}
		spawn, ok := meta.SubagentSpawn()
		if meta.AgentNickname != nick || !ok || spawn.AgentNickname != nick {
			t.Errorf("%s: session_meta agent_nickname %q, source nickname %q, want %q", p, meta.AgentNickname, spawn.AgentNickname, nick)
		}
	}

	e.restart()
	res, err := e.rt.Resume(context.Background(), root.ID(), ThreadOptions{})
	if err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	infos, err := e.rt.Tree(res.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, inf := range infos {
		if w := want[inf.Path.String()]; inf.Nickname != w {
			t.Errorf("resumed %s nickname = %q, want %q", inf.Path, inf.Nickname, w)
		}
	}
	m.Route(modeltest.ForAgent("/root"),
		modeltest.CallID("c4", "spawn_agent", `{"task_name":"d","message":"x","fork_turns":"none"}`),
		modeltest.Text("spawned d"))
	m.Route(modeltest.ForAgent("/root/d"), modeltest.Text("ok"))
	e.submit(res, "spawn d")
	d := e.waitStatus(res, "/root/d", StatusCompleted)
	if d.nickname != "Ada the 3rd" {
		t.Errorf("nickname after resume = %q, want %q (Ada and Ada the 2nd are taken)", d.nickname, "Ada the 3rd")
	}
}
