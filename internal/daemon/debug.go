package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"labd/internal/service"
)

// startDebug serves pprof on addr (server.debug_listen, loopback only by
// validation) so that hot paths can be profiled on a real host:
//
//	go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=20
//
// It returns the bound address and a function that stops it. Its own mux
// keeps the handlers off http.DefaultServeMux and off every student-facing
// listener.
func startDebug(addr string, log *slog.Logger) (string, func(), error) {
	ln, err := service.ListenTCP("debug", addr)
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Warn("debug listener stopped", "err", err)
		}
	}()
	log.Info("pprof debug listener", "addr", ln.Addr().String())
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
