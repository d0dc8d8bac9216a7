package agent

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
)

// createMergePatch returns the RFC 7386 JSON merge patch that turns the JSON
// document oldDoc into newDoc. A key removed from an object (at any depth)
// becomes null in the patch; an object replaced by a non-object, or any array,
// is carried whole. Both documents must be valid JSON; the new document must not
// contain null values, since a merge patch cannot express them (world-state
// snapshots strip nulls before diffing).
func createMergePatch(oldDoc, newDoc []byte) ([]byte, error) {
	var o, n any
	if err := json.Unmarshal(oldDoc, &o); err != nil {
		return nil, fmt.Errorf("agent: merge patch: old document: %w", err)
	}
	if err := json.Unmarshal(newDoc, &n); err != nil {
		return nil, fmt.Errorf("agent: merge patch: new document: %w", err)
	}
	return json.Marshal(diffValue(o, n))
}

func diffValue(o, n any) any {
	om, ook := o.(map[string]any)
	nm, nok := n.(map[string]any)
	if !ook || !nok {
		return n
	}
	patch := map[string]any{}
	for k := range om {
		if _, ok := nm[k]; !ok {
			patch[k] = nil
		}
	}
	for k, nv := range nm {
		ov, ok := om[k]
		if ok && reflect.DeepEqual(ov, nv) {
			continue
		}
		if ok {
			patch[k] = diffValue(ov, nv)
		} else {
			patch[k] = nv
		}
	}
	return patch
}

// applyMergePatch applies the RFC 7386 merge patch to doc and returns the
// result. An empty doc is treated as absent (null).
func applyMergePatch(doc, patch []byte) ([]byte, error) {
	var d, p any
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &d); err != nil {
			return nil, fmt.Errorf("agent: merge patch: document: %w", err)
		}
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("agent: merge patch: patch: %w", err)
	}
	return json.Marshal(mergeValue(d, p))
}

func mergeValue(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if ok {
		tm = maps.Clone(tm)
	} else {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergeValue(tm[k], v)
	}
	return tm
}
