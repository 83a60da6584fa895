package cluster

import (
	"context"
	"log/slog"
)

// demoteHandler passes mochi-mqtt's log records on at Debug unless they are
// errors. mochi logs its start-up steps at Info and every connection that
// ends without DISCONNECT at Warn; in a demo whose nodes are killed on
// purpose, and under health checks that connect and hang up, that is noise.
type demoteHandler struct{ next slog.Handler }

func demote(level slog.Level) slog.Level {
	if level < slog.LevelError {
		return slog.LevelDebug
	}
	return level
}

func (h demoteHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, demote(level))
}

func (h demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return h.next.Handle(ctx, r)
}

func (h demoteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoteHandler{h.next.WithAttrs(attrs)}
}

func (h demoteHandler) WithGroup(name string) slog.Handler {
	return demoteHandler{h.next.WithGroup(name)}
}
