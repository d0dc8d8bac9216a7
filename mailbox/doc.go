// Package mailbox owns addressed messages between agents: the message type,
// the per-agent inbox and the sealing of message content. It never interprets
// message bodies and imports no other package of this module.
package mailbox
