package dashboard

import (
	"html/template"

	"labd/internal/exercises"
)

// localized returns the exercise with its title and description in the
// dashboard's language, when its declaration gives them (title_fr,
// description_fr); the English ones otherwise.
func (d *Dashboard) localized(ex exercises.Exercise) exercises.Exercise {
	if d.tr.Lang() == "fr" {
		if ex.TitleFR != "" {
			ex.Title = ex.TitleFR
		}
		if ex.DescriptionFR != "" {
			ex.Description = ex.DescriptionFR
		}
	}
	return ex
}

// localizedAll is localized over a list, copied: the tracker's own stays.
func (d *Dashboard) localizedAll(exs []exercises.Exercise) []exercises.Exercise {
	out := make([]exercises.Exercise, len(exs))
	for i, ex := range exs {
		out[i] = d.localized(ex)
	}
	return out
}

// langFuncs are the template functions that depend on the language: t,
// th, lang (i18n), and size with the language's units and decimal mark.
func (d *Dashboard) langFuncs() template.FuncMap {
	f := d.tr.Funcs()
	f["size"] = func(n int64) string {
		switch {
		case n < 1024:
			return d.tr.T("%d B", n)
		case n < 1<<20:
			return d.tr.T("%.1f KiB", float64(n)/1024)
		default:
			return d.tr.T("%.1f MiB", float64(n)/(1<<20))
		}
	}
	return f
}
