// Command code_review runs the code_review scenario: a reviewer agent
// works in an environment that starts lazily (it checks out a small Go
// module when first needed), follows the skills of a capability root in
// it, runs the module's tests through the root's run_tests tool, and forks
// a fixer with its last turn to make the fix. Offline with a scripted
// model unless OPENAI_API_KEY is set; run_tests needs a POSIX shell and
// Go. See package examples/scenario.
//
//	go run ./examples/code_review [--home DIR]
package main

import "github.com/troupe-run/troupe/examples/scenario"

func main() { scenario.Main("code_review") }
