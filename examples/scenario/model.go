package scenario

import (
	"fmt"

	"github.com/troupe-run/troupe/agent"
	"github.com/troupe-run/troupe/agent/openaimodel"
)

// Endpoint is a real OpenAI-compatible model endpoint.
type Endpoint struct {
	// APIKey is sent as a bearer token.
	APIKey string
	// BaseURL is the API root ("" for OpenAI's).
	BaseURL string
	// ModelName is the model asked for.
	ModelName string
	// API is "responses" (the Responses API) or "chat" (Chat Completions,
	// for vLLM, Ollama, LM Studio and other compatible servers).
	API string
}

// DefaultModel is the model asked for when TROUPE_MODEL is not set.
const DefaultModel = "gpt-5-mini"

// EndpointFromEnv reads the endpoint from the environment: OPENAI_API_KEY
// (without it, nil: the scenarios run offline with the scripted model),
// OPENAI_BASE_URL, TROUPE_MODEL (default DefaultModel) and TROUPE_API
// ("responses", the default, or "chat").
func EndpointFromEnv(getenv func(string) string) (*Endpoint, error) {
	key := getenv("OPENAI_API_KEY")
	if key == "" {
		return nil, nil
	}
	e := &Endpoint{APIKey: key, BaseURL: getenv("OPENAI_BASE_URL"), ModelName: getenv("TROUPE_MODEL"), API: getenv("TROUPE_API")}
	if e.ModelName == "" {
		e.ModelName = DefaultModel
	}
	switch e.API {
	case "":
		e.API = "responses"
	case "responses", "chat":
	default:
		return nil, fmt.Errorf("%w: TROUPE_API must be \"responses\" or \"chat\", not %q", ErrOptions, e.API)
	}
	return e, nil
}

// Model returns the adapter for the endpoint.
func (e *Endpoint) Model() (agent.Model, error) {
	cfg := openaimodel.Config{APIKey: e.APIKey, BaseURL: e.BaseURL, Model: e.ModelName}
	if e.API == "chat" {
		return openaimodel.NewChat(cfg)
	}
	return openaimodel.NewResponses(cfg)
}

// String describes the endpoint without its key.
func (e *Endpoint) String() string {
	base := e.BaseURL
	if base == "" {
		base = openaimodel.DefaultBaseURL
	}
	return fmt.Sprintf("%s via the %s API at %s", e.ModelName, e.API, base)
}
