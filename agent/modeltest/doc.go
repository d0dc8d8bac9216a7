// Package modeltest provides the scripted model used to test agents without
// a network: a queue of scripted responses that records every request.
package modeltest
