// Package agent owns one agent's life: the thread it owns, the turn loop
// (model steps, tool dispatch, steering, interruption, sleep), world state,
// context windows and the Model interface. It never routes to other agents;
// package control does.
package agent
