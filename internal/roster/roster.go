// Package roster reads a class roster, a CSV of name[,password[,admin]]
// lines, into users to create, and makes passwords a student can type from a
// printed sheet. `labd user import` and the dashboard's Users page share it.
package roster

import (
	"crypto/rand"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"

	"labd/internal/i18n"
	"labd/internal/store"
)

// Line is one user to create.
type Line struct {
	Line      int
	Name      string
	Password  string
	Admin     bool
	Generated bool // the password was generated, not given
}

// Parse reads a roster (a header line is allowed, # starts a comment) and
// checks every line before anyone is created: name syntax, duplicates, the
// admin field, and users that already exist (exists may be nil). file names
// the roster in problems. Missing passwords are generated. A roster with
// any problem yields the full list of problems and no lines.
func Parse(r io.Reader, file string, exists func(name string) bool) ([]Line, []string) {
	return ParseIn(r, file, exists, i18n.New("en"))
}

// ParseIn is Parse with the problems told in tr's language.
func ParseIn(r io.Reader, file string, exists func(name string) bool, tr *i18n.Printer) ([]Line, []string) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	var todo []Line
	var problems []string
	seen := map[string]int{}
	started := false // a non-empty record was read
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// FieldPos is only valid for a record read without error.
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			problems = append(problems, tr.T("%s: bad CSV line %s: %v", file, strconv.Itoa(line), err))
			break
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 0 || (len(rec) == 1 && strings.TrimSpace(rec[0]) == "") {
			continue
		}
		name := store.NormalizeUser(rec[0])
		first := !started
		started = true
		// Only the first record may be a header: after it, "user" or
		// "login" is a user of that name, not a second header.
		if first && (name == "name" || name == "user" || name == "username" || name == "login") {
			continue // header
		}
		if len(rec) > 3 {
			problems = append(problems, tr.T("%s: bad CSV line %s: %d fields; expected name[,password[,admin]]", file, strconv.Itoa(line), len(rec)))
			continue
		}
		if err := store.CheckUserName(name); err != nil {
			problems = append(problems, tr.T("%s: bad CSV line %s: %v", file, strconv.Itoa(line), err))
			continue
		}
		if prev, dup := seen[name]; dup {
			problems = append(problems, tr.T("%s: bad CSV line %s: %s already on line %s", file, strconv.Itoa(line), name, strconv.Itoa(prev)))
			continue
		}
		seen[name] = line
		if exists != nil && exists(name) {
			problems = append(problems, tr.T("%s: line %s: user %s already exists", file, strconv.Itoa(line), name))
			continue
		}
		rl := Line{Line: line, Name: name}
		if len(rec) > 1 {
			rl.Password = strings.TrimSpace(rec[1])
		}
		if len(rec) > 2 {
			switch strings.ToLower(strings.TrimSpace(rec[2])) {
			case "", "no", "false", "0":
			case "yes", "true", "1", "admin":
				rl.Admin = true
			default:
				problems = append(problems, tr.T("%s: bad CSV line %s: admin field %q is not yes or no", file, strconv.Itoa(line), rec[2]))
				continue
			}
		}
		if rl.Password == "" {
			rl.Password, rl.Generated = GenPassword(), true
		}
		todo = append(todo, rl)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return todo, nil
}

// GenPassword makes a password a student can type from a printed sheet:
// no 0/O, 1/l/I.
func GenPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:5]) + "-" + string(b[5:])
}
