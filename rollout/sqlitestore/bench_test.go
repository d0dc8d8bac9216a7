package sqlitestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/troupe-run/troupe/rollout"
)

const (
	benchThreads = 100_000
	benchFanout  = 5 // parent(i) = (i-1)/5: 100 000 threads, depth 8
)

func benchID(i int) rollout.ThreadID {
	return rollout.ThreadID(fmt.Sprintf("01a21136-0000-7000-8000-%012x", i))
}

// benchIndex builds an index of benchThreads threads in one spawn tree
// rooted at benchID(0), inserted in big transactions.
func benchIndex(b *testing.B) *Index {
	b.Helper()
	ctx := context.Background()
	ix, err := OpenIndex(ctx, Config{Home: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ix.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	const base = int64(1_790_000_000_000)
	const batch = 20_000
	paths := make([]string, benchThreads) // materialized tree paths, as setTreeParent builds them
	for start := 0; start < benchThreads; start += batch {
		tx, err := ix.db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		ins, err := tx.Prepare(`INSERT INTO threads(id, rollout_path, created_at_ms, updated_at_ms, recency_at_ms, source, source_kind,
 model_provider, cwd, title, preview, agent_path, session_id, history_mode, parent_thread_id)
 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			b.Fatal(err)
		}
		edge, err := tx.Prepare(`INSERT INTO thread_spawn_edges(parent_thread_id, child_thread_id, status) VALUES (?,?,?)`)
		if err != nil {
			b.Fatal(err)
		}
		node, err := tx.Prepare(`INSERT INTO thread_tree(node, thread_id, path) VALUES (?,?,?)`)
		if err != nil {
			b.Fatal(err)
		}
		for i := start; i < min(start+batch, benchThreads); i++ {
			id := benchID(i)
			created := base + int64(i)*10
			updated := created + rng.Int64N(1_000_000)
			recency := created + rng.Int64N(1_000_000)
			parent, kind := "", "exec"
			if i > 0 {
				parent, kind = string(benchID((i-1)/benchFanout)), "subagent"
			}
			if _, err := ins.Exec(string(id), "/home/sessions/rollout-"+string(id)+".jsonl", created, updated, recency, kind, kind,
				"fake", "/work", "title", "preview", "/root", string(benchID(0)), "paginated", parent); err != nil {
				b.Fatal(err)
			}
			path := fmt.Sprintf("%08x", i+1)
			if i > 0 {
				path = paths[(i-1)/benchFanout] + path
			}
			paths[i] = path
			if _, err := node.Exec(i+1, string(id), path); err != nil {
				b.Fatal(err)
			}
			if i > 0 {
				status := EdgeOpen
				if i%7 == 0 {
					status = EdgeClosed
				}
				if _, err := edge.Exec(parent, string(id), status); err != nil {
					b.Fatal(err)
				}
			}
		}
		ins.Close()
		edge.Close()
		node.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := ix.db.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	return ix
}

// middleCursor walks to the page in the middle of a listing and returns
// its cursor.
func middleCursor(b *testing.B, total int, list func(Page) (ThreadPage, error)) string {
	b.Helper()
	const limit = MaxPageSize
	cursor := ""
	for range total / limit / 2 {
		p, err := list(Page{Limit: limit, Cursor: cursor})
		if err != nil {
			b.Fatal(err)
		}
		if p.Next == "" {
			b.Fatal("listing ended before its middle")
		}
		cursor = p.Next
	}
	return cursor
}

func BenchmarkIndex100k(b *testing.B) {
	ix := benchIndex(b)
	ctx := context.Background()
	root := benchID(0)
	mid := benchID(3) // a subtree of ~20 000 threads
	const pageSize = 50

	// Baseline: the cheapest page SQLite can serve from this table, a
	// plain index scan with no filters, joins or cursor.
	b.Run("baseline-raw-index-page", func(b *testing.B) {
		for b.Loop() {
			rows, err := ix.db.QueryContext(ctx, `SELECT `+threadCols+` FROM threads t LEFT JOIN thread_spawn_edges e ON e.child_thread_id = t.id
 WHERE t.archived = 0 ORDER BY t.created_at_ms DESC, t.id DESC LIMIT 51`)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				if _, err := scanThread(rows); err != nil {
					b.Fatal(err)
				}
				n++
			}
			rows.Close()
			if n != 51 {
				b.Fatalf("%d rows", n)
			}
		}
	})
	for _, k := range []SortKey{SortCreated, SortUpdated, SortRecency} {
		list := func(p Page) (ThreadPage, error) { p.Sort = k; return ix.List(ctx, ListOptions{Page: p}) }
		b.Run("list-"+string(k)+"-first", func(b *testing.B) {
			for b.Loop() {
				if p, err := list(Page{Limit: pageSize}); err != nil || len(p.Threads) != pageSize {
					b.Fatal(err)
				}
			}
		})
		c := middleCursor(b, benchThreads, list)
		b.Run("list-"+string(k)+"-middle", func(b *testing.B) {
			for b.Loop() {
				if p, err := list(Page{Limit: pageSize, Cursor: c}); err != nil || len(p.Threads) != pageSize {
					b.Fatal(err)
				}
			}
		})
	}
	for _, tc := range []struct {
		name  string
		id    rollout.ThreadID
		total int
	}{{"root", root, benchThreads - 1}, {"subtree", mid, 19_531}} {
		desc := func(p Page) (ThreadPage, error) { return ix.Descendants(ctx, tc.id, p) }
		b.Run("descendants-"+tc.name+"-first", func(b *testing.B) {
			for b.Loop() {
				if p, err := desc(Page{Limit: pageSize}); err != nil || len(p.Threads) != pageSize {
					b.Fatal(err)
				}
			}
		})
		c := middleCursor(b, tc.total, desc)
		b.Run("descendants-"+tc.name+"-middle", func(b *testing.B) {
			for b.Loop() {
				if p, err := desc(Page{Limit: pageSize, Cursor: c}); err != nil || len(p.Threads) != pageSize {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("children-root", func(b *testing.B) {
		for b.Loop() {
			if p, err := ix.Children(ctx, benchID(1), Page{Limit: pageSize}); err != nil || len(p.Threads) != benchFanout {
				b.Fatal(len(p.Threads), err)
			}
		}
	})
}
