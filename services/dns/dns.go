// Package dns is labd's DNS server (github.com/miekg/dns): authoritative
// for a built-in lab zone generated from the config (SOA, NS, A/AAAA, MX,
// CNAME, TXT, a round-robin name, a name too big for 512 bytes, one A per
// user, a wildcard), for reverse zones of the host's addresses and for any
// BIND master file, over UDP and TCP on the same port. It truncates over
// UDP (TC) so that clients retry over TCP, honours EDNS0, rotates RRsets,
// refuses recursion unless forwarders are configured (then it caches),
// serves AXFR to allowed networks, sends NOTIFY on reload, and rate limits
// responses per client.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"labd/config"
	"labd/internal/service"
)

// Service is the DNS server.
type Service struct {
	cfg  *config.Config
	deps service.Deps
	log  *slog.Logger
	// now is the clock of the cache and the rate limiter (tests move it).
	now func() time.Time

	zones    atomic.Pointer[zoneSet]
	reloadMu sync.Mutex
	rot      atomic.Uint32

	allowRecursion []netip.Prefix
	allowTransfer  []netip.Prefix
	rateExempt     []netip.Prefix
	limiter        *limiter
	secondaries    map[string]*secondary
	cache          *cache
	// upstreamTimeout bounds one exchange with a forwarder.
	upstreamTimeout time.Duration

	servers   []*dns.Server
	endpoints []service.Endpoint
	bg        sync.WaitGroup // NOTIFY senders
}

// zoneSet is every zone served, swapped as a whole on reload.
type zoneSet struct {
	zones map[string]*zone

	// texts holds the presentation form of every record of the zones,
	// built at first use: the transcript of each answer shows its first
	// records, and formatting them anew cost more than answering.
	textsOnce sync.Once
	texts     map[dns.RR]string

	// packed holds the UDP answers from these zones (packed.go).
	packed packedCache
}

// text returns rr in presentation form, from the cache for the zones'
// own records (synthesised ones, from wildcards or forwarding, are
// formatted each time).
func (zs *zoneSet) text(rr dns.RR) string {
	if zs == nil {
		return rr.String()
	}
	zs.textsOnce.Do(func() {
		zs.texts = map[dns.RR]string{}
		for _, z := range zs.zones {
			for _, r := range z.records {
				zs.texts[r] = r.String()
			}
			for _, r := range z.negSOA {
				zs.texts[r] = r.String()
			}
			if z.soa != nil {
				zs.texts[z.soa] = z.soa.String()
			}
		}
	})
	if t, ok := zs.texts[rr]; ok {
		return t
	}
	return rr.String()
}

// find returns the zone with the longest origin that contains qname.
func (zs *zoneSet) find(qname string) *zone {
	for p := qname; ; {
		if z := zs.zones[p]; z != nil {
			return z
		}
		off, end := dns.NextLabel(p, 0)
		if end {
			return nil
		}
		p = p[off:]
	}
}

func (zs *zoneSet) sorted() []*zone {
	out := make([]*zone, 0, len(zs.zones))
	for _, z := range zs.zones {
		out = append(out, z)
	}
	slices.SortFunc(out, func(a, b *zone) int { return strings.Compare(a.origin, b.origin) })
	return out
}

// New builds the service from deps.Config.DNS. A zone file with an error
// stops labd from starting (labd check says which line).
func New(deps service.Deps) (service.Service, error) {
	return newService(deps)
}

func newService(deps service.Deps) (*Service, error) {
	cfg := deps.Config
	s := &Service{
		cfg:             cfg,
		deps:            deps,
		log:             deps.Logger,
		now:             time.Now,
		cache:           newCache(10000),
		upstreamTimeout: 3 * time.Second,
		secondaries:     newSecondaries(cfg.DNS.Secondaries),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	var err error
	if s.allowRecursion, err = prefixes(cfg.DNS.AllowRecursion); err != nil {
		return nil, err
	}
	if s.allowTransfer, err = prefixes(cfg.DNS.AllowTransfer); err != nil {
		return nil, err
	}
	if s.rateExempt, err = prefixes(cfg.DNS.RateLimitExempt); err != nil {
		return nil, err
	}
	if cfg.DNS.RateLimit > 0 {
		s.limiter = newLimiter(cfg.DNS.RateLimit, cfg.DNS.RateLimitSlip)
	}
	if v4, _ := hostAddrs(cfg); v4.IsLoopback() && cfg.Server.PublicAddress == "" && !allLoopback(cfg.Server.Listen) {
		s.log.Warn("the built-in zone's A records point to 127.0.0.1: set server.public_address to the address students use to reach this host", "domain", cfg.Server.Domain)
	}
	zs, errs := s.load(context.Background(), nil)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.zones.Store(zs)
	return s, nil
}

func allLoopback(addrs []string) bool {
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}

func prefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range list {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network in CIDR form: %w", p, err)
		}
		out = append(out, pfx.Masked())
	}
	return out, nil
}

