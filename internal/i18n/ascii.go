package i18n

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// ASCII is T for a protocol reply's human text: SMTP, POP3, IMAP and FTP
// reply texts are US-ASCII (RFC 5321 4.2, RFC 3501 TEXT-CHAR, RFC 1939,
// RFC 959), and a student's nc, telnet or Windows ftp.exe shows other
// bytes as mojibake. The catalog keeps correct French; accents are taken
// off at this boundary only (« prêt » becomes « pret »).
func (p *Printer) ASCII(key string, args ...any) string {
	return ToASCII(p.T(key, args...))
}

// ToASCII folds s to printable ASCII: accents removed, no-break spaces
// made plain, « » and typographic quotes made straight; anything else
// outside ASCII becomes "?".
func ToASCII(s string) string {
	s = asciiPunct.Replace(s)
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	if out, _, err := transform.String(t, s); err == nil {
		s = out
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x80:
			return r
		default:
			return '?'
		}
	}, s)
}

var asciiPunct = strings.NewReplacer(
	"\u00a0", " ", "\u202f", "",
	"« ", "\"", " »", "\"", "«", "\"", "»", "\"",
	"’", "'", "‘", "'", "“", "\"", "”", "\"", "…", "...", "œ", "oe", "Œ", "OE", "–", "-", "—", "-",
)
