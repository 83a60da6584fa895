package sticky

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSessionKeep(t *testing.T) {
	const ttl = 30 * time.Minute
	tests := []struct {
		name string
		sess Session
		ttl  time.Duration
		want time.Duration
	}{
		{"zero Session keeps for the TTL like HAProxy", Session{}, ttl, ttl},
		{"3.1.1 clean session ends with the connection", Session{Version: 4, CleanStart: true}, ttl, 0},
		{"3.1.1 persistent session kept for the TTL", Session{Version: 4}, ttl, ttl},
		{"3.1 clean session ends with the connection", Session{Version: 3, CleanStart: true}, ttl, 0},
		{"3.1 persistent session kept for the TTL", Session{Version: 3}, ttl, ttl},
		{"3.1.1 ignores a stray expiry", Session{Version: 4, CleanStart: true, Expiry: 600, HasExpiry: true}, ttl, 0},
		{"5 expiry absent means 0", Session{Version: 5}, ttl, 0},
		{"5 expiry absent with a stale value still means 0", Session{Version: 5, Expiry: 600}, ttl, 0},
		{"5 expiry 0", Session{Version: 5, HasExpiry: true}, ttl, 0},
		{"5 expiry N below the TTL", Session{Version: 5, Expiry: 90, HasExpiry: true}, ttl, 90 * time.Second},
		{"5 expiry N above the TTL is capped", Session{Version: 5, Expiry: 7200, HasExpiry: true}, ttl, ttl},
		{"5 expiry never is capped by the TTL", Session{Version: 5, Expiry: ExpiryNever, HasExpiry: true}, ttl, ttl},
		{"5 clean start does not shorten the expiry", Session{Version: 5, CleanStart: true, Expiry: 90, HasExpiry: true}, ttl, 90 * time.Second},
		{"5 largest finite expiry without a TTL", Session{Version: 5, Expiry: ExpiryNever - 1, HasExpiry: true}, -1, time.Duration(ExpiryNever-1) * time.Second},
		{"5 expiry never without a TTL", Session{Version: 5, Expiry: ExpiryNever, HasExpiry: true}, -1, forever},
		{"3.1.1 persistent session without a TTL", Session{Version: 4}, -1, forever},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.sess.Keep(tt.ttl))
		})
	}
}
