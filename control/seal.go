package control

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"strings"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/mailbox"
	"github.com/troupe-run/troupe/rollout"
)

// runtimeModel is the Model every agent of a runtime talks to. Around the
// configured model it:
//
//   - shows each agent the multi-agent mode messages recorded in this run
//     (modeRecorder) at the place its rollout has them;
//   - with a local sealer, seals the message argument of spawn_agent,
//     send_message and followup_task calls as soon as the model emits them,
//     so the caller records, persists and sends back only ciphertext. (The
//     recipient agent opens sealed mail in its own requests only: its
//     agent.Config.Sealer.)
type runtimeModel struct {
	rt    *Runtime
	inner agent.Model
}

// modelFor wraps Config.ModelFor so that the model serving each name is
// wrapped like Config.Model (sealing, multi-agent mode messages, tracing);
// nil when no resolver is configured.
func (rt *Runtime) modelFor() func(string) (agent.Model, error) {
	if rt.cfg.ModelFor == nil {
		return nil
	}
	return func(name string) (agent.Model, error) {
		m, err := rt.cfg.ModelFor(name)
		if err != nil || m == nil {
			return m, err
		}
		return &runtimeModel{rt: rt, inner: m}, nil
	}
}

// sealedArgTools are the tools whose "message" argument is task text.
var sealedArgTools = map[string]bool{"spawn_agent": true, "send_message": true, "followup_task": true}

