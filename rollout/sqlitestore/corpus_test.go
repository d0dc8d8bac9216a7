package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/troupe-run/troupe/rollout"
)

// corpusScenarios are the Codex 0.169 scenarios copied under
// testdata/codex-0.169 (rollouts plus Codex's own state_5.sqlite).
var corpusScenarios = []string{"simple", "tools", "multiagent", "sleep", "compaction"}

// copyTree copies dir src to dst with writable permissions.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// codexThread is what Codex's state_5.sqlite says about a thread.
type codexThread struct {
	ID, Source, ThreadSource, Provider, Model, Cwd, Title, Preview string
	AgentPath, AgentNickname, AgentRole, Originator, HistoryMode   string
	Archived                                                       bool
	Tokens                                                         int64
	CreatedMS                                                      int64
	Parent                                                         string
}

func readCodexDB(t *testing.T, path string) map[string]codexThread {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT t.id, t.source, coalesce(t.thread_source,''), t.model_provider, coalesce(t.model,''), t.cwd,
 t.title, t.preview, coalesce(t.agent_path,''), coalesce(t.agent_nickname,''), coalesce(t.agent_role,''),
 coalesce(t.originator,''), t.history_mode, t.archived, t.tokens_used, t.created_at_ms, coalesce(e.parent_thread_id,'')
FROM threads t LEFT JOIN thread_spawn_edges e ON e.child_thread_id = t.id`)
	if err != nil {
		t.Fatalf("read Codex db %s: %v", path, err)
	}
	defer rows.Close()
	out := map[string]codexThread{}
	for rows.Next() {
		var c codexThread
		if err := rows.Scan(&c.ID, &c.Source, &c.ThreadSource, &c.Provider, &c.Model, &c.Cwd, &c.Title, &c.Preview,
			&c.AgentPath, &c.AgentNickname, &c.AgentRole, &c.Originator, &c.HistoryMode, &c.Archived, &c.Tokens, &c.CreatedMS, &c.Parent); err != nil {
			t.Fatal(err)
		}
		out[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameJSON compares two JSON texts (or plain strings) by value.
func sameJSON(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return a == b
	}
	return reflect.DeepEqual(va, vb)
}

// TestCorpusRebuildMatchesCodex rebuilds the index of each copied Codex
// home and compares it with Codex's own state_5.sqlite: same threads, same
// spawn edges, and the same metadata where both keep it. Codex's extra
// columns (see summary) are not compared; updated/recency times differ by
// design (Codex's backfill uses file mtimes, which a copy does not keep).
func TestCorpusRebuildMatchesCodex(t *testing.T) {
	for _, sc := range corpusScenarios {
		t.Run(sc, func(t *testing.T) {
			src := filepath.Join("testdata", "codex-0.169", sc, "codex_home")
			want := readCodexDB(t, filepath.Join(src, "state_5.sqlite"))
			home := t.TempDir()
			copyTree(t, src, home)
			ix, err := OpenIndex(context.Background(), Config{Home: home})
			if err != nil {
				t.Fatalf("OpenIndex: %v", err)
			}
			defer ix.Close()
			if _, err := os.Stat(filepath.Join(home, DBName)); err != nil {
				t.Fatalf("index file: %v", err)
			}
			b, err := os.ReadFile(filepath.Join(home, "state_5.sqlite"))
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := os.ReadFile(filepath.Join(src, "state_5.sqlite"))
			if string(b) != string(orig) {
				t.Errorf("Codex's state_5.sqlite was modified")
			}
			got := map[string]Thread{}
			for _, archived := range []bool{false, true} {
				page, err := ix.List(context.Background(), ListOptions{Archived: archived, Page: Page{Limit: MaxPageSize}})
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				for _, th := range page.Threads {
					got[string(th.ID)] = th
				}
			}
			if len(got) != len(want) {
				t.Errorf("threads = %d, want %d (Codex)", len(got), len(want))
			}
			var codexEdges, ourEdges int
			cdb, err := sql.Open("sqlite", "file:"+filepath.Join(src, "state_5.sqlite")+"?mode=ro&immutable=1")
			if err != nil {
				t.Fatal(err)
			}
			if err := cdb.QueryRow(`SELECT count(*) FROM thread_spawn_edges`).Scan(&codexEdges); err != nil {
				t.Fatal(err)
			}
			cdb.Close()
			if err := ix.db.QueryRow(`SELECT count(*) FROM thread_spawn_edges`).Scan(&ourEdges); err != nil {
				t.Fatal(err)
			}
			if ourEdges != codexEdges {
				t.Errorf("spawn edges = %d, want %d (Codex)", ourEdges, codexEdges)
			}
			for id, w := range want {
				g, ok := got[id]
				if !ok {
					t.Errorf("thread %s missing", id)
					continue
				}
				if _, err := os.Stat(g.RolloutPath); err != nil {
					t.Errorf("%s: rollout path %s: %v", id, g.RolloutPath, err)
				}
				if !sameJSON(g.Source, w.Source) {
					t.Errorf("%s: source = %s, want %s", id, g.Source, w.Source)
				}
				checks := []struct {
					name      string
					got, want any
				}{
					{"parent", string(g.ParentThreadID), w.Parent},
					{"archived", g.Archived, w.Archived},
					{"agent_path", g.AgentPath, w.AgentPath},
					{"agent_nickname", g.AgentNickname, w.AgentNickname},
					{"agent_role", g.AgentRole, w.AgentRole},
					{"thread_source", g.ThreadSource, w.ThreadSource},
					{"model_provider", g.ModelProvider, w.Provider},
					{"model", g.Model, w.Model},
					{"cwd", g.Cwd, w.Cwd},
					{"title", g.Title, w.Title},
					{"preview", g.Preview, w.Preview},
					{"originator", g.Originator, w.Originator},
					{"history_mode", string(g.HistoryMode), w.HistoryMode},
					{"tokens_used", g.TokensUsed, w.Tokens},
				}
				for _, c := range checks {
					if c.got != c.want {
						t.Errorf("%s: %s = %q, want %q (Codex)", id, c.name, c.got, c.want)
					}
				}
				if d := g.CreatedAt.UnixMilli() - w.CreatedMS; d < -1000 || d > 1000 {
					t.Errorf("%s: created_at_ms = %d, want %d ± 1s", id, g.CreatedAt.UnixMilli(), w.CreatedMS)
				}
				if g.SessionID == "" || !rollout.ThreadID(g.SessionID).Valid() {
					t.Errorf("%s: session id %q", id, g.SessionID)
				}
			}
		})
	}
}

// readCodexItems reads Codex's paginated-history projection:
// thread id -> "turn/item/type" in rollout order.
func readCodexItems(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT thread_id, turn_id, item_id, item_type FROM thread_items ORDER BY thread_id, rollout_ordinal`)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var th, turn, item, typ string
		if err := rows.Scan(&th, &turn, &item, &typ); err != nil {
			t.Fatal(err)
		}
		out[th] = append(out[th], turn+"/"+item+"/"+typ)
	}
	return out
}

