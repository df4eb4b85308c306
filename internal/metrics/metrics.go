// Package metrics exposes labd's counters in the Prometheus text format on
// a listener of its own (metrics.listen), off by default in production:
// sessions and bytes per protocol from the session registry, logins and
// throttled logins from the login paths, DNS answers by rcode, TFTP and FTP
// transfers, store changes, and build information.
//
// Counters come from synchronous observers (sessions.Registry.Observe,
// store.Store.Subscribe) so that none is lost under load; gauges (open
// sessions, transcript bytes) are read at scrape time.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"labd/internal/service"
	"labd/internal/sessions"
	"labd/internal/store"
)

// Metrics owns a registry of its own: no global state, and two daemons in
// one test process do not collide.
type Metrics struct {
	reg *prometheus.Registry

	sessions       *prometheus.CounterVec
	authenticated  *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	logins         *prometheus.CounterVec
	dnsQueries     *prometheus.CounterVec
	dnsLimited     *prometheus.CounterVec
	mailsDelivered prometheus.Counter
	mailsRefused   *prometheus.CounterVec
	transfers      *prometheus.CounterVec
	transferBytes  *prometheus.CounterVec
	storeEvents    *prometheus.CounterVec
	commitSeconds  prometheus.Histogram
	commitBatch    prometheus.Histogram
}

// New registers every metric and starts observing reg and st (either may
// be nil). version is labd's build version.
func New(reg *sessions.Registry, st store.Store, version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.sessions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labd_sessions_total",
		Help: "Sessions (connections, UDP exchanges) finished, by protocol."}, []string{"protocol"})
	m.authenticated = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labd_authenticated_sessions_total",
		Help: "Finished sessions in which a user logged in, by protocol."}, []string{"protocol"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labd_bytes_total",
		Help: "Bytes of finished sessions, by protocol and direction (in: from clients)."}, []string{"protocol", "direction"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labd_logins_total",
		Help: "Password and key checks, by protocol and result (ok, failed, throttled)."}, []string{"protocol", "result"})
	m.dnsQueries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labd_dns_queries_total",
		Help: "DNS queries answered, by rcode (dropped: rate-limited or unanswerable)."}, []string{"rcode", "transport"})
	m.dnsLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labd_dns_rate_limited_total",
		Help: "DNS responses held back by dns.rate_limit, by action (drop: no answer; slip: an empty truncated answer)."}, []string{"action"})
	m.mailsDelivered = prometheus.NewCounter(prometheus.CounterOpts{Name: "labd_mails_delivered_total",
		Help: "Mails accepted over SMTP after their commit (one per DATA, whatever the number of recipients)."})
	m.mailsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labd_mails_refused_total",
		Help: "Recipients and mails refused over SMTP, by reason (no_such_user, relay_denied, bad_address, auth_required, too_big, storage_full, lookup_failed, delivery_failed, fault)."}, []string{"reason"})
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labd_transfers_total",
		Help: "TFTP transfers and FTP data connections finished, by protocol."}, []string{"protocol"})
	m.transferBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labd_transfer_bytes_total",
		Help: "File bytes moved by TFTP transfers and FTP data connections."}, []string{"protocol"})
	m.storeEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labd_store_changes_total",
		Help: "Committed store changes, by kind (MessageAdded counts every delivered, appended or copied message)."}, []string{"kind"})
	m.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "labd_store_commit_seconds",
		Help: "Time of one group commit (one fsync for every writer in the batch).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	m.commitBatch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "labd_store_commit_batch_size",
		Help: "Writers sharing one group commit.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128}})
	for _, c := range []prometheus.Collector{m.sessions, m.authenticated, m.bytes, m.logins, m.dnsQueries, m.dnsLimited, m.mailsDelivered, m.mailsRefused,
		m.transfers, m.transferBytes, m.storeEvents, m.commitSeconds, m.commitBatch} {
		f(c)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "labd_build_info",
		Help:        "Always 1; the labels say which labd and Go built it.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion()}})
	build.Set(1)
	f(build)
	if reg != nil {
		f(&liveCollector{reg: reg})
		reg.Observe(m.observeSession)
	}
	if st != nil {
		st.Subscribe(func(e store.Event) { m.storeEvents.WithLabelValues(e.Kind.String()).Inc() })
		// Not part of store.Store: a test's fake store has no commits.
		if o, ok := st.(interface{ ObserveCommits(store.CommitObserver) }); ok {
			o.ObserveCommits(m)
		}
	}
	return m
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "unknown"
}

