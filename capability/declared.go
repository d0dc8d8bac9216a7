package capability

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/troupe-run/troupe/environment"
)

// CommandFor returns the command that runs one call of the declared tool
// with the call's JSON arguments, following the calling convention: argv
// and working directory from the manifest, arguments on stdin.
func (t DeclaredTool) CommandFor(args json.RawMessage) environment.Command {
	return environment.Command{
		Argv:    append([]string(nil), t.Command...),
		Dir:     t.Dir,
		Stdin:   append([]byte(nil), args...),
		Timeout: t.Timeout,
	}
}

// OutputOf renders the result of a declared tool's command as the call's
// output: stdout on exit status 0; otherwise a failed output saying why,
// then stdout and stderr. Truncated streams are marked.
func (t DeclaredTool) OutputOf(res environment.Result) Output {
	stdout := string(res.Stdout)
	if res.StdoutTruncated {
		stdout += "\n[stdout truncated]"
	}
	if res.ExitCode == 0 && !res.TimedOut {
		return Output{Text: stdout}
	}
	var b strings.Builder
	if res.TimedOut {
		fmt.Fprintf(&b, "tool %s timed out after %s", t.Name, res.Duration.Round(1e6))
	} else {
		fmt.Fprintf(&b, "tool %s exited with status %d", t.Name, res.ExitCode)
	}
	if stdout != "" {
		b.WriteString("\nstdout:\n")
		b.WriteString(stdout)
	}
	if len(res.Stderr) > 0 {
		b.WriteString("\nstderr:\n")
		b.Write(res.Stderr)
		if res.StderrTruncated {
			b.WriteString("\n[stderr truncated]")
		}
	}
	return Output{Text: b.String(), IsError: true}
}
