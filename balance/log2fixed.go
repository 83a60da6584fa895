package balance

import (
	"math/bits"
	"sync"
)

// Weighted rendezvous hashing needs -log(u) for a uniform u. Floating-point
// logarithms are not guaranteed to round alike on every architecture (Go's
// math.Log is assembly on amd64 and Go elsewhere, and other platforms may
// fuse multiply-adds), so two proxy replicas could place a client
// differently. The logarithm here is integer arithmetic only: a table
// computed by repeated squaring, then linear interpolation, giving
// identical results everywhere, accurate to about 2^-22.

const (
	// log2TableBits is how many mantissa bits index the table.
	log2TableBits = 10
	// log2FracBits is the fixed-point precision of the results.
	log2FracBits = 32
)

// log2Lookup holds log2(1 + t/2^log2TableBits) for t = 0 ..
// 2^log2TableBits, as fixed point with log2FracBits fractional bits.
type log2Lookup [1<<log2TableBits + 1]uint64

// log2Table returns the lookup table, built on first use by the hashing
// pickers' Build, never by Pick.
var log2Table = sync.OnceValue(func() *log2Lookup {
	var table log2Lookup
	for t := range table {
		table[t] = log2OneTo2(uint64(1<<log2TableBits+t) << (62 - log2TableBits))
	}
	return &table
})

// log2OneTo2 returns log2(x) for x in [1, 2] given with 62 fractional bits,
// as fixed point with log2FracBits fractional bits, bit by bit: squaring x
// doubles its logarithm, so the integer part of log2(x²), 0 or 1, is the
// next bit of the result.
func log2OneTo2(x uint64) uint64 {
	const one = 1 << 62
	if x >= 2*one {
		return 1 << log2FracBits
	}
	var result uint64
	for bit := log2FracBits - 1; bit >= 0; bit-- {
		hi, lo := bits.Mul64(x, x) // x² with 124 fractional bits, below 4
		x = hi<<2 | lo>>62
		if x >= 2*one {
			result |= 1 << bit
			x >>= 1
		}
	}
	return result
}

// negLog2 returns -log2(h / 2^64) for h != 0, as fixed point with
// log2FracBits fractional bits (h = 0 counts as 1): for a uniform h, an
// exponentially distributed value with mean 1/ln 2.
func negLog2(table *log2Lookup, h uint64) uint64 {
	if h == 0 {
		h = 1
	}
	exponent := bits.Len64(h) - 1
	mantissa := h << (63 - exponent) // top bit set: 1.xxx
	index := (mantissa >> (63 - log2TableBits)) & (1<<log2TableBits - 1)
	between := (mantissa >> (63 - log2TableBits - 32)) & (1<<32 - 1)
	low, high := table[index], table[index+1]
	fraction := low + (high-low)*between>>32
	return (64-uint64(exponent))<<log2FracBits - fraction
}
