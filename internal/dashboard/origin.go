package dashboard

import (
	"net/http"
	"net/url"
	"strings"
)

// sameOrigin decides whether a request may change state or read the API.
// Student pages under /~user/ are served from the same host as the
// dashboard, so a browser carrying the teacher's cookie could be driven by
// them; those pages are sandboxed into an opaque origin (services/http), so
// the browser labels their requests cross-site. Order of evidence, as the
// Fetch Metadata guidance recommends: Sec-Fetch-Site, then Origin, then
// Referer. A request with none of the three does not come from a modern
// browser (curl, scripts): the CSRF token still guards it.
func sameOrigin(r *http.Request) (bool, string) {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		switch site {
		case "same-origin":
		case "none":
			// Typed in the address bar or opened from a bookmark: only
			// safe for reads; a navigation never carries a POST body this way.
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				return false, "Sec-Fetch-Site: none on a " + r.Method
			}
		default:
			return false, "Sec-Fetch-Site: " + site
		}
		// Same origin also holds for student pages; a Referer, when the
		// browser sends one, tells where on the origin the request came from.
		if ref := r.Header.Get("Referer"); ref != "" && !fromDashboard(r, ref) {
			return false, "Referer " + ref
		}
		return true, ""
	}
	if o := r.Header.Get("Origin"); o != "" {
		if o != selfOrigin(r) {
			return false, "Origin " + o
		}
		return true, ""
	}
	if ref := r.Header.Get("Referer"); ref != "" && !fromDashboard(r, ref) {
		return false, "Referer " + ref
	}
	return true, ""
}

func selfOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}

// fromDashboard says whether ref is a page of the dashboard on this origin.
func fromDashboard(r *http.Request, ref string) bool {
	u, err := url.Parse(ref)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false
	}
	if strings.ToLower(u.Scheme+"://"+u.Host) != selfOrigin(r) {
		return false
	}
	return strings.HasPrefix(u.EscapedPath(), Prefix) || u.EscapedPath()+"/" == Prefix
}

// guarded says whether a request needs the same-origin check: anything
// that is not a plain read, and every read of the JSON/event API.
func guarded(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	return strings.HasPrefix(r.URL.Path, Prefix+"api/") && r.URL.Path != Prefix+"api/board"
}
