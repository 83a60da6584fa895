// Package cliflag holds the flag types the example programs share.
//
//	var servers cliflag.List
//	flag.Var(&servers, "server", "backend ADDR, repeatable or comma-separated")
package cliflag

import "strings"

// List collects a repeatable flag whose values may also be comma-separated
// lists: "-server a -server b,c" gives [a b c]. Empty items are dropped.
type List []string

// String returns the items joined by commas.
func (l *List) String() string { return strings.Join(*l, ",") }

// Set adds the comma-separated items of v.
func (l *List) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}
