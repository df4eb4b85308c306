package config

// Dashboard configures the instructor's web dashboard, served by the HTTP
// service under /labd/ (HTTP and HTTPS). Only admin users log in to it
// (labd user add teacher --admin); the class board is read-only and public.
type Dashboard struct {
	// Enabled mounts the dashboard at /labd/ (default true).
	Enabled *bool `yaml:"enabled"`
	// ClassBoard serves /labd/board, a read-only page of per-protocol
	// activity for students, without login (default true).
	ClassBoard *bool `yaml:"class_board"`
	// AllowUnmasked lets an admin reveal the passwords found in transcripts
	// (default true: the lesson is that they travelled in clear).
	AllowUnmasked *bool `yaml:"allow_unmasked"`
	// SessionTTL is how long an admin login lasts.
	SessionTTL Duration `yaml:"session_ttl"`
	// StudentsSeeByAddress also lists on a student's /labd/me the sessions
	// without a login (DNS, TFTP, SMTP port 25) that came from an address
	// the student was logged in from at that time (default false: behind a
	// shared address students would see each other's).
	StudentsSeeByAddress bool `yaml:"students_see_by_address"`
	// Listen and TLSListen, if set, serve the dashboard on addresses of its
	// own (HTTP and HTTPS), a separate origin from the students' pages,
	// instead of under /labd/ of the HTTP service.
	Listen    []string `yaml:"listen"`
	TLSListen []string `yaml:"tls_listen"`
}

// OwnListener says whether the dashboard has addresses of its own.
func (d *Dashboard) OwnListener() bool { return len(d.Listen)+len(d.TLSListen) > 0 }

// On says whether the dashboard is mounted.
func (d *Dashboard) On() bool { return d.Enabled == nil || *d.Enabled }

// Board says whether the public class board is served.
func (d *Dashboard) Board() bool { return d.ClassBoard == nil || *d.ClassBoard }

// Unmask says whether an admin may reveal secrets in transcripts.
func (d *Dashboard) Unmask() bool { return d.AllowUnmasked == nil || *d.AllowUnmasked }

func (d *Dashboard) setDefaults(c *Config) {
	t := true
	for _, p := range []**bool{&d.Enabled, &d.ClassBoard, &d.AllowUnmasked} {
		if *p == nil {
			v := t
			*p = &v
		}
	}
	if d.SessionTTL == 0 {
		d.SessionTTL = Duration(12 * 3600e9)
	}
}

func (d *Dashboard) validate(v *validator) {
	if d.SessionTTL < 0 {
		v.errorf("dashboard.session_ttl", "must be positive (write 12h)")
	}
	v.listen("dashboard.listen", d.Listen)
	v.listen("dashboard.tls_listen", d.TLSListen)
}
