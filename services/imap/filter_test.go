package imap

import "testing"

func TestBlankFilter(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"blank lines dropped", "\r\n\na NOOP\r\n\r\n\nb NOOP\n", "a NOOP\r\nb NOOP\n"},
		{"literal kept", "a APPEND INBOX {8}\r\nS: x\r\n\r\n\r\n\r\nb NOOP\r\n", "a APPEND INBOX {8}\r\nS: x\r\n\r\n\r\nb NOOP\r\n"},
		{"non-sync literal", "a APPEND INBOX {2+}\n\r\n\n\nb X\n", "a APPEND INBOX {2+}\n\r\n\nb X\n"},
		{"tls passthrough", "\x16\x03\x01\r\n\r\n", "\x16\x03\x01\r\n\r\n"},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 1000} {
			var f blankFilter
			var got []byte
			for i := 0; i < len(tt.in); i += chunk {
				end := min(i+chunk, len(tt.in))
				got = append(got, f.filter([]byte(tt.in[i:end]))...)
			}
			if string(got) != tt.want {
				t.Errorf("%s (chunks of %d): %q, want %q", tt.name, chunk, got, tt.want)
			}
		}
	}
}
