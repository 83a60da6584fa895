package health

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

var (
	pass    = CheckerFunc(func(context.Context, string) error { return nil })
	fail    = CheckerFunc(func(context.Context, string) error { return errProbe })
	panicky = CheckerFunc(func(context.Context, string) error { panic("boom") })
	// blockUntilCanceled succeeds only if it is never canceled, which
	// shows that All and Any cancel the checkers they no longer need.
	blockUntilCanceled = CheckerFunc(func(ctx context.Context, _ string) error {
		<-ctx.Done()
		return ctx.Err()
	})
)

func TestAllAndAny(t *testing.T) {
	tests := []struct {
		name    string
		checker Checker
		wantErr error
	}{
		{"All of none", All(), nil},
		{"All pass", All(pass, pass), nil},
		{"All with one failure", All(pass, fail), errProbe},
		{"All cancels the rest at the first failure", All(blockUntilCanceled, fail), errProbe},
		{"All with a panic", All(pass, panicky), ErrPanic},
		{"Any of none", Any(), ErrNoChecker},
		{"Any with one success", Any(fail, pass), nil},
		{"Any cancels the rest at the first success", Any(blockUntilCanceled, pass), nil},
		{"Any all failing", Any(fail, panicky), errProbe},
		{"Any all failing joins the errors", Any(fail, panicky), ErrPanic},
		{"nested", All(Any(fail, pass), pass), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.checker.Check(t.Context(), "a:1")
			if tt.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestAllPassesAddrAndContext(t *testing.T) {
	type key struct{}
	var calls atomic.Int32
	probe := CheckerFunc(func(ctx context.Context, addr string) error {
		calls.Add(1)
		if addr != "broker:1883" || ctx.Value(key{}) != "v" {
			return errors.New("wrong address or context")
		}
		return nil
	})
	ctx := context.WithValue(t.Context(), key{}, "v")
	assert.NoError(t, All(probe, probe, probe).Check(ctx, "broker:1883"))
	assert.Equal(t, int32(3), calls.Load())
}
