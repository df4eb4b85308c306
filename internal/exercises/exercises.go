// Package exercises recognises the class's exercises in the session
// records. An exercise is declared in YAML, not coded: a condition over one
// recorded session (protocol, TLS, login, client lines in order with the
// server's replies after them, typed by hand or by a program, the protocol
// facts labd records), plus optionally other sessions of the same student.
// Evaluate tells, for one session, whether it proves the exercise done,
// only started (and what is missing), or not at all.
package exercises

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"labd/internal/i18n"
	"labd/internal/sessions"
)

// Exercise is one declared exercise.
type Exercise struct {
	ID            string `yaml:"id"`
	Title         string `yaml:"title"`
	TitleFR       string `yaml:"title_fr"`
	Description   string `yaml:"description"`
	DescriptionFR string `yaml:"description_fr"`
	// When is the condition on the session that proves the exercise.
	When Condition `yaml:"when"`
	// Also are conditions on other sessions of the same student, each of
	// which must have been met (before or after).
	Also []Condition `yaml:"also"`
	// Attribute says how to find the student when the session has no
	// login: a session fact and a pattern whose (?P<user>...) group names
	// the student (the HELO name, MAIL FROM, a queried name, a path).
	Attribute []Attribution `yaml:"attribute"`
}

// Attribution extracts a user name from a session fact.
type Attribution struct {
	Fact    string         `yaml:"fact"`
	Pattern string         `yaml:"pattern"`
	re      *regexp.Regexp `yaml:"-"`
}

// Condition is what one session must show.
type Condition struct {
	// Protocol lists the protocols as labd records them (smtp is port 25,
	// submission 587, smtps 465; http, https; dns; ftp; ftp-data...).
	Protocol []string `yaml:"protocol"`
	// Transport: tcp or udp (DNS).
	Transport string `yaml:"transport"`
	// TLS: true or false; absent: either.
	TLS *bool `yaml:"tls"`
	// Auth: none, password, publickey, any; absent: either.
	Auth string `yaml:"auth"`
	// ByHand: true for client lines typed by a person (human pace or bare
	// LF line ends), false for a program; absent: either.
	ByHand *bool `yaml:"by_hand"`
	// Steps are client lines to find in order, each optionally followed by
	// a server reply; the patterns are case-insensitive regular
	// expressions matched against whole lines.
	Steps []Step `yaml:"steps"`
	// Facts are session facts (attributes labd records, such as DNS type,
	// truncated, TFTP mode, FTP mode) that must match, as regexps.
	Facts map[string]string `yaml:"facts"`
	// Notes are labd's own notes in the transcript (delivered ..., TLS
	// started...) that must appear, as regexps.
	Notes []string `yaml:"notes"`

	steps []compiledStep
	facts map[string]*regexp.Regexp
	notes []*regexp.Regexp
}

// Step is one client line and the reply expected after it.
type Step struct {
	Client string `yaml:"client"`
	Server string `yaml:"server"`
	// Hint says what is missing when this step is the first one not met;
	// HintFR is the same in French (server.language: fr).
	Hint   string `yaml:"hint"`
	HintFR string `yaml:"hint_fr"`
}

// Text is a message for the student in each language labd speaks.
type Text struct{ EN, FR string }

// In is the text in lang ("fr" or English).
func (t Text) In(lang string) string {
	if lang == "fr" && t.FR != "" {
		return t.FR
	}
	return t.EN
}

// The printers of the generated hints; read-only once made.
var trEN, trFR = i18n.New("en"), i18n.New("fr")

// say is a generated hint in both languages, from the catalog
// (internal/i18n/fr_ops.go).
func say(key string, args ...any) Text {
	return Text{EN: trEN.T(key, args...), FR: trFR.T(key, args...)}
}

type compiledStep struct {
	client, server *regexp.Regexp
	Step
}

// File is an exercises file.
type File struct {
	Exercises []Exercise `yaml:"exercises"`
}

//go:embed builtin.yaml
var builtinFS embed.FS

