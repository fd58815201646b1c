package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	prev := -1
	for _, us := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		b := bucketOf(us)
		if b < prev {
			t.Fatalf("bucket of %d is %d, below the previous %d", us, b, prev)
		}
		prev = b
		top := bucketTop(b)
		if top < us || (b > 0 && bucketTop(b-1) >= us) {
			t.Fatalf("%d in bucket %d with top %d (previous top %d)", us, b, top, bucketTop(b-1))
		}
		if us >= 128 && float64(top-us) > float64(us)/subCount {
			t.Fatalf("%d: bucket top %d is off by more than 1/%d", us, top, subCount)
		}
	}
	if b := bucketOf(1<<64 - 1); b >= len(histogram{}.counts) {
		t.Fatalf("largest value in bucket %d, out of range", b)
	}
}

func TestPercentilesMatchSortedSamples(t *testing.T) {
	var h histogram
	r := rand.New(rand.NewPCG(1, 2))
	samples := make([]time.Duration, 10000)
	for i := range samples {
		// Log-uniform from 10 µs to 1 s: every bucket regime is used.
		samples[i] = time.Duration(10*(1<<(r.IntN(17)))+r.IntN(1000)) * time.Microsecond
		h.record(samples[i])
	}
	slices.Sort(samples)
	for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
		rank := int(float64(len(samples))*p/100+0.999999) - 1
		want := samples[rank]
		got := h.percentile(p)
		if got < want || float64(got-want) > float64(want)/subCount+float64(time.Microsecond) {
			t.Errorf("p%v = %v, want %v (within 1/%d)", p, got, want, subCount)
		}
	}
	if h.percentile(100) != samples[len(samples)-1] || h.max != samples[len(samples)-1] {
		t.Fatalf("p100 %v max %v, want %v", h.percentile(100), h.max, samples[len(samples)-1])
	}
}

func TestHistogramEdges(t *testing.T) {
	var h histogram
	if h.percentile(50) != 0 {
		t.Fatal("empty histogram has a percentile")
	}
	h.record(-time.Second) // a clock oddity must not panic or go negative
	h.record(3 * time.Millisecond)
	if h.percentile(50) != 0 || h.percentile(100) != 3*time.Millisecond {
		t.Fatalf("p50 %v p100 %v", h.percentile(50), h.percentile(100))
	}
	if h.percentile(0) != 0 || h.percentile(1000) != 3*time.Millisecond {
		t.Fatal("out-of-range p not clamped")
	}
	var o histogram
	o.record(time.Hour)
	h.merge(&o)
	if h.n != 3 || h.max != time.Hour || h.percentile(100) != time.Hour {
		t.Fatalf("merge: n %d max %v", h.n, h.max)
	}
}
