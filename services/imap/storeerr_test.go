package imap

import (
	"errors"
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"

	"labd/internal/store"
)

// Store errors become NO responses with the RFC 5530 code a client can act
// on; a database that went away is UNAVAILABLE (try again), not a bug.
func TestStoreErrCodes(t *testing.T) {
	cases := []struct {
		err  error
		code imap.ResponseCode
	}{
		{fmt.Errorf("mailbox x: %w", store.ErrNotFound), imap.ResponseCodeNonExistent},
		{fmt.Errorf("mailbox x: %w", store.ErrExists), imap.ResponseCodeAlreadyExists},
		{fmt.Errorf("%w: bad name", store.ErrInvalid), imap.ResponseCodeCannot},
		{fmt.Errorf("%w: connection refused", store.ErrUnavailable), imap.ResponseCodeUnavailable},
	}
	for _, c := range cases {
		var ie *imap.Error
		if err := storeErr(c.err, "CREATE"); !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != c.code {
			t.Errorf("storeErr(%v) = %v, want NO [%s]", c.err, err, c.code)
		}
	}
}
