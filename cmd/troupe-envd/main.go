// Command troupe-envd serves a local environment over HTTP/JSON so that
// agents on another machine can use it as a remote environment.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "troupe-envd: not implemented yet")
	os.Exit(2)
}
