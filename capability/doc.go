// Package capability owns what an agent can do: the tool contract (Tool,
// Spec, Call, Output), built-in tools, and capability roots resolved per
// model step against an environment snapshot. It imports environment and
// nothing above it.
//
// # Capability roots
//
// A capability root is a directory inside an environment that offers skills
// and tools. A thread's selected roots (SelectedCapabilityRoot) are durable
// intent, persisted in session_meta.selected_capability_roots with Codex's
// JSON shape:
//
//	{"id": "review-kit", "location": {"type": "environment",
//	  "environmentId": "worker", "path": "file:///srv/kits/review"}}
//
// (the path is written as a file: URI, as Codex does; a plain absolute path
// is read too).
//
// At each model step the agent resolves them:
//
//	res := resolver.Resolve(ctx, snapshot, thread.SelectedRoots)
//	for _, a := range res.Available { a.Skills; a.Tools; a.Handle }
//	for _, u := range res.Unavailable { u.Message() }
//
// Candidates are the selected roots followed by those the snapshot's ready
// environments advertise (at most MaxAdvertisedRoots), de-duplicated by id:
// the first location wins, a conflicting one is dropped with a warning. A
// root whose environment the snapshot captured as ready uses that exact
// handle; one captured as starting is unavailable for the step; one not in
// the snapshot is looked up in the registry (ready → used; lazy and not
// started → asked to start and unavailable for the step; failed or unknown
// → unavailable). Unavailability is per step: the selection is never
// changed, so a later step sees the root again once its environment is up.
//
// # What a root offers (discovery)
//
// Skills: a SKILL.md in the root, in each directory directly below it, and
// in each directory below its skills/ directory. The file starts with a
// front matter block giving name and description:
//
//	---
//	name: review
//	description: Review a diff for correctness and style
//	---
//	Instructions for the model...
//
// Tools: the root's tools.json declares commands the agent may call:
//
//	{"tools": [{
//	  "name": "lint",                       // ^[A-Za-z0-9_-]{1,64}$, unique
//	  "description": "Lint the tree",       // required
//	  "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
//	  "command": ["bin/lint", "--json"],    // argv; a path is relative to the root
//	  "dir": "src",                         // optional, relative to the root
//	  "timeout_ms": 60000                   // optional; 0: the environment's default
//	}]}
//
// A declared tool runs in the root's environment with Dir as working
// directory and the call's JSON arguments on stdin; exit status 0 means
// success with stdout as the output, anything else a failed call whose
// output is stdout and stderr. DeclaredTool.CommandFor and OutputOf
// implement that convention; binding a DeclaredTool to the root's handle
// as a Tool is the agent's job.
//
// Confinement: a root path must be absolute with no "." or ".." element
// (ErrRootPath) and lie inside its environment's roots after symlinks
// (environment.ErrEscape); every file a skill or tool names (SKILL.md,
// tools.json, the command, the dir) must resolve, after symlinks, inside
// the root (ErrOutsideRoot, which also matches environment.ErrEscape).
// Discovery needs environments implementing environment.PathResolver (the
// local and remote ones do). A problem with the root as a whole makes it
// unavailable (DiscoveryFailed); a bad skill or tool entry is skipped with
// a warning.
//
// # Concurrency and caching
//
// Resolver and DiscoveryCache are safe for concurrent use and start no
// goroutines. Discovery is cached per thread by (environment id, root id,
// path), so replacing an environment's handle under the same id keeps the
// cache. Lasting failures are cached like successes; transient ones
// (environment unavailable, context ended) are not. Cached Discovery values
// are shared: treat them as read-only.
package capability
