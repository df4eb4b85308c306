package roster

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"labd/internal/store"
)

// FuzzParse feeds rosters to the parser. Invariants: no panic; either
// problems and no lines, or lines with valid unique names and a password
// each; and the lines, written back as CSV, parse to the same users.
func FuzzParse(f *testing.F) {
	f.Add("name,password,admin\nalice,alicepw,no\nbob,,yes\n# comment\n\ncarol\n")
	f.Add("alice\nAlice\n")
	f.Add("a b,x\n\"bad\nquote")
	f.Add("root,pw,maybe\nx,y,z,w\n")
	f.Add("  dave , \"p,w\" , 1\n")
	f.Fuzz(func(t *testing.T, text string) {
		lines, problems := Parse(strings.NewReader(text), "fuzz.csv", func(name string) bool { return name == "taken" })
		if len(problems) > 0 {
			if lines != nil {
				t.Fatalf("%d lines despite problems %q", len(lines), problems)
			}
			return
		}
		seen := map[string]bool{}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.Write([]string{"name", "password", "admin"}) // so that a user "user" is not a header
		for _, l := range lines {
			if err := store.CheckUserName(l.Name); err != nil || seen[l.Name] || l.Name == "taken" || l.Password == "" {
				t.Fatalf("line %+v accepted (%v)", l, err)
			}
			seen[l.Name] = true
			admin := "no"
			if l.Admin {
				admin = "yes"
			}
			_ = w.Write([]string{l.Name, l.Password, admin})
		}
		w.Flush()
		again, problems := Parse(bytes.NewReader(b.Bytes()), "again.csv", nil)
		if len(problems) > 0 || len(again) != len(lines) {
			t.Fatalf("written back as %q: %d lines, problems %q", b.String(), len(again), problems)
		}
		for i := range lines {
			a, l := again[i], lines[i]
			if a.Name != l.Name || a.Admin != l.Admin || (!strings.Contains(l.Password, "\r") && a.Password != l.Password) {
				t.Fatalf("written back as %q: %+v became %+v", b.String(), l, a)
			}
		}
	})
}

// TestHeaderOnlyFirst: found while writing FuzzParse. After the header,
// users named "user" or "login" were skipped as more headers, and so
// silently never created.
func TestHeaderOnlyFirst(t *testing.T) {
	lines, problems := Parse(strings.NewReader("name,password\nuser,pw\nlogin\n"), "r.csv", nil)
	if len(problems) > 0 || len(lines) != 2 || lines[0].Name != "user" || lines[1].Name != "login" {
		t.Fatalf("lines %+v, problems %q", lines, problems)
	}
}
