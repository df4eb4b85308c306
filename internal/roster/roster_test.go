package roster

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	exists := func(n string) bool { return n == "alice" }
	tests := []struct {
		name, csv string
		want      []string // name:password:admin, "*" for a generated password
		problems  []string
	}{
		{"header, generated, admin", "name,password,admin\nCarol\ndave,pw,yes\n# comment\n\nerin,,0\n",
			[]string{"carol:*:false", "dave:pw:true", "erin:*:false"}, nil},
		{"no header", "frank,secret\n", []string{"frank:secret:false"}, nil},
		{"every problem listed", "gina,pw\nalice\n9x\ngina\nhank,pw,maybe\na,b,c,d\n", nil,
			[]string{"line 2: user alice already exists", "bad CSV line 3", "bad CSV line 4: gina already on line 1", `bad CSV line 5: admin field "maybe"`, "bad CSV line 6: 4 fields"}},
		{"broken quote", "ivan,pw\n\"unclosed,pw\n", nil, []string{"bad CSV line 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, problems := Parse(strings.NewReader(tt.csv), "r.csv", exists)
			if len(problems) != len(tt.problems) {
				t.Fatalf("problems %q, want %d like %q", problems, len(tt.problems), tt.problems)
			}
			for i, p := range tt.problems {
				if !strings.Contains(problems[i], p) || !strings.HasPrefix(problems[i], "r.csv: ") {
					t.Errorf("problem %q, want it to contain %q", problems[i], p)
				}
			}
			if problems != nil && lines != nil {
				t.Error("lines returned along with problems")
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("lines %+v, want %v", lines, tt.want)
			}
			for i, w := range tt.want {
				f := strings.Split(w, ":")
				l := lines[i]
				if l.Name != f[0] || (l.Admin != (f[2] == "true")) {
					t.Errorf("line %d: %+v, want %s", i, l, w)
				}
				if f[1] == "*" {
					if !l.Generated || len(l.Password) != 11 || strings.ContainsAny(l.Password, "0O1lI") {
						t.Errorf("generated password %q", l.Password)
					}
				} else if l.Password != f[1] || l.Generated {
					t.Errorf("password %q generated=%v, want %q", l.Password, l.Generated, f[1])
				}
			}
		})
	}
}
