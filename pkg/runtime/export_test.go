package runtime

import (
	"context"
	"os"
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

// BuildGuest returns the bytes of test/guests/<name> built for wasip1,
// built once per test binary.
var BuildGuest = buildGuest

// TryBuildGuest is BuildGuest returning its error instead of failing, for
// guests that may not build everywhere (client-go).
func TryBuildGuest(name string) ([]byte, error) { return tryBuildGuest(name) }

// RemoveBuiltGuests removes what BuildGuest built.
func RemoveBuiltGuests() {
	if guestDir != "" {
		_ = os.RemoveAll(guestDir)
	}
}