func (m *Metrics) observeSession(e sessions.Event) {
	if e.Kind != "close" {
		return
	}
	in := e.Info
	m.sessions.WithLabelValues(in.Proto).Inc()
	if in.User != "" {
		m.authenticated.WithLabelValues(in.Proto).Inc()
	}
	m.bytes.WithLabelValues(in.Proto, "in").Add(float64(in.BytesIn))
	m.bytes.WithLabelValues(in.Proto, "out").Add(float64(in.BytesOut))
	switch in.Proto {
	case "dns":
		rc := in.Attrs["rcode"]
		if rc == "" {
			rc = "none"
		}
		m.dnsQueries.WithLabelValues(rc, in.Transport).Inc()
		if a := in.Attrs["rate_limit"]; a != "" {
			m.dnsLimited.WithLabelValues(a).Inc()
		}
	case "smtp":
		if n, err := strconv.Atoi(in.Attrs["mails_delivered"]); err == nil {
			m.mailsDelivered.Add(float64(n))
		}
		// "reason:n reason:n", written by the SMTP service.
		for _, f := range strings.Fields(in.Attrs["mails_refused"]) {
			reason, count, ok := strings.Cut(f, ":")
			if n, err := strconv.Atoi(count); ok && err == nil && n > 0 {
				m.mailsRefused.WithLabelValues(reason).Add(float64(n))
			}
		}
	case "tftp":
		m.transfers.WithLabelValues("tftp").Inc()
		if n, err := strconv.ParseInt(in.Attrs["bytes"], 10, 64); err == nil {
			m.transferBytes.WithLabelValues("tftp").Add(float64(n))
		}
	case "ftp-data":
		m.transfers.WithLabelValues("ftp").Inc()
		m.transferBytes.WithLabelValues("ftp").Add(float64(in.BytesIn + in.BytesOut))
	}
}

// Login counts one password or key check; result is ok, failed or
// throttled. The login paths call it (through a small interface of their
// own, so that protocols do not import this package).
func (m *Metrics) Login(protocol, result string) {
	m.logins.WithLabelValues(protocol, result).Inc()
}

// Commit records one commit of the store (store.CommitObserver).
func (m *Metrics) Commit(d time.Duration, writers int) {
	m.commitSeconds.Observe(d.Seconds())
	m.commitBatch.Observe(float64(writers))
}

// Handler serves the text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil, Registry: m.reg})
}

// liveCollector reads what is open now at each scrape.
type liveCollector struct{ reg *sessions.Registry }

var (
	openDesc = prometheus.NewDesc("labd_sessions_open", "Sessions open now, by protocol.", []string{"protocol"}, nil)
	keptDesc = prometheus.NewDesc("labd_transcript_bytes", "Bytes held by every kept transcript (bounded by sessions.total_bytes).", nil, nil)
)

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) { ch <- openDesc; ch <- keptDesc }

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	open := map[string]int{}
	for _, in := range c.reg.Live() {
		open[in.Proto]++
	}
	for p, n := range open {
		ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, float64(n), p)
	}
	ch <- prometheus.MustNewConstMetric(keptDesc, prometheus.GaugeValue, float64(c.reg.TranscriptBytes()))
}

// Service serves /metrics on metrics.listen; it follows the lifecycle of
// the protocol services so that it is bound before anything is served and
// shows in the listener table.
type Service struct {
	m    *Metrics
	addr string
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
}

// NewService returns the listener of m at addr.
func NewService(m *Metrics, addr string, log *slog.Logger) *Service {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("labd metrics: GET /metrics (Prometheus text format)\n"))
	})
	return &Service{m: m, addr: addr, log: log,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}}
}

// Name implements service.Service.
func (s *Service) Name() string { return "metrics" }

// Bind implements service.Service.
func (s *Service) Bind() ([]service.Endpoint, error) {
	ln, err := service.ListenTCP("metrics", s.addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	return []service.Endpoint{{Service: "metrics", Network: "tcp", Addr: ln.Addr().String(), State: "listening"}}, nil
}

// Serve implements service.Service.
func (s *Service) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.srv.Close()
	}()
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown implements service.Service.
func (s *Service) Shutdown(ctx context.Context) error {
	if s.ln != nil {
		s.ln.Close()
	}
	return s.srv.Shutdown(ctx)
}
