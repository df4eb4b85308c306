package dashboard

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"labd/internal/faults"
)

// faultsPage lists the active faults and a form per service to set one.
func (d *Dashboard) faultsPage(w http.ResponseWriter, r *http.Request) {
	d.renderFaults(w, r, http.StatusOK, nil)
}

type faultService struct {
	Name  string
	Kinds []faults.Kind
}

func (d *Dashboard) renderFaults(w http.ResponseWriter, r *http.Request, status int, problems []string) {
	var svcs []faultService
	for _, k := range faults.Kinds {
		if len(svcs) == 0 || svcs[len(svcs)-1].Name != k.Service {
			svcs = append(svcs, faultService{Name: k.Service})
		}
		svcs[len(svcs)-1].Kinds = append(svcs[len(svcs)-1].Kinds, k)
	}
	max := time.Duration(0)
	if d.deps.Faults != nil {
		max = d.deps.Faults.Max
	}
	d.render(w, r, status, "faults", map[string]any{
		"Faults": d.deps.Faults.List(), "Services": svcs, "Problems": problems, "Max": max,
	})
}

// faultsSet switches a fault on from the form: service, kind, params as
// KEY=VALUE words, a user or an address, and minutes.
func (d *Dashboard) faultsSet(w http.ResponseWriter, r *http.Request) {
	if d.deps.Faults == nil {
		d.fail(w, r, http.StatusServiceUnavailable, "faults are not available in this daemon")
		return
	}
	svc, kind, _ := strings.Cut(r.PostFormValue("kind"), "/")
	f := faults.Fault{Service: svc, Kind: kind, Params: map[string]string{}}
	for _, kv := range strings.Fields(r.PostFormValue("params")) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			d.renderFaults(w, r, http.StatusBadRequest, []string{"parameters are KEY=VALUE words, such as percent=20"})
			return
		}
		f.Params[k] = v
	}
	switch r.PostFormValue("scope") {
	case "user":
		f.User = strings.TrimSpace(r.PostFormValue("who"))
	case "addr":
		f.Addr = strings.TrimSpace(r.PostFormValue("who"))
	}
	minutes, err := strconv.Atoi(r.PostFormValue("minutes"))
	if err != nil || minutes <= 0 {
		minutes = int(faults.DefaultDuration / time.Minute)
	}
	got, err := d.deps.Faults.Add(f, time.Duration(minutes)*time.Minute)
	if err != nil {
		d.renderFaults(w, r, http.StatusBadRequest, []string{err.Error()})
		return
	}
	d.log.Info("fault set", "id", got.ID, "fault", got.String(), "scope", got.Scope(), "until", got.Expires.Format(time.RFC3339), "by", current(r).user)
	http.Redirect(w, r, "/labd/faults", http.StatusSeeOther)
}

// faultsClear switches off one fault (id) or all (id 0).
func (d *Dashboard) faultsClear(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(r.PostFormValue("id"))
	n := d.deps.Faults.Clear(id)
	d.log.Info("faults cleared", "id", id, "count", n, "by", current(r).user)
	http.Redirect(w, r, "/labd/faults", http.StatusSeeOther)
}

// activeFaults is what the class board shows: which services have a fault
// on, not which fault (finding it is the lesson).
func (d *Dashboard) activeFaults() []string {
	active := d.deps.Faults.Active()
	var out []string
	for _, k := range faults.Kinds {
		if active[k.Service] && (len(out) == 0 || out[len(out)-1] != k.Service) {
			out = append(out, k.Service)
		}
	}
	return out
}
