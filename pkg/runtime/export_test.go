package runtime

import (
	"context"
)

// NewUninterruptible is New without interrupting guests when their context
// is done: unsafe, for benchmarks that measure what interruption costs.
func NewUninterruptible(ctx context.Context, cfg Config) (*Runtime, error) {
	return newRuntime(ctx, cfg, false)
}

// NewKeepingDataSegments is New without merging data segments at load, for
// benchmarks that measure what merging saves.
func NewKeepingDataSegments(ctx context.Context, cfg Config) (*Runtime, error) {
	r, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r.keepDataSegments = true
	return r, nil
}
