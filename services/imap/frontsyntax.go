package imap

import (
	"strconv"
	"strings"
	"time"
)

// checkSet returns what is wrong with a sequence set (RFC 3501
// sequence-set), or "" when it is fine.
func checkSet(set string) string {
	if set == "$" { // SEARCHRES
		return ""
	}
	bad := `Invalid message set "` + printable(set) + `": use numbers from 1, * for the last, ranges a:b and commas, e.g. 1:3,5,7:*`
	if set == "" {
		return bad
	}
	for _, part := range strings.Split(set, ",") {
		a, b, isRange := strings.Cut(part, ":")
		if !seqNumber(a) || (isRange && !seqNumber(b)) {
			return bad
		}
	}
	return ""
}

func seqNumber(s string) bool {
	if s == "*" {
		return true
	}
	if s == "" || s[0] == '0' {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// searchTokens splits SEARCH arguments into atoms, quoted strings (kept
// with their quotes) and parentheses; ok is false when a quoted string is
// not closed.
func searchTokens(s string) (toks []string, ok bool) {
	for i := 0; i < len(s); {
		switch ch := s[i]; {
		case ch == ' ':
			i++
		case ch == '(' || ch == ')':
			toks = append(toks, s[i:i+1])
			i++
		case ch == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			if j >= len(s) {
				return nil, false
			}
			toks = append(toks, s[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' && s[j] != '"' {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, true
}

var searchArgs = map[string]string{}

func init() {
	for _, k := range strings.Fields("ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN $") {
		searchArgs[k] = ""
	}
	for _, k := range strings.Fields("BCC BODY CC FROM SUBJECT TEXT TO KEYWORD UNKEYWORD") {
		searchArgs[k] = "s"
	}
	for _, k := range strings.Fields("BEFORE ON SINCE SENTBEFORE SENTON SENTSINCE") {
		searchArgs[k] = "d"
	}
	searchArgs["LARGER"], searchArgs["SMALLER"] = "n", "n"
	searchArgs["HEADER"], searchArgs["UID"] = "ss", "u"
}

const searchHint = "; keys are e.g. ALL, UNSEEN, FROM alice, SUBJECT \"two words\", SINCE 1-Jan-2024, LARGER 1000, NOT/OR, UID 1:*"

// checkSearch returns what is wrong with SEARCH's arguments, or "" when
// they look fine (or are beyond what it checks: the library decides).
func checkSearch(args string) string {
	toks, ok := searchTokens(args)
	if !ok {
		return ""
	}
	p := &searchParser{toks: toks}
	if p.peekUpper() == "RETURN" {
		p.next()
		if p.next() != "(" {
			return "SEARCH RETURN needs a list of options, e.g. RETURN (MIN MAX COUNT)"
		}
		for p.i < len(p.toks) && p.toks[p.i] != ")" {
			p.next()
		}
		p.next()
	}
	if p.peekUpper() == "CHARSET" {
		p.next()
		p.next()
	}
	if p.i >= len(p.toks) {
		return "SEARCH needs at least one key" + searchHint
	}
	for p.i < len(p.toks) {
		if msg := p.key(0); msg != "" {
			return msg
		}
	}
	return ""
}

type searchParser struct {
	toks []string
	i    int
}

func (p *searchParser) next() string {
	if p.i >= len(p.toks) {
		return ""
	}
	p.i++
	return p.toks[p.i-1]
}

func (p *searchParser) peekUpper() string {
	if p.i >= len(p.toks) {
		return ""
	}
	return strings.ToUpper(p.toks[p.i])
}

func (p *searchParser) key(depth int) string {
	if depth > 50 {
		return "SEARCH keys nested too deeply"
	}
	tok := p.next()
	up := strings.ToUpper(tok)
	switch up {
	case "":
		return "SEARCH key missing" + searchHint
	case "(":
		if p.peekUpper() == ")" {
			return "SEARCH: empty parentheses"
		}
		for p.peekUpper() != ")" {
			if p.i >= len(p.toks) {
				return "SEARCH: missing )"
			}
			if msg := p.key(depth + 1); msg != "" {
				return msg
			}
		}
		p.next()
		return ""
	case ")":
		return "SEARCH: unexpected )"
	case "NOT":
		return p.key(depth + 1)
	case "OR":
		if msg := p.key(depth + 1); msg != "" {
			return msg
		}
		return p.key(depth + 1)
	}
	spec, known := searchArgs[up]
	if !known {
		if tok[0] == '"' || checkSet(tok) != "" {
			return `Unknown SEARCH key "` + printable(tok) + `"` + searchHint
		}
		return "" // a message set
	}
	for _, kind := range spec {
		arg := p.next()
		if arg == "" || arg == "(" || arg == ")" {
			return "SEARCH " + up + " needs an argument" + searchHint
		}
		switch kind {
		case 'd':
			d := strings.Trim(arg, `"`)
			if _, err := time.Parse("2-Jan-2006", d); err != nil {
				return `SEARCH ` + up + `: "` + printable(d) + `" is not a date; IMAP dates are day-Month-year, e.g. 1-Jan-2024`
			}
		case 'n':
			if _, err := strconv.ParseUint(arg, 10, 63); err != nil {
				return "SEARCH " + up + " needs a number of bytes, e.g. " + up + " 1000"
			}
		case 'u':
			if msg := checkSet(arg); msg != "" {
				return msg
			}
		}
	}
	return ""
}
