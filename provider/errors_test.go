package provider

import (
	"errors"
	"net/http"
	"testing"
)

// TestRefusedAndTemporarySortEveryStatus checks which partner answers are
// refusals (never retried: 400 and 401 of RFC 6749 §5.2, and the 403
// partners such as DUPR's gateway send) and which may succeed later.
func TestRefusedAndTemporarySortEveryStatus(t *testing.T) {
	for _, tc := range []struct {
		status             int
		refused, temporary bool
	}{
		{http.StatusBadRequest, true, false},
		{http.StatusUnauthorized, true, false},
		{http.StatusForbidden, true, false},
		{http.StatusNotFound, false, false},
		{http.StatusRequestTimeout, false, true},
		{http.StatusTooManyRequests, false, true},
		{http.StatusInternalServerError, false, true},
		{http.StatusServiceUnavailable, false, true},
		{http.StatusOK, false, false},
	} {
		perr := &Error{Partner: "DUPR", Status: tc.status}
		if perr.Refused() != tc.refused || perr.Temporary() != tc.temporary {
			t.Errorf("HTTP %d: Refused() = %v, Temporary() = %v; want %v, %v", tc.status, perr.Refused(), perr.Temporary(), tc.refused, tc.temporary)
		}
	}
	noAnswer := &Error{Partner: "DUPR", err: errors.New("connection refused")}
	if noAnswer.Refused() || !noAnswer.Temporary() {
		t.Errorf("no answer: Refused() = %v, Temporary() = %v; want false, true", noAnswer.Refused(), noAnswer.Temporary())
	}
}
