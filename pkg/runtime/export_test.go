package runtime

import "context"

// NewUninterruptible is New without interrupting guests when their context
// is done: unsafe, for benchmarks that measure what interruption costs.
func NewUninterruptible(ctx context.Context, cfg Config) (*Runtime, error) {
	return newRuntime(ctx, cfg, false)
}