// TestCorpusStoreReads opens each copied Codex home as a Store and reads
// every thread: history, turns, and projected items, which must be the
// items of Codex's own projection (thread_history_1.sqlite), in order.
func TestCorpusStoreReads(t *testing.T) {
	ctx := context.Background()
	for _, sc := range corpusScenarios {
		t.Run(sc, func(t *testing.T) {
			home := t.TempDir()
			src := filepath.Join("testdata", "codex-0.169", sc, "codex_home")
			copyTree(t, src, home)
			codexItems := readCodexItems(t, filepath.Join(src, "thread_history_1.sqlite"))
			s, err := Open(ctx, Config{Home: home})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			page, err := s.List(ctx, ListOptions{Page: Page{Limit: MaxPageSize}})
			if err != nil {
				t.Fatal(err)
			}
			for _, th := range page.Threads {
				d, err := s.Read(ctx, th.ID)
				if err != nil {
					t.Errorf("Read(%s) = %v", th.ID, err)
					continue
				}
				if d.CorruptLines != 0 || len(d.Items) == 0 || len(d.Turns) == 0 {
					t.Errorf("Read(%s): %d items, %d turns, %d corrupt lines", th.ID, len(d.Items), len(d.Turns), d.CorruptLines)
				}
				items, err := s.Items(ctx, th.ID, Page{Limit: MaxPageSize})
				if err != nil {
					t.Errorf("Items(%s) = %v", th.ID, err)
				}
				var got []string
				for _, r := range items.Items {
					typ := strings.ToLower(r.Type[:1]) + r.Type[1:]
					if r.Type == "Extension" {
						// Codex's projection names an extension item by its
						// kind's last part (clock.sleep -> sleep).
						var ext struct{ Kind string }
						json.Unmarshal(r.JSON, &ext)
						typ = ext.Kind[strings.LastIndexByte(ext.Kind, '.')+1:]
					}
					got = append(got, r.TurnID+"/"+r.ItemID+"/"+typ)
				}
				if w := codexItems[string(th.ID)]; !slices.Equal(got, w) {
					t.Errorf("Items(%s) =\n%v\nwant (Codex's thread_history_1.sqlite)\n%v", th.ID, got, w)
				}
				if th.ParentThreadID == "" {
					tree, err := s.Descendants(ctx, th.ID, Page{})
					if err != nil {
						t.Errorf("Descendants(%s) = %v", th.ID, err)
					}
					for _, c := range tree.Threads {
						if c.ParentThreadID == "" {
							t.Errorf("descendant %s has no parent", c.ID)
						}
					}
				}
			}
		})
	}
}
