package sessions

// SetKill records how to end the session from outside (the lab shell's
// kill): for a connection, closing it.
func (s *Session) SetKill(f func()) {
	s.mu.Lock()
	s.kill = f
	s.mu.Unlock()
}

// Kill ends a live session. It reports false when the session cannot be
// ended this way (closed already, or nothing to close).
func (s *Session) Kill() bool {
	s.mu.Lock()
	f, rc, closed := s.kill, s.conn, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return false
	case f != nil:
		f()
	case rc != nil:
		rc.Close()
	default:
		return false
	}
	return true
}
