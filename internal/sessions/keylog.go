package sessions

import (
	"bytes"
	"encoding/hex"
	"io"
)

// maxKeyLog bounds the TLS secrets kept per session: a handshake logs
// five lines of about 200 bytes; renegotiation and HTTP/2 add none.
const maxKeyLog = 8 << 10

// KeyLogWriter returns the writer to set as tls.Config.KeyLogWriter: it
// gives each NSS key log line to the session whose ClientHello carried the
// line's client random, so that the session's pcapng export can be
// decrypted. It returns nil unless Options.KeyLog is set.
func (r *Registry) KeyLogWriter() io.Writer {
	if !r.opts.KeyLog {
		return nil
	}
	return keyLog{r}
}

type keyLog struct{ r *Registry }

// Write takes one or more lines "LABEL <client random> <secret>".
// crypto/tls writes one line per call; a line for an unknown random (a
// connection labd does not record, or whose session already ended) is
// dropped.
func (k keyLog) Write(p []byte) (int, error) {
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) != 3 || hex.DecodedLen(len(f[1])) != 32 {
			continue
		}
		var random [32]byte
		if _, err := hex.Decode(random[:], f[1]); err != nil {
			continue
		}
		k.r.randMu.Lock()
		s := k.r.randoms[random]
		k.r.randMu.Unlock()
		if s == nil {
			continue
		}
		s.mu.Lock()
		if t := s.tlsKeys(); len(t.keylog)+len(line) <= maxKeyLog {
			t.keylog = append(t.keylog, bytes.TrimSpace(line)...)
			t.keylog = append(t.keylog, '\n')
		}
		s.mu.Unlock()
	}
	return len(p), nil
}

// clientHello notes the client random of a ClientHello that starts the
// chunk b (a TLS handshake record), so that the key log finds the session.
func (s *Session) clientHello(b []byte) {
	r := s.reg
	// Record header (5 bytes), handshake type 1 and length (4), version
	// (2), then the 32-byte random.
	if !r.opts.KeyLog || len(b) < 43 || b[5] != 0x01 {
		return
	}
	var random [32]byte
	copy(random[:], b[11:43])
	r.randMu.Lock()
	if r.randoms == nil {
		r.randoms = map[[32]byte]*Session{}
	}
	r.randoms[random] = s
	r.randMu.Unlock()
	s.mu.Lock()
	t := s.tlsKeys()
	t.randoms = append(t.randoms, random)
	s.mu.Unlock()
}

// tlsKeys is what the session keeps for the key log; s.mu is held.
func (s *Session) tlsKeys() *tlsKeys {
	if s.keys == nil {
		s.keys = new(tlsKeys)
	}
	return s.keys
}

// forgetRandoms drops the session's client randoms from the key log's
// index, once no more secrets can come for it.
func (s *Session) forgetRandoms() {
	s.mu.Lock()
	var rs [][32]byte
	if s.keys != nil {
		rs = s.keys.randoms
		s.keys.randoms = nil
	}
	s.mu.Unlock()
	if len(rs) == 0 {
		return
	}
	s.reg.randMu.Lock()
	for _, r := range rs {
		if s.reg.randoms[r] == s {
			delete(s.reg.randoms, r)
		}
	}
	s.reg.randMu.Unlock()
}
