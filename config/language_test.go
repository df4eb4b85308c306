package config

import "testing"

func TestLanguageFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "en"},
		{map[string]string{"LANG": "fr_FR.UTF-8"}, "fr"},
		{map[string]string{"LANG": "fr"}, "fr"},
		{map[string]string{"LANG": "C.UTF-8"}, "en"},
		{map[string]string{"LANG": "fr_FR.UTF-8", "LC_ALL": "C"}, "en"},
		{map[string]string{"LANG": "en_US.UTF-8", "LC_MESSAGES": "fr_CA.UTF-8"}, "fr"},
	} {
		got := LanguageFromEnv(func(k string) string { return tc.env[k] })
		if got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.env, got, tc.want)
		}
	}
}

func TestLanguageValidated(t *testing.T) {
	c := Lab()
	c.Server.Language = "de"
	if err := c.Validate(); err == nil {
		t.Fatal("server.language de accepted")
	}
	c.Server.Language = "fr"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Server.Lang() != "fr" {
		t.Fatal("Lang ignores server.language")
	}
}

func TestMotdFollowsLanguage(t *testing.T) {
	t.Setenv("LC_ALL", "fr_FR.UTF-8")
	if c := Lab(); c.Shell.Motd != DefaultMotd("fr") {
		t.Errorf("motd under LC_ALL=fr: %q", c.Shell.Motd)
	}
	t.Setenv("LC_ALL", "C")
	if c := Lab(); c.Shell.Motd != DefaultMotd("en") {
		t.Errorf("motd under LC_ALL=C: %q", c.Shell.Motd)
	}
}
