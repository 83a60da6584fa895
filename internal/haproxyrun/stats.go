package haproxyrun

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqttlb/mqttlb/internal/haproxycfg"
	"github.com/mqttlb/mqttlb/mqttlb"
	"github.com/mqttlb/mqttlb/mqttlb/stats"
)

// statsPlan is a section that serves HAProxy's statistics page ("stats
// enable", "stats uri" ...): the page of package stats at the URI, and
// the same model as JSON at the URI followed by ";json", as HAProxy
// serves its own.
type statsPlan struct {
	name  string
	binds []string
	stats haproxycfg.Stats
}

// key says what the page is; a reload that changes it reopens the page's
// listeners.
func (s *statsPlan) key() string { return fmt.Sprintf("%+v", s.stats) }

// handler serves the page of every frontend's proxy of r.
func (s *statsPlan) handler(r *Runner) http.Handler {
	source := stats.SourceFunc(r.Stats)
	page := &stats.Page{Source: source, Refresh: s.stats.Refresh, HideVersion: s.stats.HideVersion,
		Title: "mqttlb statistics: " + s.name}
	if s.stats.Refresh == 0 {
		page.Refresh = -1 // HAProxy's page does not refresh unless told to
	}
	json := &stats.JSON{Source: source}
	path, query, _ := strings.Cut(s.stats.URI, "?")
	return &basicAuth{realm: s.stats.Realm, users: s.stats.Auth, next: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.URL.Path == path+";json" || req.URL.Path == path && req.URL.RawQuery == query+";json":
			json.ServeHTTP(w, req)
		case req.URL.Path == path && (query == "" || strings.HasPrefix(req.URL.RawQuery, query)):
			page.ServeHTTP(w, req)
		default:
			http.NotFound(w, req)
		}
	})}
}

// basicAuth lets in the requests that carry one of the users of "stats
// auth" (HAProxy accepts several; stats.Auth holds one), and all when
// there is none.
type basicAuth struct {
	realm string
	users []haproxycfg.Credential
	next  http.Handler
}

func (a *basicAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(a.users) == 0 {
		a.next.ServeHTTP(w, r)
		return
	}
	user, pass, ok := r.BasicAuth()
	allowed := 0
	for _, c := range a.users {
		// Compare every pair in constant time, so that the answer's
		// timing does not tell which user exists.
		allowed |= subtle.ConstantTimeCompare([]byte(user), []byte(c.User)) & subtle.ConstantTimeCompare([]byte(pass), []byte(c.Password))
	}
	if ok && allowed == 1 {
		a.next.ServeHTTP(w, r)
		return
	}
	realm := a.realm
	if realm == "" {
		realm = stats.DefaultRealm
	}
	w.Header().Set("WWW-Authenticate", "Basic realm="+strconv.Quote(realm))
	http.Error(w, "401 unauthorized", http.StatusUnauthorized)
}

// Stats returns the statistics of every frontend's proxy as one: the
// connection counts summed (Max is the sum of each frontend's maximum),
// the routes named "frontend/route", and each pool once.
func (r *Runner) Stats() mqttlb.Stats {
	r.mu.Lock()
	names := slices.Clone(r.frontends)
	proxies := make([]*mqttlb.Proxy, len(names))
	for i, name := range names {
		proxies[i] = r.proxies[name]
	}
	r.mu.Unlock()

	out := mqttlb.Stats{Time: time.Now()}
	seen := map[string]bool{}
	for i, px := range proxies {
		s := px.Stats()
		out.Proxy = addConnStats(out.Proxy, s.Proxy)
		for _, rs := range s.Routes {
			rs.Name = names[i] + "/" + rs.Name
			out.Routes = append(out.Routes, rs)
		}
		for _, ps := range s.Pools {
			if !seen[ps.Name] {
				seen[ps.Name] = true
				out.Pools = append(out.Pools, ps)
			}
		}
	}
	return out
}

func addConnStats(a, b mqttlb.ConnStats) mqttlb.ConnStats {
	a.Current += b.Current
	a.Max += b.Max
	a.Total += b.Total
	a.Rate += b.Rate
	a.BytesIn += b.BytesIn
	a.BytesOut += b.BytesOut
	for reason, n := range b.Rejects {
		if a.Rejects == nil {
			a.Rejects = map[string]uint64{}
		}
		a.Rejects[reason] += n
	}
	return a
}
