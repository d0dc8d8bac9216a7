// Package environment owns where an agent's side effects happen: the
// Environment seam (run a command, read and write files, working directory
// and shell), the local implementation, a remote implementation speaking
// HTTP/JSON to an environment server, the registry of id → handle with lazy
// start and readiness, thread selections and per-step snapshots. It imports
// no other package of this module.
//
// # The seam
//
// Environment is Runner + Files + Info. Consumers that need less accept
// Runner or Files. Optional extras are upgrade interfaces: Starter (must be
// brought up before use), PathResolver (says where a path really is, after
// symlinks), ConnectionReporter (can lose its connection),
// RootAdvertiser (offers capability roots), io.Closer.
//
// Local (NewLocal) is a directory on this machine. Commands run through
// os/exec in their own process group, killed as a group when the timeout
// expires or the context ends; stdout and stderr are each capped (the rest
// is read and dropped, and the Result says it was truncated). File
// operations are confined to the roots: the named path is made absolute
// against the working directory and cleaned (so "a/link/../b" means
// "a/b"), must lie inside a root, and must still lie inside one after every
// symlink in it is followed; the operation then goes through os.Root. A
// path that escapes fails with a *PathError wrapping ErrEscape. Confinement
// covers file operations and command working directories, not what a
// command does once running: it is not a sandbox.
//
// Remote (NewRemote) talks to the handler NewServer returns (served by
// cmd/troupe-envd) with bearer-token auth. Errors keep their kind across
// the wire: errors.Is(err, fs.ErrNotExist), ErrEscape, ErrCommandNotFound
// ... hold for remote errors as for local ones. Every call is bounded by
// its context; a server that cannot be reached or does not answer in time
// yields ErrUnavailable and the environment reports itself disconnected
// until a call succeeds. envtest.TestEnvironment is the conformance suite
// both pass.
//
// # Registry, selections and snapshots
//
//	reg := environment.NewRegistry(environment.RegistryConfig{Logger: log})
//	defer reg.Close()
//	local, _ := environment.NewLocal(environment.LocalConfig{Dir: workdir})
//	reg.Register(environment.Registration{ID: environment.LocalID, Env: local})
//	remote, _ := environment.NewRemote(environment.RemoteConfig{URL: u, Token: tok})
//	reg.Register(environment.Registration{ID: "worker", Env: remote, Lazy: true})
//
//	sels := reg.Select(threadSelections)  // once per turn: dedupe, drop unknown
//	snap := reg.Capture(sels)             // once per model step
//	for _, e := range snap.Ready() { e.Handle.Environment().Run(ctx, cmd) }
//
// A Handle's lifecycle is Pending (lazy) → Starting → Ready | Failed; a
// failed start is final for that handle (register a new one), and a ready
// handle reports Disconnected while its environment says so. Environments
// without a Starter are ready at once. Register under an existing id
// replaces the handle and cancels the old one's start with ErrReplaced;
// whoever captured the old handle keeps it, so a step never sees its
// environment swapped underneath it. The id "local" is reserved for a
// *Local. Handles are process-local: persist selections (ids and paths),
// never handles.
//
// # Concurrency and ownership
//
// Every exported type is safe for concurrent use; Snapshot is immutable.
// The registry owns every goroutine a start spawns (one per start, running
// Starter.Start); Close cancels them, waits for them, and closes every
// registered environment that implements io.Closer. Nothing else here
// starts goroutines: constructors connect to nothing.
//
// # Testing
//
// environment/envtest holds the conformance suite, a Fake whose start a
// test holds, releases or fails, and a goroutine-leak check. Remote tests
// run against NewServer over loopback httptest servers.
package environment
