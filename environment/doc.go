// Package environment owns where an agent's side effects happen: the
// Environment seam (run a command, read and write files), the local
// implementation, the registry of id → handle with lazy start and readiness,
// and per-step snapshots. It imports no other package of this module.
package environment
