// Command long_running runs the long_running scenario: a watcher agent
// sleeps waiting for mail, the program stops while it sleeps, and the next
// run resumes the tree from the home. Run it twice:
//
//	go run ./examples/long_running [--home DIR] [--crash]   # stops part-way
//	go run ./examples/long_running [--home DIR]             # resumes and finishes
//
// The first run shuts down cleanly at its stop point, as Ctrl-C does; with
// --crash it exits without closing anything, like a killed process. Ctrl-C
// stops it at any time. Offline with a scripted model unless
// OPENAI_API_KEY is set; see package examples/scenario.
package main

import "github.com/troupe-run/troupe/examples/scenario"

func main() { scenario.Main("long_running") }
