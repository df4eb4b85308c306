// Package sessionlog copies this host's sessions to the shared session log
// of the store (PostgreSQL, several labd hosts on one database), so that
// every host's dashboard and `labd sessions --all-nodes` list every host's
// sessions with the node's name (docs/scale-out.md).
//
// Recording never slows a session: the registry's observer only queues a
// snapshot of the session's metadata in a bounded channel, and drops (and
// counts) it when the channel is full. One goroutine writes what is queued
// in batches (one INSERT per batch) and, when a session has ended, copies
// its transcript with it (the registry already bounds each transcript to
// sessions.transcript_bytes). Retention is bounded by age and by count.
package sessionlog

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"labd/internal/sessions"
	"labd/internal/store"
)

// Log is what the recorder needs of the store (*store.DB on PostgreSQL).
type Log interface {
	RecordSessions(ctx context.Context, list []store.SessionSummary) error
	EndRuns(ctx context.Context, node string, run int64) error
	PruneSessions(ctx context.Context, node string, olderThan time.Time, keep, keepTranscripts int) error
}

// Options tune a Recorder; zero values take the defaults.
type Options struct {
	Node string
	// Buffer is how many session events may wait to be written (4096);
	// beyond, events are dropped and counted.
	Buffer int
	// Batch is the most summaries per INSERT (256).
	Batch int
	// Interval is the longest an event waits for its batch (500 ms).
	Interval time.Duration
	// Retention drops this host's summaries older than this (7 days).
	Retention time.Duration
	// Keep bounds this host's summaries (20,000), KeepTranscripts its
	// copied transcripts (1,000: sessions.history's default).
	Keep, KeepTranscripts int
	// Private, if set, says which sessions' transcripts are not copied
	// (the dashboard's own connections, which carry the teacher's cookie).
	Private func(sessions.Info) bool
	Logger  *slog.Logger
}