func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// load builds the zone set: the generated zones, then the master files
// (which override a generated zone of the same origin, and drop a
// generated reverse zone they contain). A file with an error keeps its
// previous version from prev (if any) and is reported in errs.
func (s *Service) load(ctx context.Context, prev *zoneSet) (*zoneSet, []error) {
	var errs []error
	prevZones := map[string]*zone{}
	if prev != nil {
		prevZones = prev.zones
	}
	var users []string
	if s.deps.Store != nil {
		uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		list, err := s.deps.Store.ListUsers(uctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("listing users for the built-in zone: %w", err))
		}
		for _, u := range list {
			users = append(users, u.Name)
		}
	}
	next := &zoneSet{zones: map[string]*zone{}}
	gen, err := generatedZones(s.cfg, users, prevZones, s.now())
	if err != nil {
		errs = append(errs, err)
		for _, z := range prevZones {
			if z.file == "" {
				next.zones[z.origin] = z
			}
		}
	}
	for _, z := range gen {
		next.zones[z.origin] = z
	}
	for _, zc := range s.cfg.DNS.Zones {
		origin := strings.ToLower(dns.Fqdn(zc.Origin))
		z, err := parseZone(origin, zc.File, uint32(s.cfg.DNS.TTL))
		if err != nil {
			errs = append(errs, err)
			if p := prevZones[origin]; p != nil && p.file == zc.File {
				s.log.Error("zone file has an error; the previous version of the zone stays in use", "zone", origin, "file", zc.File, "err", err)
				z = p
			} else {
				s.log.Error("zone file has an error; the zone is not served", "zone", origin, "file", zc.File, "err", err)
				continue
			}
		}
		next.zones[origin] = z
	}
	// Secondary zones stay as last transferred (the refresh loops update
	// them).
	for origin, z := range prevZones {
		if z.primary != "" && s.secondaries[origin] != nil {
			next.zones[origin] = z
		}
	}
	// A file zone containing a generated reverse zone replaces it.
	for origin, z := range next.zones {
		if z.file != "" || !strings.HasSuffix(origin, ".arpa.") {
			continue
		}
		for _, f := range next.zones {
			if f.file != "" && f.origin != origin && dns.IsSubDomain(f.origin, origin) {
				delete(next.zones, origin)
				break
			}
		}
	}
	return next, errs
}

// Check validates the zone files and the extra records of the config the
// way a start or a reload would; errors name file and line.
func Check(cfg *config.Config) error {
	s := &Service{cfg: cfg, log: slog.New(slog.DiscardHandler), now: time.Now}
	_, errs := s.load(context.Background(), nil)
	return errors.Join(errs...)
}

// Name implements service.Service.
func (s *Service) Name() string { return "dns" }

// Bind opens UDP and TCP on every listen address, TCP on the same port as
// UDP (when the configured port is 0 the kernel picks one for UDP and TCP
// takes the same, retrying if that TCP port is busy).
func (s *Service) Bind() ([]service.Endpoint, error) {
	for _, addr := range s.cfg.DNS.Listen {
		pcs, ln, err := bindPair(addr)
		if err != nil {
			s.closeSockets()
			return nil, err
		}
		pc := pcs[0]
		for _, pc := range pcs {
			s.servers = append(s.servers, &dns.Server{PacketConn: pc, Handler: s, UDPSize: 4096, MsgAcceptFunc: acceptQueries})
		}
		s.servers = append(s.servers,
			&dns.Server{Listener: ln, Handler: s, MsgAcceptFunc: acceptQueries,
				ReadTimeout: 10 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }},
		)
		s.endpoints = append(s.endpoints,
			service.Endpoint{Service: "dns", Network: "udp", Addr: pc.LocalAddr().String(), State: "listening"},
			service.Endpoint{Service: "dns", Network: "tcp", Addr: ln.Addr().String(), State: "listening"},
		)
	}
	return s.endpoints, nil
}

