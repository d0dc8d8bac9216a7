package control

import (
	"encoding/json"
	"strings"

	"github.com/troupe-run/troupe/capability"
)

// The multi-agent tools' specs: Codex v2's names, descriptions and
// argument schemas (as Codex 0.169 sends them), plus troupe's close_agent.
// None is parallel-safe: Codex runs them exclusively.

const spawnDescription = `Spawns an agent to work on the specified task. If your current task is ` + "`/root/task1`" + ` and you spawn_agent with task_name "task_3" the agent will have canonical task name ` + "`/root/task1/task_3`" + `.
You are then able to refer to this agent as ` + "`task_3` or `/root/task1/task_3`" + ` interchangeably. However an agent ` + "`/root/task2/task_3`" + ` would only be able to communicate with this agent via its canonical name ` + "`/root/task1/task_3`" + `.
The spawned agent will have the same tools as you and the ability to spawn its own subagents.

It will be able to send you and other running agents messages, and its final answer will be provided to you when it finishes.
The new agent's canonical task name will be provided to it along with the message.

Note that passing ` + "`fork_turns=\"none\"`" + ` will not pass any surrounding context to the spawned subagent, which may cause the agent to lack the context it needs to complete its task, whereas ` + "`fork_turns=\"all\"`" + ` will provide the subagent with all surrounding context.`

// spawnSpec returns spawn_agent's spec; agent_type is advertised, with the
// roles listed, when roles are configured.
func spawnSpec(roles map[string]Role) capability.Spec {
	props := map[string]any{
		"task_name":  map[string]any{"type": "string", "description": "Task name for the new agent. Use lowercase letters, digits, and underscores."},
		"message":    map[string]any{"type": "string", "description": "Initial plain-text task for the new agent.", "encrypted": true},
		"fork_turns": map[string]any{"type": "string", "description": "Parent history to inherit. Defaults to `all`; use `none` to start without parent history, or a positive integer string to inherit only that many of the most recent turns."},
	}
	desc := spawnDescription
	if len(roles) > 0 {
		props["agent_type"] = map[string]any{"type": "string", "description": "Optional agent type (role) for the new agent. Not allowed with a full-history fork."}
		var b strings.Builder
		b.WriteString("\n\nAvailable roles:\n")
		for _, name := range sortedNames(roles) {
			b.WriteString(name + ": {\n" + roles[name].Description + "\n}\n")
		}
		desc += strings.TrimRight(b.String(), "\n")
	}
	return capability.Spec{Name: "spawn_agent", Description: desc, Parameters: schema(props, "task_name", "message")}
}

func schema(props map[string]any, required ...string) json.RawMessage {
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	b, _ := json.Marshal(s)
	return b
}

var (
	specSendMessage = capability.Spec{
		Name:        "send_message",
		Description: "Send a message to an existing agent. The message will be delivered promptly. Does not trigger a new turn.",
		Parameters: schema(map[string]any{
			"message": map[string]any{"type": "string", "description": "Message text to queue on the target agent.", "encrypted": true},
			"target":  map[string]any{"type": "string", "description": "Relative or canonical task name to message (from spawn_agent)."},
		}, "target", "message"),
	}
	specFollowup = capability.Spec{
		Name:        "followup_task",
		Description: "Send a follow-up task to an existing non-root target agent and trigger a turn if it is idle. If the target is already running, deliver the task promptly at message boundaries while sampling, or after the pending tool call completes.",
		Parameters: schema(map[string]any{
			"message": map[string]any{"type": "string", "description": "Message text to send to the target agent.", "encrypted": true},
			"target":  map[string]any{"type": "string", "description": "Agent id or canonical task name to send a follow-up task to (from spawn_agent)."},
		}, "target", "message"),
	}
	specWait = capability.Spec{
		Name:        "wait_agent",
		Description: "Wait for a mailbox update from any live agent, including queued messages and final-status notifications. The wait also ends early when new user input is steered into the active turn. Does not return the content; returns either a summary of which agents have updates (if any), an interruption summary for steered input, or a timeout summary if no activity arrives before the deadline.",
		Parameters: schema(map[string]any{
			"timeout_ms": map[string]any{"type": "number", "description": "Timeout in milliseconds."},
		}),
	}
	specInterrupt = capability.Spec{
		Name:        "interrupt_agent",
		Description: "Interrupt an agent's current turn, if any, and return its previous status. The agent remains available for messages and follow-up tasks.",
		Parameters: schema(map[string]any{
			"target": map[string]any{"type": "string", "description": "Agent id or canonical task name to interrupt (from spawn_agent)."},
		}, "target"),
	}
	specList = capability.Spec{
		Name:        "list_agents",
		Description: "List live agents in the current root thread tree. Optionally filter by task-path prefix.",
		Parameters: schema(map[string]any{
			"path_prefix": map[string]any{"type": "string", "description": "Task-path prefix filter without a trailing slash. Omit to list all live agents."},
		}),
	}
	specClose = capability.Spec{
		Name:        "close_agent",
		Description: "Close an agent and all its descendants: their turns stop and they no longer receive messages. Returns the agent's previous status.",
		Parameters: schema(map[string]any{
			"target": map[string]any{"type": "string", "description": "Agent id or canonical task name to close (from spawn_agent)."},
		}, "target"),
	}
)
