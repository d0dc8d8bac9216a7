// Command troupe inspects and maintains troupe (and Codex) homes: threads,
// spawn trees, search, compression and the index.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "troupe: no subcommands yet")
	os.Exit(2)
}
