// Package modeltest provides the scripted model used to test agents without
// a network: a queue of scripted responses that records every request.
//
// # Usage
//
//	m := modeltest.New(t,
//		modeltest.Respond(modeltest.Reasoning("plan"), modeltest.Call("sleep", `{"duration_ms":60000}`)),
//		modeltest.Text("done"))
//	a, _ := agent.New(agent.Config{ThreadID: id, Model: m})
//	go a.Run(ctx)
//	defer a.Close()
//	turn, _ := a.Submit(ctx, "go")
//	res, _ := turn.Wait(ctx)
//	req := m.Request(1) // the second request the agent made
//	modeltest.Kinds(req)     // [message/user reasoning function_call sleep function_call_output]
//	modeltest.Output(req, "call_2")
//
// Each request takes the next script. A script is built from parts, played
// in order and followed by a completed event:
//
//   - items: Text (final answer), Commentary, Message, Reasoning, Call /
//     CallID (function calls), Item (any response item, as given: an item
//     without id tests id filling);
//   - raw events: Event (malformed streams: a delta without an item, a done
//     event without an item, ...);
//   - the completed event's content: Usage / Tokens, Continue
//     (end_turn=false), ResponseID;
//   - stream ends: Fail(err) (use an *agent.ModelError to pick retryable or
//     fatal), CloseEarly (no completed event);
//   - Pause(gate): the stream stops until the test releases the gate, so a
//     test can act at an exact point of a stream (steer, send mail,
//     interrupt): <-g.Reached(); act; g.Release().
//
// A single part is itself a script: modeltest.Text("hi") answers one
// request. Ids are deterministic: item and call ids are "<prefix>_<n>",
// n counting the ids the model handed out ("msg_1", "call_2", ...).
//
// # Checks
//
// Every request is checked: each call in its input must have an output and
// each output its call (CheckPairs); a violation fails the test. A request
// with no script left fails the test and gets an ErrNoScript error
// classified as an invalid request, so the turn ends instead of retrying.
// At the end of the test, scripts never requested fail it too, unless
// AllowUnused was called.
//
// # Concurrent agents
//
// Requests of many agents are answered from one Model. Route queues scripts
// for the requests a Matcher selects (ForAgent(path), ForThread(id), or
// any predicate on the request); routes are tried in order and the default
// queue answers the rest, so a tree's agents get their own answers whatever
// the interleaving.
//
// # Concurrency and ownership
//
// A Model is safe for concurrent use. It copies each request's input slice
// (not the items, which the agent never changes after recording them).
// Gates are one-shot: once released they let every later stream pass.
// Outside tests (examples, offline demo programs) use a Standalone as the
// TB and call its Close at the end to run the checks.
package modeltest
