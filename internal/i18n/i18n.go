// Package i18n translates what labd writes for people (the dashboard, the
// start page of the HTTP service, the labd command's messages) into the
// class's language. Protocol replies and RFC keywords never go through it.
//
// Messages are keyed by their English text, as with gotext: English needs
// no table except for plurals, French is in fr.go. The catalog is
// golang.org/x/text/message/catalog, so plural forms follow CLDR (in French
// 0 and 1 are singular) and numbers are formatted for the language.
package i18n

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
	"sync"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Printer translates into one language. Its zero value is not usable: use
// New. A Printer is safe for concurrent use.
type Printer struct {
	lang string
	p    *message.Printer
	// miss, when set, hears every key that is in no catalog (tests).
	miss func(key string)
}

// New returns a Printer for lang ("en" or "fr"; anything else is English).
func New(lang string) *Printer {
	if lang != "fr" {
		lang = "en"
	}
	return &Printer{lang: lang, p: message.NewPrinter(language.Make(lang), message.Catalog(built()))}
}

// Lang is the printer's language code, for <html lang>.
func (p *Printer) Lang() string { return p.lang }

// OnMiss makes p report every key missing from the catalog; tests use it
// to fail on a page that shows an untranslated text.
func (p *Printer) OnMiss(f func(key string)) *Printer {
	c := *p
	c.miss = f
	return &c
}

// T translates key and, with args, formats it like fmt.Sprintf (plural
// forms are chosen by the catalog). A key missing from the catalog comes
// out in English.
func (p *Printer) T(key string, args ...any) string {
	if !Has(key) && p.miss != nil {
		p.miss(key)
	}
	if len(args) == 0 {
		// No formatting: a key may contain a literal %.
		if p.lang == "fr" {
			if v, ok := french()[key]; ok {
				return v
			}
		}
		return key
	}
	return p.p.Sprintf(key, args...)
}

// Err translates the text of an error when the whole text is a known
// message, and leaves it as it is otherwise (errors that wrap details).
func (p *Printer) Err(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if Has(msg) {
		return p.T(msg)
	}
	return msg
}

// Funcs are the template functions bound to p:
//
//	{{t "Sessions"}}, {{t "%d records" (len .Records)}}: translated text (escaped)
//	{{th "Use <code>%s</code>" .Domain}}: a translation holding markup;
//	  the catalog is trusted, the arguments are escaped
//	{{lang}}: "en" or "fr"
func (p *Printer) Funcs() template.FuncMap {
	return template.FuncMap{
		"t": p.T,
		"th": func(key string, args ...any) template.HTML {
			for i, a := range args {
				if s, ok := a.(string); ok {
					args[i] = template.HTMLEscapeString(s)
				} else if st, ok := a.(fmt.Stringer); ok {
					args[i] = template.HTMLEscapeString(st.String())
				}
			}
			return template.HTML(p.T(key, args...))
		},
		"lang": p.Lang,
	}
}

// Has says whether key is in the catalog.
func Has(key string) bool {
	if _, ok := french()[key]; ok {
		return true
	}
	_, ok := frenchPlural[key]
	return ok
}

// Keys lists every key of the catalog, sorted.
func Keys() []string {
	var ks []string
	for k := range french() {
		ks = append(ks, k)
	}
	for k := range frenchPlural {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// french is frenchText with French typography applied.
var french = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, len(frenchText))
	for k, v := range frenchText {
		m[k] = Typography(v)
	}
	return m
})

// built is the x/text catalog of both languages.
var built = sync.OnceValue(func() catalog.Catalog {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for k, v := range french() {
		must(b.SetString(language.French, k, v))
	}
	for k, forms := range frenchPlural {
		must(b.Set(language.French, k, plural.Selectf(1, "%d", "one", Typography(forms[0]), "other", Typography(forms[1]))))
	}
	for k, forms := range englishPlural {
		must(b.Set(language.English, k, plural.Selectf(1, "%d", "one", forms[0], "other", forms[1])))
	}
	return b
})

func must(err error) {
	if err != nil {
		panic("i18n catalog: " + err.Error())
	}
}

// Typography applies the French rules to a text written with ordinary
// spaces: a no-break space before ":" and a narrow no-break space before
// ";", "!", "?" and inside « ». Writing the catalog with plain spaces keeps
// it readable and the rule in one place.
func Typography(s string) string {
	return typo.Replace(s)
}

var typo = strings.NewReplacer(
	" :", "\u00a0:",
	" ;", "\u202f;",
	" !", "\u202f!",
	" ?", "\u202f?",
	"« ", "«\u202f",
	" »", "\u202f»",
)
