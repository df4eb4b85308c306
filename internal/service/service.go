// Package service defines what a labd protocol service is and what it is
// given: the shared dependencies (config, store, session registry, TLS,
// data layout, logger), the lifecycle every service follows (bind, serve,
// shut down, optionally reload), and the listening helpers that turn bind
// failures into messages an instructor can act on.
package service

import (
	"context"
	"log/slog"
	"sync"

	"labd/config"
	"labd/internal/authguard"
	"labd/internal/budget"
	"labd/internal/exercises"
	"labd/internal/faults"
	"labd/internal/fsroot"
	"labd/internal/sessions"
	"labd/internal/store"
	"labd/internal/tlsutil"
)

// Deps is what every service is built from besides its config section.
type Deps struct {
	Config   *config.Config
	Store    store.Store
	Sessions *sessions.Registry
	TLS      *tlsutil.Material
	Layout   fsroot.Layout
	Logger   *slog.Logger
	// Guard throttles password guessing across all services: every login
	// path checks passwords through it, never through Store directly.
	Guard *authguard.Guard
	// Inflight bounds the message bytes all sessions hold in memory at
	// once (SMTP DATA, IMAP APPEND): limits.inflight_message_bytes.
	Inflight *budget.Budget
	// Endpoints is filled once every service is bound; the lab shell's ss
	// and the dashboard read it.
	Endpoints *Endpoints
	// Faults are the faults the teacher switched on (nil: none).
	Faults *faults.Set
	// Exercises tracks the class's progress (nil: no exercises declared).
	Exercises *exercises.Tracker
}

// Service is one protocol server.
type Service interface {
	// Name is the service's name in logs and the listener table.
	Name() string
	// Bind opens every socket and returns what it bound. Nothing is served
	// until Serve; if another service fails to bind, Shutdown is called
	// without Serve and must release the sockets.
	Bind() ([]Endpoint, error)
	// Serve serves until ctx is cancelled; then it stops accepting and
	// returns. Sessions in progress go on until Shutdown.
	Serve(ctx context.Context) error
	// Shutdown lets sessions finish until ctx ends, then closes them.
	Shutdown(ctx context.Context) error
}

// Reloader is implemented by services with state that SIGHUP refreshes
// (zone files, caches). It returns a short description of what it did.
type Reloader interface {
	Reload(ctx context.Context) (string, error)
}

// Builder makes a service from its config section (found in Deps.Config).
type Builder struct {
	Name    string
	Enabled func(*config.Config) bool
	New     func(Deps) (Service, error)
	// Check, if set, validates what the config refers to beyond its
	// syntax (zone files...) for labd check; errors name file and line.
	Check func(*config.Config) error
}

// Endpoint is one bound address.
type Endpoint struct {
	Service string `json:"service"` // "smtp", "submission", "dns"...
	Network string `json:"network"` // "tcp" or "udp"
	Addr    string `json:"addr"`
	TLS     bool   `json:"tls,omitempty"` // implicit TLS
	State   string `json:"state"`         // "listening", "stopped"
}

// Endpoints is the daemon's listener table.
type Endpoints struct {
	mu   sync.Mutex
	list []Endpoint
}

// Add appends bound endpoints.
func (e *Endpoints) Add(eps ...Endpoint) {
	e.mu.Lock()
	e.list = append(e.list, eps...)
	e.mu.Unlock()
}

// SetState changes the state of every endpoint.
func (e *Endpoints) SetState(state string) {
	e.mu.Lock()
	for i := range e.list {
		e.list[i].State = state
	}
	e.mu.Unlock()
}

// List returns a copy of the table.
func (e *Endpoints) List() []Endpoint {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Endpoint(nil), e.list...)
}

// Find returns the first endpoint of a service on a network.
func (e *Endpoints) Find(service, network string) (Endpoint, bool) {
	for _, ep := range e.List() {
		if ep.Service == service && ep.Network == network {
			return ep, true
		}
	}
	return Endpoint{}, false
}
