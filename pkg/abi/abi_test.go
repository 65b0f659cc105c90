package abi

import "testing"

func TestSplitCount(t *testing.T) {
	tests := []struct {
		name      string
		ret       uint32
		wantCount uint32
		wantErrno Errno
	}{
		{name: "zero", ret: 0},
		{name: "a count", ret: 1234, wantCount: 1234},
		{name: "the largest response", ret: MaxResponseBytes, wantCount: MaxResponseBytes},
		{name: "EFAULT", ret: 0xFFFFFFFF, wantErrno: EFAULT},
		{name: "EINVAL", ret: 0xFFFFFFFE, wantErrno: EINVAL},
		{name: "E2BIG", ret: CountErrno(E2BIG), wantErrno: E2BIG},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, errno := SplitCount(tt.ret)
			if n != tt.wantCount || errno != tt.wantErrno {
				t.Errorf("SplitCount(%#x) = %d, %v; want %d, %v", tt.ret, n, errno, tt.wantCount, tt.wantErrno)
			}
		})
	}
	if CountErrno(EFAULT) != 0xFFFFFFFF || CountErrno(EINVAL) < MinCountErrno {
		t.Errorf("CountErrno(EFAULT) = %#x, CountErrno(EINVAL) = %#x", CountErrno(EFAULT), CountErrno(EINVAL))
	}
}
