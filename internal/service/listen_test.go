package service

import (
	"net"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"labd/config"
)

// configKeys lists every dotted key of the config file ("http.tls_listen").
func configKeys() map[string]bool {
	keys := map[string]bool{}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			key := tag
			if prefix != "" {
				key = prefix + "." + tag
			}
			keys[key] = true
			if f.Type.Kind() == reflect.Struct {
				walk(key, f.Type)
			}
		}
	}
	walk("", reflect.TypeFor[config.Config]())
	return keys
}

// Every config key a bind error names exists.
func TestBindErrorKeysExist(t *testing.T) {
	keys := configKeys()
	sections := map[string]bool{}
	for k := range keys {
		if s, _, ok := strings.Cut(k, "."); ok {
			sections[s] = true
		}
	}
	keyLike := regexp.MustCompile(`\b([a-z0-9]+)\.([a-z_]+)\b`)
	names := []string{"unknown"}
	for n := range ListenKeys {
		names = append(names, n)
	}
	for _, name := range names {
		for _, errno := range []error{syscall.EACCES, syscall.EADDRINUSE, syscall.EADDRNOTAVAIL} {
			msg := BindError(name, "tcp", "127.0.0.1:25", errno).Error()
			for _, m := range keyLike.FindAllStringSubmatch(msg, -1) {
				if sections[m[1]] && !keys[m[0]] {
					t.Errorf("%s (%v): names %s, which is no config key:\n%s", name, errno, m[0], msg)
				}
			}
		}
	}
	for name, k := range ListenKeys {
		if !keys[k] {
			t.Errorf("ListenKeys[%s] = %s: no such config key", name, k)
		}
	}
}

// systemctl disable is suggested only for a system service's process: a
// port held by this test process is not one.
func TestBindErrorSystemctlOnlyForServices(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = ListenTCP("https", ln.Addr().String())
	if err == nil {
		t.Fatal("second bind succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "http.tls_listen") || strings.Contains(msg, "https.listen") {
		t.Errorf("bind error names the wrong key: %s", msg)
	}
	if strings.Contains(msg, "systemctl") && systemUnit("self") == "" {
		t.Errorf("systemctl suggested for a process that is no system service: %s", msg)
	}
	if u := systemUnit("self"); u != "" && !strings.Contains(msg, "systemctl disable --now "+u) {
		t.Logf("tests run inside %s", u)
	}
}
