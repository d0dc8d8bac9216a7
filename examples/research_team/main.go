// Command research_team runs the research_team scenario: a lead agent
// spawns two researchers, collects their findings through the mailbox and
// writes a summary. It runs offline with a scripted model (deterministic
// output) unless OPENAI_API_KEY is set; see package examples/scenario.
//
//	go run ./examples/research_team [--home DIR]
package main

import "github.com/troupe-run/troupe/examples/scenario"

func main() { scenario.Main("research_team") }