// Builtin returns the built-in pack of the course.
func Builtin() ([]Exercise, error) {
	b, err := builtinFS.ReadFile("builtin.yaml")
	if err != nil {
		return nil, err
	}
	return Parse("builtin.yaml", b)
}

// Load reads an exercises file.
func Load(path string) ([]Exercise, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("exercises: %w", err)
	}
	return Parse(path, b)
}

// Parse reads exercises from YAML; errors name the file, the line and the
// key, as labd check reports them.
func Parse(name string, data []byte) ([]Exercise, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	seen := map[string]bool{}
	for i := range f.Exercises {
		e := &f.Exercises[i]
		line := lineOf(&root, i)
		bad := func(key, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: exercises[%d].%s: %s", name, line, i, key, fmt.Sprintf(format, args...)))
		}
		if e.ID == "" || strings.ContainsAny(e.ID, " \t/") {
			bad("id", "give each exercise an id without spaces (such as smtp-by-hand)")
		}
		if seen[e.ID] {
			bad("id", "%q is used twice", e.ID)
		}
		seen[e.ID] = true
		if e.Title == "" {
			bad("title", "give the exercise a title")
		}
		if err := e.When.compile(); err != nil {
			bad("when", "%v", err)
		}
		if len(e.When.Protocol) == 0 {
			bad("when.protocol", "name the protocol(s) of the session that proves it")
		}
		for j := range e.Also {
			if err := e.Also[j].compile(); err != nil {
				bad(fmt.Sprintf("also[%d]", j), "%v", err)
			}
		}
		for j := range e.Attribute {
			a := &e.Attribute[j]
			re, err := regexp.Compile("(?i)" + a.Pattern)
			if err != nil || !slices.Contains(re.SubexpNames(), "user") {
				bad(fmt.Sprintf("attribute[%d].pattern", j), "want a regular expression with a (?P<user>...) group")
				continue
			}
			a.re = re
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f.Exercises, nil
}

func lineOf(root *yaml.Node, i int) int {
	if len(root.Content) == 0 {
		return 0
	}
	doc := root.Content[0]
	for k := 0; k+1 < len(doc.Content); k += 2 {
		if doc.Content[k].Value == "exercises" {
			seq := doc.Content[k+1]
			if i < len(seq.Content) {
				return seq.Content[i].Line
			}
		}
	}
	return 0
}

func (c *Condition) compile() error {
	switch c.Auth {
	case "", "none", "password", "publickey", "any":
	default:
		return fmt.Errorf("auth: %q: want none, password, publickey or any", c.Auth)
	}
	c.steps = nil
	for i, s := range c.Steps {
		cs := compiledStep{Step: s}
		var err error
		if cs.client, err = regexp.Compile("(?i)^(?:" + s.Client + ")$"); err != nil || s.Client == "" {
			return fmt.Errorf("steps[%d].client: want a regular expression (%v)", i, err)
		}
		if s.Server != "" {
			if cs.server, err = regexp.Compile("(?i)^(?:" + s.Server + ")$"); err != nil {
				return fmt.Errorf("steps[%d].server: %v", i, err)
			}
		}
		c.steps = append(c.steps, cs)
	}
	c.notes = nil
	for i, n := range c.Notes {
		re, err := regexp.Compile("(?i)" + n)
		if err != nil {
			return fmt.Errorf("notes[%d]: %v", i, err)
		}
		c.notes = append(c.notes, re)
	}
	c.facts = map[string]*regexp.Regexp{}
	for k, v := range c.Facts {
		re, err := regexp.Compile("(?i)^(?:" + v + ")$")
		if err != nil {
			return fmt.Errorf("facts.%s: %v", k, err)
		}
		c.facts[k] = re
	}
	return nil
}

// Record is what evaluation needs of one session.
type Record struct {
	Info       sessions.Info
	Transcript []sessions.Entry
	// parsed caches the transcript's lines across the exercises.
	parsed *[]line
}

func (r *Record) lines() []line {
	if r.parsed == nil {
		ls := lines(r.Transcript)
		r.parsed = &ls
	}
	return *r.parsed
}

// line is one line of the exchange.
type line struct {
	dir  sessions.Direction
	text string
	t    time.Time
	lf   bool // ended with a bare LF
}

// lines splits a transcript into lines per direction, in order; chunks of
// one direction are joined before splitting (a line may span chunks).
func lines(tr []sessions.Entry) []line {
	var out []line
	var cur [2][]byte
	var curT [2]time.Time
	flush := func(d sessions.Direction, all bool) {
		b := cur[d]
		for {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				break
			}
			l := b[:i]
			lf := !bytes.HasSuffix(l, []byte("\r"))
			out = append(out, line{dir: d, text: string(bytes.TrimRight(l, "\r")), t: curT[d], lf: lf})
			b = b[i+1:]
		}
		if all && len(b) > 0 {
			out = append(out, line{dir: d, text: string(bytes.TrimRight(b, "\r")), t: curT[d]})
			b = nil
		}
		cur[d] = append(cur[d][:0:0], b...)
	}
	for _, e := range tr {
		if e.Data == nil || e.Dir > sessions.FromServer {
			continue
		}
		if len(cur[e.Dir]) == 0 {
			curT[e.Dir] = e.Time
		}
		cur[e.Dir] = append(cur[e.Dir], e.Data...)
		flush(e.Dir, false)
	}
	flush(sessions.FromClient, true)
	flush(sessions.FromServer, true)
	return out
}

// byHand says whether the client lines were typed by a person: bare LF
// line ends (nc, telnet in line mode), or lines spread at human pace (a
// median gap of at least 400 ms between client lines).
func byHand(ls []line) bool {
	var gaps []time.Duration
	var last time.Time
	n := 0
	for _, l := range ls {
		if l.dir != sessions.FromClient {
			continue
		}
		if l.lf && l.text != "" {
			return true
		}
		if n > 0 {
			gaps = append(gaps, l.t.Sub(last))
		}
		last = l.t
		n++
	}
	if len(gaps) < 2 {
		return false
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i] < gaps[j] })
	return gaps[len(gaps)/2] >= 400*time.Millisecond
}