func bindPair(addr string) ([]net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen address %q: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		pcs, err := listenUDPGroup(addr, udpSocketsPerAddr())
		if err != nil {
			// On port 0 another program may take the port the first
			// bind found in the moment before the group binds it
			// (listenUDPGroup): another port does as well.
			if port == "0" && attempt < 20 && errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			return nil, nil, err
		}
		_, udpPort, _ := net.SplitHostPort(pcs[0].LocalAddr().String())
		ln, err := service.ListenTCP("dns", net.JoinHostPort(host, udpPort))
		if err == nil {
			return pcs, ln, nil
		}
		for _, pc := range pcs {
			pc.Close()
		}
		if port != "0" || attempt >= 20 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, err
		}
	}
}

func (s *Service) closeSockets() {
	for _, srv := range s.servers {
		if srv.PacketConn != nil {
			srv.PacketConn.Close()
		}
		if srv.Listener != nil {
			srv.Listener.Close()
		}
	}
}

// Serve implements service.Service.
func (s *Service) Serve(ctx context.Context) error {
	defer s.followUsers(ctx)()
	started := make(chan struct{}, len(s.servers))
	errc := make(chan error, len(s.servers))
	for _, srv := range s.servers {
		if uc, ok := srv.PacketConn.(*net.UDPConn); ok {
			// UDP is served by labd's own loop (udp.go); TCP by miekg/dns.
			u := newUDPServer(uc, s)
			started <- struct{}{}
			go func() { errc <- u.serve() }()
			continue
		}
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() { errc <- srv.ActivateAndServe() }()
	}
	for _, sec := range s.secondaries {
		s.bg.Add(1)
		go s.secondaryLoop(ctx, sec)
	}
	var first error
	running := len(s.servers)
	for n := 0; n < len(s.servers); n++ {
		select {
		case <-started:
		case err := <-errc:
			running--
			if first == nil && err != nil && !errors.Is(err, net.ErrClosed) {
				first = err
			}
		}
	}
	if first == nil {
		select {
		case <-ctx.Done():
		case err := <-errc:
			running--
			if err != nil && !errors.Is(err, net.ErrClosed) {
				first = err
			}
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		if _, ok := srv.PacketConn.(*net.UDPConn); ok {
			srv.PacketConn.Close()
			continue
		}
		_ = srv.ShutdownContext(sctx)
	}
	for ; running > 0; running-- {
		if err := <-errc; err != nil && first == nil && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
			first = err
		}
	}
	return first
}

// Shutdown implements service.Service: DNS exchanges are short, so it
// closes the sockets (Serve already stopped the servers) and waits for
// NOTIFY senders.
func (s *Service) Shutdown(ctx context.Context) error {
	s.closeSockets()
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// Reload implements service.Reloader (SIGHUP, labd reload): it re-reads
// the zone files and the users, keeps the previous version of a zone
// whose file has an error, flushes the forwarder cache and sends NOTIFY
// for every zone whose serial changed.
func (s *Service) Reload(ctx context.Context) (string, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	prev := s.zones.Load()
	next, errs := s.load(ctx, prev)
	s.zones.Store(next)
	flushed := s.cache.flush()
	for _, sec := range s.secondaries {
		sec.trigger()
	}
	var parts []string
	for _, z := range next.sorted() {
		note := ""
		if p := prev.zones[z.origin]; p == nil || p.serial() != z.serial() {
			note = " changed"
			s.sendNotify(z)
		}
		parts = append(parts, fmt.Sprintf("%s serial %d%s", z.origin, z.serial(), note))
	}
	summary := fmt.Sprintf("zones: %s; cache flushed (%d entries)", strings.Join(parts, ", "), flushed)
	if len(errs) > 0 {
		return summary, fmt.Errorf("%w (%s)", errors.Join(errs...), summary)
	}
	return summary, nil
}

// FlushCache empties the forwarder cache and returns how many entries it
// held.
func (s *Service) FlushCache() int { return s.cache.flush() }

func itoa(n int) string { return strconv.Itoa(n) }
