package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// DefaultCloseWindow spreads the closes of an Admin "close" action when
// the request gives no window.
const DefaultCloseWindow = 10 * time.Second

// ErrAdminDisabled is answered (403) by an Admin without credentials.
var ErrAdminDisabled = errors.New("stats: admin handler has no credentials")

// Admin changes the proxy's backends at run time over HTTP. It accepts
// POST only, with form fields (URL query or form body), and answers JSON.
// Every request names an action and most a pool:
//
//	action=state   pool, backend, state=ready|drain|maint
//	action=weight  pool, backend, weight=0..256
//	action=add     pool, backend (name), addr, [weight], [backup=true], [maxconn]
//	action=remove  pool, backend
//	action=close   pool, backend, [window=10s]: close its connections,
//	               paced over the window (the answer does not wait)
//	action=sticky  pool, client_id: show the backend the client ID sticks to
//	action=unstick pool, client_id: clear that entry
//
// Admin refuses everything (403) unless Auth.User is set: control is off
// by default and needs its own credentials, apart from the stats page's.
type Admin struct {
	// Proxy is the proxy controlled. Required.
	Proxy *mqttlb.Proxy
	// Auth are the credentials of the operators; required.
	Auth Auth
	// Logger receives one line per change; nil means slog.Default().
	Logger *slog.Logger
}

// adminError is an answer with an HTTP status.
type adminError struct {
	status int
	err    error
}

func (e *adminError) Error() string { return e.err.Error() }

func badRequest(format string, args ...any) error {
	return &adminError{http.StatusBadRequest, fmt.Errorf(format, args...)}
}

// ServeHTTP performs one action.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.Auth.User == "" {
		http.Error(w, "403 "+ErrAdminDisabled.Error(), http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !a.Auth.allow(w, r) {
		return
	}
	result, err := a.do(r)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		status := http.StatusInternalServerError
		var ae *adminError
		switch {
		case errors.As(err, &ae):
			status = ae.status
		case errors.Is(err, mqttlb.ErrUnknownBackend):
			status = http.StatusNotFound
		case errors.Is(err, mqttlb.ErrDuplicateBackend):
			status = http.StatusConflict
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": err.Error()})
		return
	}
	result["ok"] = true
	_ = json.NewEncoder(w).Encode(result)
}

func (a *Admin) do(r *http.Request) (map[string]any, error) {
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("stats: %v", err)
	}
	action, poolName, backend := r.Form.Get("action"), r.Form.Get("pool"), r.Form.Get("backend")
	pool := a.Proxy.Pool(poolName)
	if pool == nil {
		return nil, &adminError{http.StatusNotFound, fmt.Errorf("stats: unknown pool %q", poolName)}
	}
	out := map[string]any{"action": action, "pool": poolName}
	if backend != "" {
		out["backend"] = backend
	}
	switch action {
	case "state":
		s, err := parseState(r.Form.Get("state"))
		if err != nil {
			return nil, err
		}
		if !pool.SetState(backend, s) {
			return nil, unknownBackend(pool, backend)
		}
		out["state"] = s.String()
	case "weight":
		wt, err := strconv.Atoi(r.Form.Get("weight"))
		if err != nil || wt < 0 || wt > balance.MaxWeight {
			return nil, badRequest("stats: weight must be 0 to %d", balance.MaxWeight)
		}
		if !pool.SetWeight(backend, wt) {
			return nil, unknownBackend(pool, backend)
		}
		out["weight"] = wt
	case "add":
		b, err := parseBackend(r)
		if err != nil {
			return nil, err
		}
		if err := pool.AddBackend(b); err != nil {
			return nil, err
		}
	case "remove":
		if _, err := pool.RemoveBackend(backend); err != nil {
			return nil, err
		}
	case "close":
		window := DefaultCloseWindow
		if v := r.Form.Get("window"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return nil, badRequest("stats: window must be a duration such as 30s")
			}
			window = d
		}
		n, ok := pool.CloseSessions(backend, window)
		if !ok {
			return nil, unknownBackend(pool, backend)
		}
		out["closing"], out["window"] = n, window.String()
	case "sticky", "unstick":
		id := r.Form.Get("client_id")
		if id == "" {
			return nil, badRequest("stats: client_id is required")
		}
		out["client_id"] = id
		if action == "unstick" {
			out["cleared"] = pool.ClearSticky(id)
			break
		}
		b, ok := pool.StickyBackend(id)
		out["found"] = ok
		if ok {
			out["backend"] = b
		}
	default:
		return nil, badRequest("stats: unknown action %q", action)
	}
	a.logger().Info("admin action", "remote", r.RemoteAddr, "action", action, "pool", poolName,
		"backend", backend, "form", r.Form.Encode())
	return out, nil
}

func unknownBackend(pool *mqttlb.Pool, id string) error {
	return fmt.Errorf("%w: %q in pool %q", mqttlb.ErrUnknownBackend, id, pool.Name)
}

func parseState(s string) (mqttlb.State, error) {
	for _, st := range []mqttlb.State{mqttlb.StateReady, mqttlb.StateDrain, mqttlb.StateMaint} {
		if s == st.String() {
			return st, nil
		}
	}
	return 0, badRequest("stats: state must be ready, drain or maint, not %q", s)
}

func parseBackend(r *http.Request) (*balance.Backend, error) {
	b := &balance.Backend{Name: r.Form.Get("backend"), Addr: r.Form.Get("addr")}
	if b.Addr == "" {
		return nil, badRequest("stats: addr is required")
	}
	for field, dst := range map[string]*int{"weight": &b.Weight, "maxconn": &b.MaxConn} {
		if v := r.Form.Get(field); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, badRequest("stats: %s must be a number ≥ 0", field)
			}
			*dst = n
		}
	}
	b.Backup = r.Form.Get("backup") == "true"
	return b, nil
}

func (a *Admin) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
