package dashboard

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"labd/internal/capture"
)

// captureRoutes adds the Wireshark downloads (pcapng export of the
// recordings, see internal/capture) and the ladder diagrams.
func (d *Dashboard) captureRoutes() {
	d.mux.HandleFunc("GET /labd/sessions/{id}/capture.pcapng", d.admin(d.sessionCapture))
	d.mux.HandleFunc("GET /labd/sessions/{id}/keylog.txt", d.admin(d.sessionKeyLog))
	d.mux.HandleFunc("GET /labd/capture.pcapng", d.admin(d.classCapture))
	d.mux.HandleFunc("GET /labd/sessions/{id}/flow", d.admin(d.flowPage))
	d.mux.HandleFunc("GET /labd/sessions/{id}/flow.svg", d.admin(d.flowSVG))
}

// secretsAllowed says whether the admin may download what holds secrets in
// clear: a capture cannot mask a password without changing the bytes the
// class is meant to see, so it follows dashboard.allow_unmasked.
func (d *Dashboard) secretsAllowed(w http.ResponseWriter, r *http.Request) bool {
	if d.cfg.Unmask() {
		return true
	}
	d.fail(w, r, http.StatusForbidden, "Captures hold the passwords in clear, and dashboard.allow_unmasked is off.")
	return false
}

func (d *Dashboard) sessionCapture(w http.ResponseWriter, r *http.Request) {
	s, ok := d.session(w, r)
	if !ok || !d.secretsAllowed(w, r) {
		return
	}
	in := s.Info()
	d.writeCapture(w, r, fmt.Sprintf("labd-session-%d-%s.pcapng", in.ID, in.Proto), capture.WithData(d.deps.Sessions, in.ID))
}

func (d *Dashboard) writeCapture(w http.ResponseWriter, r *http.Request, name string, ss []capture.Session) {
	var buf bytes.Buffer
	if err := capture.Write(&buf, ss); err != nil {
		d.log.Warn("pcapng export failed", "err", err)
		d.fail(w, r, http.StatusInternalServerError, "The capture could not be built: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	_, _ = w.Write(buf.Bytes())
}

func (d *Dashboard) sessionKeyLog(w http.ResponseWriter, r *http.Request) {
	s, ok := d.session(w, r)
	if !ok || !d.secretsAllowed(w, r) {
		return
	}
	in := s.Info()
	keys := s.KeyLog()
	if len(keys) == 0 {
		d.fail(w, r, http.StatusNotFound, "This session has no TLS secrets: it did not use TLS, or sessions.tls_keylog is off.")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="labd-session-%d-%s-keylog.txt"`, in.ID, in.Proto))
	_, _ = w.Write(keys)
}

// classCapture merges the sessions of the form's filter into one file.
func (d *Dashboard) classCapture(w http.ResponseWriter, r *http.Request) {
	if !d.secretsAllowed(w, r) {
		return
	}
	f, err := capture.ParseFilter(r.URL.Query(), time.Now())
	if err != nil {
		d.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ss := capture.Select(d.deps.Sessions, f)
	if len(ss) == 0 {
		d.fail(w, r, http.StatusNotFound, "No session matches this filter.")
		return
	}
	d.writeCapture(w, r, "labd-class-"+time.Now().Format("20060102-150405")+".pcapng", ss)
}
