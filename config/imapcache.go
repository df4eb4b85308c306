package config

// DefaultIMAPBodyCacheBytes is imap.body_cache_bytes when unset: the
// whole messages of a few busy 1,000-message folders of 10 KB mails.
const DefaultIMAPBodyCacheBytes = 64 << 20

// setCacheDefaults: 0 (unset) is the default; -1 turns the cache off.
func (p *IMAP) setCacheDefaults() {
	if p.BodyCacheBytes == 0 {
		p.BodyCacheBytes = DefaultIMAPBodyCacheBytes
	}
}

func (p *IMAP) validateCache(v *validator) {
	if p.BodyCacheBytes < -1 {
		v.errorf("imap.body_cache_bytes", "must be a byte count, or -1 for no cache (got %d)", p.BodyCacheBytes)
	}
}

// BodyCache is the cache's budget in bytes, 0 when it is off.
func (p *IMAP) BodyCache() int64 { return max(p.BodyCacheBytes, 0) }
