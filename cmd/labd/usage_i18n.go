package main

import (
	"strings"

	"labd/internal/i18n"
)

// translateUsage translates the usage text line by line, so that a line
// another change adds shows (in English) without hiding the translation
// of the others.
func translateUsage(tr *i18n.Printer) string {
	lines := strings.Split(usage, "\n")
	for i, l := range lines {
		if i18n.Has(l) {
			lines[i] = tr.T(l)
		}
	}
	return strings.Join(lines, "\n")
}
