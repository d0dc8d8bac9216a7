//go:build !unix

package environment

import (
	"errors"
	"os/exec"
)

var errNotDir = errors.New("not a directory")

// setProcessGroup is a no-op where process groups do not exist; cancellation
// kills only the direct child.
func setProcessGroup(cmd *exec.Cmd) {}
