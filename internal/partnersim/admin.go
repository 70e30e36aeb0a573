package partnersim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// faultJSON is a Fault on the admin API: durations as Go duration strings,
// rate_limit_reset as RFC 3339 or as a duration from the simulator's now.
type faultJSON struct {
	Status          int    `json:"status"`
	Body            string `json:"body"`
	ContentType     string `json:"content_type"`
	RetryAfter      string `json:"retry_after"`
	RateLimitReset  string `json:"rate_limit_reset"`
	Delay           string `json:"delay"`
	Trickle         bool   `json:"trickle"`
	TrickleInterval string `json:"trickle_interval"`
	Oversize        bool   `json:"oversize"`
	Malformed       bool   `json:"malformed"`
	OversizeHeader  bool   `json:"oversize_header"`
	Times           int    `json:"times"`
}

func (j faultJSON) fault(now time.Time) (Fault, error) {
	f := Fault{
		Status: j.Status, Body: j.Body, ContentType: j.ContentType, RetryAfter: j.RetryAfter,
		Trickle: j.Trickle, Oversize: j.Oversize, Malformed: j.Malformed, OversizeHeader: j.OversizeHeader, Times: j.Times,
	}
	var err error
	if f.Delay, err = optionalDuration("delay", j.Delay); err != nil {
		return f, err
	}
	if f.TrickleInterval, err = optionalDuration("trickle_interval", j.TrickleInterval); err != nil {
		return f, err
	}
	if j.RateLimitReset != "" {
		if t, err := time.Parse(time.RFC3339, j.RateLimitReset); err == nil {
			f.RateLimitReset = t
		} else if d, err := time.ParseDuration(j.RateLimitReset); err == nil {
			f.RateLimitReset = now.Add(d)
		} else {
			return f, fmt.Errorf("rate_limit_reset %q: want an RFC 3339 time or a duration such as 30s", j.RateLimitReset)
		}
	}
	return f, nil
}

func optionalDuration(name, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q: want a duration such as 2s", name, v)
	}
	return d, nil
}

// admin serves /_sim/. It is not counted in any partner's statistics.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/_sim")
	route, partner, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	methods := map[string][]string{
		"stats": {http.MethodGet}, "reset": {http.MethodPost}, "introspect": {http.MethodPost},
		"faults": {http.MethodPost, http.MethodDelete}, "lifetimes": {http.MethodPut}, "clients": {http.MethodPut},
		"certificates": {http.MethodPost},
	}[route]
	perPartner := route == "faults" || route == "lifetimes" || route == "clients"
	switch {
	case methods == nil || perPartner == (partner == ""):
		adminError(w, http.StatusNotFound, fmt.Errorf("no admin endpoint %s", r.URL.Path))
		return
	case !slices.Contains(methods, r.Method):
		allowed := strings.Join(methods, ", ")
		w.Header().Set("Allow", allowed)
		adminError(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: use %s", r.Method, r.URL.Path, allowed))
		return
	case perPartner && partners[partner] == nil:
		adminError(w, http.StatusNotFound, unknownPartner(partner))
		return
	}

	var err error
	switch route {
	case "stats":
		adminJSON(w, s.Stats())
		return
	case "reset":
		s.Reset()
	case "introspect":
		var req struct {
			Partner string `json:"partner"`
			Token   string `json:"token"`
		}
		if err = decodeAdmin(r, &req); err == nil && partners[req.Partner] == nil {
			err = unknownPartner(req.Partner)
		}
		if err == nil {
			active, exp := s.Introspect(req.Partner, req.Token)
			resp := map[string]any{"active": active}
			if !exp.IsZero() {
				resp["expires_at"] = exp.UTC().Format(time.RFC3339)
			}
			adminJSON(w, resp)
			return
		}
	case "faults":
		if r.Method == http.MethodDelete {
			err = s.ClearFaults(partner)
			break
		}
		var j faultJSON
		var f Fault
		if err = decodeAdmin(r, &j); err == nil {
			if f, err = j.fault(s.now()); err == nil {
				err = s.Inject(partner, f)
			}
		}
	case "lifetimes":
		var req struct {
			Lifetime string `json:"lifetime"`
		}
		var d time.Duration
		if err = decodeAdmin(r, &req); err == nil {
			if d, err = time.ParseDuration(req.Lifetime); err == nil {
				err = s.SetLifetime(partner, d)
			}
		}
	case "clients":
		var c Client
		if err = decodeAdmin(r, &c); err == nil {
			err = s.SetClient(partner, c)
		}
	case "certificates":
		var req struct {
			CommonName string `json:"common_name"`
			Lifetime   string `json:"lifetime"`
		}
		var d time.Duration
		if err = decodeAdmin(r, &req); err == nil {
			if d, err = time.ParseDuration(req.Lifetime); err == nil {
				var cert, key string
				if cert, key, err = s.IssueClientCertificate(req.CommonName, d); err == nil {
					adminJSON(w, map[string]string{"certificate": cert, "private_key": key})
					return
				}
			}
		}
	}
	if err != nil {
		adminError(w, http.StatusBadRequest, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decodeAdmin reads one JSON object, refusing unknown fields so that a
// misspelt fault does not silently become no fault.
func decodeAdmin(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
		return errors.New("request body: more than one JSON value")
	}
	return nil
}

func adminJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