// Outcome of one condition on one session.
type Outcome int

const (
	// NotStarted: not the right kind of session.
	NotStarted Outcome = iota
	// Started: the right kind of session, not all of it.
	Started
	// Done: every part of the condition met.
	Done
)

func (o Outcome) String() string {
	return [...]string{"not-started", "started", "done"}[o]
}

// Match evaluates a condition on one session; for Started, missing says
// what is missing, in words for the student.
func (c *Condition) Match(r Record) (Outcome, string) {
	out, m := c.match(&r)
	return out, m.EN
}

func (c *Condition) match(r *Record) (Outcome, Text) {
	in := r.Info
	if len(c.Protocol) > 0 && !slices.Contains(c.Protocol, in.Proto) {
		return NotStarted, Text{}
	}
	if c.Transport != "" && c.Transport != in.Transport {
		return NotStarted, Text{}
	}
	ls := r.lines()
	// From here on the session is of the right kind: what fails is missing.
	if c.TLS != nil && *c.TLS != in.TLS {
		if *c.TLS {
			return Started, say("the session did not use TLS")
		}
		return Started, say("the session used TLS, the exercise wants it in clear")
	}
	switch c.Auth {
	case "none":
		if in.User != "" {
			return Started, say("the exercise is without login")
		}
	case "any":
		if in.User == "" {
			return Started, say("no successful login in the session")
		}
	case "password", "publickey":
		if in.User == "" {
			return Started, say("no successful login in the session")
		}
		if m := in.Attrs["auth"]; m != "" && !strings.HasPrefix(m, c.Auth) && !(c.Auth == "password" && m == "keyboard-interactive") {
			return Started, say("the login used %s, the exercise wants %s", m, c.Auth)
		}
		if in.Attrs["auth"] == "" && c.Auth == "publickey" {
			return Started, say("the login did not use a public key")
		}
	}
	for k, re := range c.facts {
		if vals := facts(*r, ls, k); !anyMatch(re, vals) {
			return Started, say("%s is %q, the exercise wants %s", k, strings.Join(vals, ", "), c.Facts[k])
		}
	}
	for i, re := range c.notes {
		found := false
		for _, e := range r.Transcript {
			if e.Dir == sessions.Note && re.Match(e.Data) {
				found = true
				break
			}
		}
		if !found {
			return Started, say("labd did not note %s", c.Notes[i])
		}
	}
	pos := 0
	for _, s := range c.steps {
		found := -1
		for i := pos; i < len(ls); i++ {
			if ls[i].dir == sessions.FromClient && s.client.MatchString(ls[i].text) {
				found = i
				break
			}
		}
		if found < 0 {
			return Started, stepHint(s, say("no line %s was sent", s.Client))
		}
		pos = found + 1
		if s.server != nil {
			reply := -1
			for i := pos; i < len(ls); i++ {
				if ls[i].dir == sessions.FromServer && s.server.MatchString(ls[i].text) {
					reply = i
					break
				}
			}
			if reply < 0 {
				return Started, stepHint(s, say("the server did not answer %s after %s", s.Server, s.Client))
			}
			pos = reply + 1
		}
	}
	if c.ByHand != nil && byHand(ls) != *c.ByHand {
		if *c.ByHand {
			return Started, say("the lines were sent by a program; type them by hand (nc or telnet)")
		}
		return Started, say("the lines were typed by hand; the exercise wants a client program")
	}
	return Done, Text{}
}

