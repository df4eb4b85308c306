package config

import (
	"os"
	"strings"
)

// Lang is the language labd writes in for people: server.language, or when
// it is empty the one the environment asks for (LanguageFromEnv), so that a
// host installed in French speaks French without a setting.
func (s Server) Lang() string {
	if s.Language != "" {
		return s.Language
	}
	return LanguageFromEnv(os.Getenv)
}

// LanguageFromEnv follows the POSIX precedence LC_ALL, LC_MESSAGES, LANG:
// the first one set decides, "fr" or "fr_FR.UTF-8" give French, anything
// else (C, POSIX, en_US...) English.
func LanguageFromEnv(getenv func(string) string) string {
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := getenv(k)
		if v == "" {
			continue
		}
		if strings.HasPrefix(strings.ToLower(v), "fr") {
			return "fr"
		}
		return "en"
	}
	return "en"
}

func validateLanguage(v *validator, lang string) {
	switch lang {
	case "", "en", "fr":
		return
	}
	v.errorf("server.language", "%q is not one of en, fr (empty: from LANG)", lang)
}

// DefaultMotd is the welcome of the lab shell in lang. The shell's
// messages, help and man pages follow the same language (internal/i18n,
// fr_shell.go); command names stay as they are.
func DefaultMotd(lang string) string {
	if lang == "fr" {
		return "Bienvenue dans le shell de TP de labd. Tapez help pour la liste des commandes."
	}
	return "Welcome to the labd lab shell. Type help for the list of commands."
}
