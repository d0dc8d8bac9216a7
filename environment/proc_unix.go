//go:build unix

package environment

import (
	"errors"
	"os/exec"
	"syscall"
)

var errNotDir = syscall.ENOTDIR

// setProcessGroup puts the command in its own process group and makes
// cancellation kill the whole group, so children the command spawned do not
// outlive a timeout.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
}
