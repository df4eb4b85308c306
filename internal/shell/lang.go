package shell

// The shell speaks the class's language (server.language): help, man pages,
// --help, messages and errors that say what works, the editor's status
// lines. Command names, options and protocol text stay as they are.

import (
	"errors"
	"fmt"
	"strings"

	"labd/internal/i18n"
)

// printer is the shell's translator: Env.Tr, else server.language.
func printerOf(env Env) *i18n.Printer {
	if env.Tr != nil {
		return env.Tr
	}
	if c := env.Deps.Config; c != nil {
		return i18n.New(c.Server.Lang())
	}
	return i18n.New("en")
}

// t translates a text written for people.
func (s *Shell) t(key string) string { return s.tr.T(key) }

// tf translates a format, then formats it with fmt: numbers, sizes and
// addresses stay as the shell prints them in every language. A format of
// verbs and punctuation only ("%s: %v") is not looked up.
func (s *Shell) tf(format string, a ...any) string {
	if wordy(format) {
		format = s.tr.T(format)
	}
	// errorf's formats may wrap (%w): the text is made by Sprintf.
	format = strings.ReplaceAll(format, "%w", "%v")
	args := make([]any, len(a))
	for i, x := range a {
		args[i] = s.trArg(x)
	}
	return fmt.Sprintf(format, args...)
}

// trArg translates an error, or one of the system's error texts (errText),
// given as an argument of a message. Other strings are the user's (file
// names) and stay as they are.
func (s *Shell) trArg(x any) any {
	switch v := x.(type) {
	case error:
		msg := v.Error()
		if i18n.Has(msg) {
			return s.tr.T(msg)
		}
		// An error made by errorf, alone or after a prefix ("limit: ").
		var te *textError
		if errors.As(v, &te) {
			if inner := te.Error(); msg == inner || strings.HasSuffix(msg, ": "+inner) {
				return strings.TrimSuffix(msg, inner) + s.tf(te.format, te.args...)
			}
		}
	case string:
		if sysErrText[v] {
			return s.tr.T(v)
		}
	}
	return x
}

// sysErrText are the texts errText gives, which reach messages as strings.
var sysErrText = map[string]bool{
	"No such file or directory": true,
	"File exists":               true,
	"Permission denied":         true,
	"Is a directory":            true,
	"Not a directory":           true,
	"Directory not empty":       true,
	"is a directory":            true,
	"not a directory":           true,
	"directory not empty":       true,
	"file exists":               true,
	"permission denied":         true,
	"no such file or directory": true,
	errEscape.Error():           true,
}

// wordy says whether a format has words besides its verbs.
func wordy(format string) bool {
	for i := 0; i < len(format); i++ {
		b := format[i]
		if b == '%' {
			// skip the verb: flags, width, then the letter
			for i++; i < len(format) && strings.IndexByte("+-# 0123456789.*", format[i]) >= 0; i++ {
			}
			continue
		}
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' {
			return true
		}
	}
	return false
}

// textError is an error the shell translates when it shows it: its format
// is a key of the catalog, its arguments are formatted after translation.
type textError struct {
	format string
	args   []any
}

// errorf is fmt.Errorf (with %w) for a message shown to the user.
func errorf(format string, a ...any) error { return &textError{format: format, args: a} }

func (e *textError) Error() string { return fmt.Errorf(e.format, e.args...).Error() }

func (e *textError) Unwrap() error { return errors.Unwrap(fmt.Errorf(e.format, e.args...)) }