func stepHint(s compiledStep, def Text) Text {
	if s.Hint != "" {
		return Text{EN: s.Hint, FR: i18n.Typography(s.HintFR)}
	}
	return def
}

// facts returns the values of a session fact by name: a recorded
// attribute, or one of the derived facts (port, result, mail_from, helo,
// and for HTTP every request's method and path and every response's
// status, since a keep-alive connection carries several).
func facts(r Record, ls []line, name string) []string {
	if v, ok := r.Info.Attrs[name]; ok {
		return []string{v}
	}
	switch name {
	case "user":
		return []string{r.Info.User}
	case "result":
		return []string{r.Info.Result}
	case "port":
		if i := strings.LastIndexByte(r.Info.Local, ':'); i >= 0 {
			return []string{r.Info.Local[i+1:]}
		}
	case "mail_from":
		for _, l := range ls {
			if l.dir == sessions.FromClient && len(l.text) > 10 && strings.EqualFold(l.text[:10], "MAIL FROM:") {
				return []string{strings.Trim(strings.Fields(l.text[10:] + " ")[0], "<>")}
			}
		}
	case "method", "path":
		var out []string
		for _, l := range ls {
			if l.dir != sessions.FromClient || !httpRequest.MatchString(l.text) {
				continue
			}
			f := strings.Fields(l.text)
			if name == "method" {
				out = append(out, f[0])
			} else {
				out = append(out, f[1])
			}
		}
		return out
	case "status":
		var out []string
		for _, l := range ls {
			if l.dir == sessions.FromServer && strings.HasPrefix(l.text, "HTTP/") {
				if f := strings.Fields(l.text); len(f) >= 2 {
					out = append(out, f[1])
				}
			}
		}
		return out
	}
	return nil
}

var httpRequest = regexp.MustCompile(`^[A-Z]+ \S+ HTTP/\d\.\d$`)

func anyMatch(re *regexp.Regexp, vals []string) bool {
	for _, v := range vals {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// Attribute returns the student a session belongs to by the exercise's
// identifying details, or "".
func (e *Exercise) attribute(r *Record, users func(string) bool) string {
	if r.Info.User != "" {
		return r.Info.User
	}
	ls := r.lines()
	for _, a := range e.Attribute {
		if a.re == nil {
			continue
		}
		for _, v := range facts(*r, ls, a.Fact) {
			m := a.re.FindStringSubmatch(v)
			if m == nil {
				continue
			}
			if u := strings.ToLower(m[a.re.SubexpIndex("user")]); users(u) {
				return u
			}
		}
	}
	return ""
}
