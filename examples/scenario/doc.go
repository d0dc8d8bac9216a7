// Package scenario holds troupe's example scenarios, the runnable programs
// of examples/ (research_team, code_review, long_running), so that each
// example's main is one line and "troupe run SCENARIO" runs the same code.
//
// # Usage
//
//	sc, _ := scenario.Lookup("research_team")
//	res, err := sc.Run(ctx, scenario.Options{Home: dir, Out: os.Stdout})
//	// res.Root is the root thread; the threads stay in dir for the CLI:
//	//   troupe --home dir threads tree <res.Root>
//
// A scenario opens the home's thread store (rollout/sqlitestore) and a
// control.Runtime on it (control.Config.Store), so every thread is indexed
// as it is written and the CLI lists it without a rebuild. It prints a
// readable trace of the tree (Trace: turns, messages, tool calls, mail,
// sleeps, each line prefixed with the agent's path) and closes everything
// before Run returns.
//
// # Offline and online
//
// By default a scripted model (agent/modeltest) plays what a capable model
// would do with the scenario's instructions, and the trace is
// deterministic: a Sequencer serves the scripted responses in one global
// order and holds each agent's events until that agent's turn in the
// script, so goroutine scheduling never changes the output (the golden
// files in testdata/ check it). With an Endpoint (EndpointFromEnv:
// OPENAI_API_KEY, OPENAI_BASE_URL, TROUPE_MODEL, TROUPE_API=responses|chat)
// the same scenario runs against a real model through agent/openaimodel,
// with the same instructions and tools, and the trace prints events as they
// arrive.
//
// # Concurrency and ownership
//
// Run owns everything it opens: the store, the runtime and the trace's
// goroutines (one per followed subscription) are closed before it returns,
// except when Options.Crash ends the process on purpose. Scenarios may run
// concurrently in different homes; two runs in one home at once are not
// supported (long_running keeps a marker file there).
//
// # Testing
//
// The tests run each scenario in a temp home and compare the trace with
// testdata/<name>*.golden (go test -run Golden -update rewrites them),
// run long_running's crash as a child process (the test binary itself),
// and check that no goroutine outlives a run. cmd/troupe's tests run the
// scenarios through "troupe run" and then list, draw and search their
// threads with the CLI.
package scenario
