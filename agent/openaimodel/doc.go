// Package openaimodel adapts the OpenAI Responses and Chat Completions APIs
// to agent.Model. It is the only package that imports go-openai.
package openaimodel
