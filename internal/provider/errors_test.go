package provider

import (
	"errors"
	"net/http"
	"testing"
)

// TestRefusedAndTransientSortEveryStatus checks which partner answers are
// refusals (never retried: 400 and 401 of RFC 6749 §5.2, and the 403
// partners such as DUPR's gateway send) and which may succeed later.
func TestRefusedAndTransientSortEveryStatus(t *testing.T) {
	for _, tc := range []struct {
		status             int
		refused, transient bool
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
		if perr.Refused() != tc.refused || perr.Transient() != tc.transient {
			t.Errorf("HTTP %d: Refused() = %v, Transient() = %v; want %v, %v", tc.status, perr.Refused(), perr.Transient(), tc.refused, tc.transient)
		}
	}
	noAnswer := &Error{Partner: "DUPR", err: errors.New("connection refused")}
	if noAnswer.Refused() || !noAnswer.Transient() {
		t.Errorf("no answer: Refused() = %v, Transient() = %v; want false, true", noAnswer.Refused(), noAnswer.Transient())
	}
}
