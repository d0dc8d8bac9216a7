package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/troupe-run/troupe/agent/modeltest"
	"github.com/troupe-run/troupe/capability"
	"github.com/troupe-run/troupe/control"
)

// researchQuestion is what the user asks the lead.
const researchQuestion = "Should our agent runtime keep conversation histories as append-only JSONL files or as rows in SQLite? " +
	"Ask two researchers, one on durability and one on performance, then summarize."

const leadInstructions = `You lead a small research team. For the user's question:
1. Spawn exactly two researchers with spawn_agent: agent_type "researcher", fork_turns "none", task_name "durability" and "performance", each with one focused question.
2. Call wait_agent until the final answers of both researchers have arrived as mail (FINAL_ANSWER messages). Do not research yourself.
3. Answer the user in at most eight lines, saying which researcher found what.`

const researcherInstructions = `You are a researcher. Use search_notes (several queries if useful) to find the notes relevant to your task, then answer in at most five lines, citing note ids such as [n3]. Do not spawn agents.`

// note is one entry of the research notes the researchers search.
type note struct{ id, title, text string }

// researchNotes is the small library search_notes looks in: what the
// team knows about the two storage designs.
var researchNotes = []note{
	{"n1", "JSONL append and fsync", "An append-only JSONL log is durable once the appended bytes are fsynced; appends are batched into one write and one fsync per batch (group commit), so a crash loses at most the batch not yet acknowledged."},
	{"n2", "Torn last line", "A crash during an append can leave a torn last line. Readers ignore an incomplete final line and the next append truncates it, so no acknowledged record is lost and nothing in the middle is dropped."},
	{"n3", "SQLite WAL mode", "SQLite in WAL mode commits by appending to the write-ahead log; with synchronous=NORMAL a power loss may roll back the last transactions but never corrupts the database."},
	{"n4", "Corruption and rebuild", "If the SQLite index is corrupt it can be moved aside and rebuilt from the rollout files, because the index is derived data and the JSONL files are the source of truth."},
	{"n5", "Append throughput", "Appending JSONL with one write per batch runs at close to raw disk speed; the cost per record is JSON encoding, not the file system."},
	{"n6", "SQLite write throughput", "SQLite serializes writers; each transaction costs a WAL append and a checkpoint now and then. Many small transactions are slower than batching rows into one."},
	{"n7", "Reading a long history", "Replaying a long JSONL history is a sequential read, fast but linear in its size; SQLite can page through projected items by key without reading everything."},
	{"n8", "Cold storage", "Old JSONL rollouts compress well with zstd (often 5-10x) and stay searchable with one decode pass."},
}

// searchNotes is the researchers' tool: a keyword search over the notes.
func searchNotes() capability.Tool {
	return capability.Func{
		S: capability.Spec{
			Name:         "search_notes",
			Description:  "Search the team's research notes on storage designs. Returns the matching notes with their ids, best first.",
			Parameters:   json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","description":"keywords"}},"required":["query"],"additionalProperties":false}`),
			ParallelSafe: true,
		},
		Fn: func(_ context.Context, call capability.Call) (capability.Output, error) {
			var a struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(call.Arguments, &a); err != nil {
				return capability.ErrorOutput("bad arguments: %v", err), nil
			}
			return capability.Output{Text: findNotes(a.Query)}, nil
		},
	}
}

// findNotes ranks the notes by how many query words they contain.
func findNotes(query string) string {
	words := strings.Fields(strings.ToLower(query))
	type hit struct {
		n     note
		score int
	}
	var hits []hit
	for _, n := range researchNotes {
		text := strings.ToLower(n.title + " " + n.text)
		score := 0
		for _, w := range words {
			if len(w) > 2 && strings.Contains(text, w) {
				score++
			}
		}
		if score > 0 {
			hits = append(hits, hit{n, score})
		}
	}
	if len(hits) == 0 {
		return "no notes match " + fmt.Sprintf("%q", query)
	}
	// Stable ranking: by score, then by note order.
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && hits[j].score > hits[j-1].score; j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
	if len(hits) > 3 {
		hits = hits[:3]
	}
	var sb strings.Builder
	for _, h := range hits {
		fmt.Fprintf(&sb, "[%s] %s: %s\n", h.n.id, h.n.title, h.n.text)
	}
	return sb.String()
}

func researchTeam() *Scenario {
	return &Scenario{
		Name:    "research_team",
		Summary: "a lead spawns two researchers, collects their findings through the mailbox and summarizes",
		run:     runResearchTeam,
	}
}

// researchScript is the offline model: what a capable model does with
// these instructions, step by step.
func researchScript() []Step {
	spawn := func(name, question string) *modeltest.Script {
		args, _ := json.Marshal(map[string]string{"task_name": name, "agent_type": "researcher", "fork_turns": "none", "message": question})
		return modeltest.Call("spawn_agent", string(args))
	}
	wait := modeltest.Call("wait_agent", `{"timeout_ms":600000}`)
	return []Step{
		{"/root", modeltest.Respond(
			modeltest.Reasoning("Two questions: is each design safe in a crash, and how fast is it? One researcher each."),
			spawn("durability", "How do an append-only JSONL log and SQLite in WAL mode each behave when the process crashes mid-write?"),
		)},
		// One spawn per response keeps the offline trace stable (two calls
		// of one response run in either order).
		{"/root", modeltest.Respond(
			spawn("performance", "How fast are appends and reads of a long history, for JSONL files versus SQLite?"),
		)},
		{"/root", wait},
		{"/root/durability", modeltest.Respond(
			modeltest.Commentary("Looking for what the notes say about crashes."),
			modeltest.Call("search_notes", `{"query":"crash fsync torn WAL"}`),
		)},
		{"/root/durability", modeltest.Text("Both are crash-safe. JSONL is durable once a batch is fsynced (group commit) and a torn last line is repaired on the next append [n1][n2]. " +
			"SQLite WAL may roll back the last transactions on power loss but does not corrupt [n3]; a corrupt index can be rebuilt from the JSONL files [n4].")},
		{"/root", wait},
		{"/root/performance", modeltest.Call("search_notes", `{"query":"append throughput read long history"}`)},
		{"/root/performance", modeltest.Text("JSONL appends run near raw disk speed with one write per batch [n5]; SQLite serializes writers and needs batching to keep up [n6]. " +
			"Replaying JSONL is linear, while SQLite pages through projected items by key [n7].")},
		{"/root", modeltest.Text("Use both, with JSONL as the source of truth.\n" +
			"- durability found both designs crash-safe: JSONL with group commit and torn-line repair, SQLite WAL without corruption.\n" +
			"- performance found JSONL appends near disk speed, and SQLite better for paging through long histories.\n" +
			"So: append every item to a JSONL rollout, and keep SQLite as a derived index that can be rebuilt from it.")},
	}
}

func runResearchTeam(e *env) error {
	cfg := control.Config{Roles: map[string]control.Role{
		"researcher": {Description: "Researches one question in the team's notes.", Instructions: researcherInstructions},
	}}
	if err := e.open(cfg, researchScript()...); err != nil {
		return err
	}
	root, err := e.start(control.ThreadOptions{Instructions: leadInstructions, Tools: []capability.Tool{searchNotes()}})
	if err != nil {
		return err
	}
	if _, err := e.turn(root, researchQuestion); err != nil {
		return err
	}
	return e.settle()
}