// Stream implements agent.Model.
func (m *runtimeModel) Stream(ctx context.Context, req *agent.Request) iter.Seq2[agent.StreamEvent, error] {
	var n *node
	m.rt.mu.Lock()
	n = m.rt.byThread[req.Metadata.ThreadID]
	m.rt.mu.Unlock()
	req = m.prepare(n, req)
	inner := m.rt.traceModel(ctx, n, req, func(ctx context.Context) iter.Seq2[agent.StreamEvent, error] {
		return m.inner.Stream(ctx, req)
	})
	if !m.rt.local {
		return inner
	}
	return func(yield func(agent.StreamEvent, error) bool) {
		for ev, err := range inner {
			if ev.Item != nil && ev.Item.Type == rollout.ItemFunctionCall && sealedArgTools[ev.Item.Name] {
				if args, ok := m.rt.sealArguments(ev.Item.Arguments); ok {
					ev.Item.Arguments = args
				}
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// prepare returns the request to send: req itself when nothing changes,
// else a copy (the agent's items are never modified).
func (m *runtimeModel) prepare(n *node, req *agent.Request) *agent.Request {
	var inj []injection
	if n != nil {
		n.modeMu.Lock()
		inj = n.injected
		n.modeMu.Unlock()
	}
	if len(inj) == 0 {
		return req
	}
	input := make([]rollout.ResponseItem, 0, len(req.Input)+len(inj))
	placed := make([]bool, len(inj))
	for i := range req.Input {
		it := &req.Input[i]
		if tid := it.TurnID(); tid != "" {
			for k := range inj {
				if !placed[k] && inj[k].turnID == tid {
					input = append(input, inj[k].item)
					placed[k] = true
				}
			}
		}
		input = append(input, *it)
	}
	for k := range inj {
		if !placed[k] && inj[k].turnID == req.Metadata.TurnID {
			// The turn has recorded nothing yet: its items come last.
			input = append(input, inj[k].item)
		}
	}
	r := *req
	r.Input = input
	return &r
}

// sealArguments seals the "message" member of a tool call's JSON
// arguments, keeping the other members and their order. A blank message is
// left as is (the tool refuses it).
func (rt *Runtime) sealArguments(args string) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(args))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return "", false
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	changed := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", false
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(key)
		buf.Write(kb)
		buf.WriteByte(':')
		var s string
		if key == "message" && json.Unmarshal(v, &s) == nil && strings.TrimSpace(s) != "" {
			sealed, err := rt.ensureSealed(s)
			if err != nil {
				return "", false
			}
			v, _ = json.Marshal(sealed)
			changed = true
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.String(), changed
}

// requestSealer is the sealer agents open mail with in their requests:
// the runtime's when it opens what it seals, else none (provider
// ciphertext is forwarded as is).
func (rt *Runtime) requestSealer() mailbox.Sealer {
	if rt.local {
		return rt.cfg.Sealer
	}
	return nil
}

// ensureSealed returns text sealed by the runtime's sealer: as is when it
// already is (or the sealer passes provider ciphertext through), else
// sealed now.
func (rt *Runtime) ensureSealed(text string) (string, error) {
	if !rt.local {
		return text, nil
	}
	if _, err := rt.cfg.Sealer.Open(text); err == nil {
		return text, nil
	}
	return rt.cfg.Sealer.Seal(text)
}

// modeRecorder is the Recorder an agent writes through: it stamps each
// turn_context with the agent's multi-agent mode and, when the mode changed
// since the last one persisted, records the mode's developer message just
// before it (and has runtimeModel show it to the model).
type modeRecorder struct {
	n   *node
	rec threadLog
}

var _ agent.Recorder = (*modeRecorder)(nil)

// Mode developer messages (Codex's texts).
const (
	modeExplicitText  = "<multi_agent_mode>Any earlier instruction enabling proactive multi-agent delegation no longer applies. Do not spawn sub-agents unless the user or applicable AGENTS.md/skill instructions explicitly ask for sub-agents, delegation, or parallel agent work.</multi_agent_mode>"
	modeProactiveText = "<multi_agent_mode>Proactive multi-agent delegation is active. Any earlier instruction requiring an explicit user request before spawning sub-agents no longer applies. Use sub-agents when parallel work would materially improve speed or quality. This mode remains active until a later multi-agent mode developer message changes it.</multi_agent_mode>"
)

// modeJSON is the turn_context form of a mode (Codex 0.169:
// {"mode":"explicitRequestOnly"}).
func modeJSON(m MultiAgentMode) json.RawMessage {
	if m == ModeProactive {
		return json.RawMessage(`{"mode":"proactive"}`)
	}
	return json.RawMessage(`{"mode":"explicitRequestOnly"}`)
}

// parseModeJSON reads a persisted turn_context multi_agent_mode.
func parseModeJSON(raw json.RawMessage) MultiAgentMode {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "proactive" {
			return ModeProactive
		}
		return ModeExplicitRequestOnly
	}
	var o struct {
		Mode string `json:"mode"`
	}
	if json.Unmarshal(raw, &o) == nil && o.Mode == "proactive" {
		return ModeProactive
	}
	return ModeExplicitRequestOnly
}

// AppendItems implements agent.Recorder.
func (r *modeRecorder) AppendItems(items ...rollout.Item) error {
	for i := range items {
		tc, ok := items[i].Payload.(*rollout.TurnContext)
		if !ok {
			continue
		}
		n := r.n
		n.modeMu.Lock()
		mode := n.mode
		if mode == "" {
			mode = ModeExplicitRequestOnly
		}
		tc.MultiAgentMode = modeJSON(mode)
		changed := mode != n.lastMode
		var msg rollout.ResponseItem
		if changed {
			text := modeExplicitText
			if mode == ModeProactive {
				text = modeProactiveText
			}
			msg = *rollout.NewMessage(rollout.RoleDeveloper, text)
			msg.Passthrough = &rollout.Passthrough{TurnID: tc.TurnID}
			n.injected = append(n.injected, injection{turnID: tc.TurnID, item: msg})
			n.lastMode = mode
		}
		n.modeMu.Unlock()
		if changed {
			head := append(items[:i:i], rollout.Item{Timestamp: items[i].Timestamp, Payload: &msg}, items[i])
			if err := r.rec.AppendItems(head...); err != nil {
				return err
			}
			return r.AppendItems(items[i+1:]...)
		}
	}
	return r.rec.AppendItems(items...)
}

// Flush implements agent.Recorder.
func (r *modeRecorder) Flush(ctx context.Context) error { return r.rec.Flush(ctx) }
