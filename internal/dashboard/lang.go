package dashboard

import "labd/internal/exercises"

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
