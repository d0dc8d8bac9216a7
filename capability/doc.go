// Package capability owns what an agent can do: the tool contract, built-in
// tools, and capability roots resolved per model step against an environment
// snapshot. It imports environment and nothing above it.
package capability