func (o *Options) defaults() {
	if o.Buffer <= 0 {
		o.Buffer = 4096
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.Keep <= 0 {
		o.Keep = 20000
	}
	if o.KeepTranscripts <= 0 {
		o.KeepTranscripts = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Recorder writes a registry's sessions to the shared log.
type Recorder struct {
	reg  *sessions.Registry
	log  Log
	opts Options
	run  int64

	queue   chan sessions.Event
	dropped atomic.Uint64 // events not queued (channel full)
	failed  atomic.Uint64 // summaries whose batch the database refused
	written atomic.Uint64

	stopObserve func()
	stop        chan struct{}
	done        chan struct{}
	once        sync.Once
}

// Start begins recording reg's sessions. It first marks the sessions an
// earlier run of this node left open as lost (that labd was killed).
func Start(reg *sessions.Registry, log Log, opts Options) *Recorder {
	opts.defaults()
	r := &Recorder{reg: reg, log: log, opts: opts, run: time.Now().UnixMilli(),
		queue: make(chan sessions.Event, opts.Buffer), stop: make(chan struct{}), done: make(chan struct{})}
	r.stopObserve = reg.Observe(func(ev sessions.Event) {
		select {
		case r.queue <- ev:
		default:
			r.dropped.Add(1)
		}
	})
	go r.loop()
	return r
}

// Run identifies this run of the node in the log.
func (r *Recorder) Run() int64 { return r.run }

// Dropped is how many session events were not written: queue full, or
// their batch refused by the database.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() + r.failed.Load() }

// Written is how many summaries were written.
func (r *Recorder) Written() uint64 { return r.written.Load() }

// Close stops observing, writes what is queued (within a few seconds) and
// returns. Idempotent.
func (r *Recorder) Close() {
	r.once.Do(func() {
		r.stopObserve()
		close(r.stop)
		<-r.done
	})
}

func (r *Recorder) loop() {
	defer close(r.done)
	ctx := context.Background()
	if err := r.log.EndRuns(ctx, r.opts.Node, r.run); err != nil {
		r.opts.Logger.Warn("session log: cannot close the sessions of this node's earlier runs", "err", err)
	}
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	var batch []sessions.Event
	lastPrune := time.Time{}
	lastWarn := time.Time{}
	var reported uint64
	flush := func() {
		if len(batch) > 0 {
			r.write(batch)
			batch = batch[:0]
		}
		if d := r.Dropped(); d != reported && time.Since(lastWarn) > time.Minute {
			lastWarn, reported = time.Now(), d
			r.opts.Logger.Warn("session log: session events not written to the shared log (database busy or away)", "dropped", d)
		}
		if time.Since(lastPrune) > time.Minute {
			lastPrune = time.Now()
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := r.log.PruneSessions(pctx, r.opts.Node, time.Now().Add(-r.opts.Retention), r.opts.Keep, r.opts.KeepTranscripts); err != nil {
				r.opts.Logger.Warn("session log: pruning", "err", err)
			}
			cancel()
		}
	}
	for {
		select {
		case ev := <-r.queue:
			batch = append(batch, ev)
			if len(batch) >= r.opts.Batch {
				flush()
			}
		case <-tick.C:
			flush()
		case <-r.stop:
			// What is queued now, then stop: a bounded drain.
			for {
				select {
				case ev := <-r.queue:
					batch = append(batch, ev)
					if len(batch) >= r.opts.Batch {
						r.write(batch)
						batch = batch[:0]
					}
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				r.write(batch)
			}
			return
		}
	}
}

// write turns events into summaries (with the transcript of each ended
// session) and writes them in one statement.
func (r *Recorder) write(batch []sessions.Event) {
	list := make([]store.SessionSummary, 0, len(batch))
	for _, ev := range batch {
		x := Summary(r.opts.Node, r.run, ev.Info)
		if ev.Kind == "close" && (r.opts.Private == nil || !r.opts.Private(ev.Info)) {
			if s, ok := r.reg.Get(ev.Info.ID); ok {
				if b, err := json.Marshal(s.Transcript()); err == nil {
					x.Transcript = b
				}
			}
		}
		list = append(list, x)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.log.RecordSessions(ctx, list); err != nil {
		r.failed.Add(uint64(len(list)))
		r.opts.Logger.Debug("session log: batch not written", "sessions", len(list), "err", err)
		return
	}
	r.written.Add(uint64(len(list)))
}

// Summary is a session's metadata as the log keeps it.
func Summary(node string, run int64, in sessions.Info) store.SessionSummary {
	state := "open"
	if !in.Open {
		state = in.Result
		if state == "" {
			state = "closed"
		}
	}
	return store.SessionSummary{Node: node, Run: run, ID: in.ID, Proto: in.Proto, Transport: in.Transport,
		Local: in.Local, Remote: in.Remote, User: in.User, TLS: in.TLS, Start: in.Start, End: in.End,
		BytesIn: in.BytesIn, BytesOut: in.BytesOut, State: state, Attrs: in.Attrs}
}

// Info is a logged session as the registry describes one, with its node.
func Info(x store.SessionSummary) sessions.Info {
	in := sessions.Info{ID: x.ID, Proto: x.Proto, Transport: x.Transport, Local: x.Local, Remote: x.Remote,
		User: x.User, TLS: x.TLS, Start: x.Start, End: x.End, BytesIn: x.BytesIn, BytesOut: x.BytesOut,
		Open: x.State == "open", Node: x.Node, Run: x.Run, Attrs: x.Attrs}
	if !in.Open {
		in.Result = x.State
	}
	return in
}

// Transcript decodes a logged session's transcript (nil: none kept).
func Transcript(x store.SessionSummary) ([]sessions.Entry, error) {
	if x.Transcript == nil {
		return nil, nil
	}
	var out []sessions.Entry
	err := json.Unmarshal(x.Transcript, &out)
	return out, err
}
