package stats

import (
	"encoding/json"
	"net/http"
)

// JSON serves the statistics as a JSON document: an [mqttlb.Stats] with
// its JSON field names.
type JSON struct {
	// Source gives the statistics. Required.
	Source Source
	// Auth protects the document; the zero value does not.
	Auth Auth
}

// ServeHTTP answers GET and HEAD with the document.
func (j *JSON) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowRead(w, r) || !j.Auth.allow(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(j.Source.Stats())
}

// allowRead answers 405 to anything but GET and HEAD.
func allowRead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
	return false
}
