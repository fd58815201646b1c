package main

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is cut into
// 2^subBits buckets, so a percentile is off by less than 1/64 (1.6 %).
const subBits = 6

const subCount = 1 << subBits

// histogram counts durations at microsecond resolution in log-linear
// buckets, HDR style: memory stays fixed (32 KiB) however many
// samples a run takes. The zero value is ready; it is not safe for
// concurrent use.
type histogram struct {
	counts [64 * subCount]uint64
	n      uint64
	max    time.Duration
}

// bucketOf maps microseconds to a bucket: exact below 2*subCount, then
// subCount buckets per power of two.
func bucketOf(us uint64) int {
	if us < 2*subCount {
		return int(us)
	}
	shift := bits.Len64(us) - subBits - 1
	return int(uint64(shift+1)*subCount + us>>shift - subCount)
}

// bucketTop is the largest value, in microseconds, that falls in bucket i.
func bucketTop(i int) uint64 {
	if i < 2*subCount {
		return uint64(i)
	}
	shift := i/subCount - 1
	mant := uint64(i%subCount + subCount)
	return (mant+1)<<shift - 1
}

// record adds one sample; negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

// merge adds o's samples to h.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// percentile returns the nearest-rank p-th percentile (p in (0, 100]):
// the top of the bucket holding that rank, never more than the maximum.
// It is 0 without samples.
func (h *histogram) percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketTop(i))*time.Microsecond, h.max)
		}
	}
	return h.max
}
