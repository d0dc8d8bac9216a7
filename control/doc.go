// Package control is the composition root and supervisor of troupe: it
// spawns agents, owns their goroutines, routes messages between them and
// resumes and forks whole trees. Nothing in the library imports it.
package control
