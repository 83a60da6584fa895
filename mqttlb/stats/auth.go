package stats

import (
	"crypto/subtle"
	"net/http"
	"strconv"
)

// DefaultRealm is the basic-auth realm when Auth.Realm is empty.
const DefaultRealm = "mqttlb"

// Auth is HTTP basic authentication for a handler (HAProxy "stats auth"
// and "stats realm"). The zero value lets every request in.
type Auth struct {
	// User and Password are the one accepted pair; an empty User means no
	// authentication.
	User, Password string
	// Realm names the protected area in the browser's prompt; empty means
	// DefaultRealm.
	Realm string
}

// allow reports whether r may proceed; when not, it has answered 401.
func (a Auth) allow(w http.ResponseWriter, r *http.Request) bool {
	if a.User == "" {
		return true
	}
	user, pass, ok := r.BasicAuth()
	// Compare both in constant time, so a wrong user is no quicker to
	// find than a wrong password.
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.User))
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(a.Password))
	if ok && userOK&passOK == 1 {
		return true
	}
	realm := a.Realm
	if realm == "" {
		realm = DefaultRealm
	}
	w.Header().Set("WWW-Authenticate", "Basic realm="+strconv.Quote(realm)+`, charset="UTF-8"`)
	http.Error(w, "401 unauthorized", http.StatusUnauthorized)
	return false
}
