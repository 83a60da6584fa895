package haproxycfg

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timeUnits are HAProxy's time suffixes (configuration manual §2.5).
var timeUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"us", time.Microsecond},
	{"ms", time.Millisecond},
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
	{"d", 24 * time.Hour},
}

// parseTime reads an HAProxy time value: a non-negative integer with an
// optional unit suffix (us, ms, s, m, h, d). A bare number is in
// milliseconds, as for every timeout of HAProxy ("timeout connect 10000"
// is ten seconds).
func parseTime(s string) (time.Duration, error) {
	num, unit := s, time.Millisecond
	for _, u := range timeUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok && n != "" && isDigits(n) {
			num, unit = n, u.unit
			break
		}
	}
	if !isDigits(num) {
		return 0, fmt.Errorf("invalid time %q (a number with an optional unit: us, ms, s, m, h, d; bare numbers are milliseconds)", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > int64(1<<62)/int64(unit) {
		return 0, fmt.Errorf("time %q is out of range", s)
	}
	return time.Duration(n) * unit, nil
}

// parseSize reads an HAProxy size: a non-negative integer with an optional
// k, m or g suffix, in powers of 1024 as HAProxy counts them ("size 100k"
// is 102,400 entries).
func parseSize(s string) (int, error) {
	num, mult := s, int64(1)
	if n := len(s); n > 1 {
		switch s[n-1] {
		case 'k', 'K':
			num, mult = s[:n-1], 1<<10
		case 'm', 'M':
			num, mult = s[:n-1], 1<<20
		case 'g', 'G':
			num, mult = s[:n-1], 1<<30
		}
	}
	if !isDigits(num) {
		return 0, fmt.Errorf("invalid size %q (a number with an optional k, m or g suffix)", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > int64(1<<31-1)/mult {
		return 0, fmt.Errorf("size %q is out of range", s)
	}
	return int(n * mult), nil
}

// parseCount reads a non-negative integer no larger than limit.
func parseCount(s string, limit int) (int, error) {
	if !isDigits(s) {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > limit {
		return 0, fmt.Errorf("%s is out of range (0 to %d)", s, limit)
	}
	return n, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
