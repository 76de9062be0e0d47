package infra_test

import (
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
)

// BenchmarkProgram runs the whole program under mocks per stack: the time,
// memory and allocations of one offline run (target: under 100 ms and
// 50 MB per stack).
//
//	go test -run '^$' -bench Program -benchmem ./infra/
//
// Besides ns/op, B/op and allocs/op it reports peak-heap-MB, how far one run
// grows the heap above what the process held before it (sampled every
// 0.2 ms), and maxRSS-MB, the whole test process's peak resident memory
// (the pulumi-aws SDK's type registrations included).
func BenchmarkProgram(b *testing.B) {
	for _, stack := range stackNames {
		b.Run(stack, func(b *testing.B) {
			opts := stackOptions(b, stack, nil)
			if _, err := mocks.Run(infra.Program, opts); err != nil { // warm: builds the release once
				b.Fatal(err)
			}
			peak := peakHeap(func() { mocks.Run(infra.Program, opts) })
			b.ReportAllocs()
			b.ResetTimer()
			var resources int
			for b.Loop() {
				rec, err := mocks.Run(infra.Program, opts)
				if err != nil {
					b.Fatal(err)
				}
				resources = rec.Count()
			}
			b.ReportMetric(float64(resources), "resources")
			b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			b.ReportMetric(float64(ru.Maxrss)/1024, "maxRSS-MB")
		})
	}
}

// peakHeap returns how far f grows the heap's object bytes above the
// level after a GC before it.
func peakHeap(f func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := read()
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if v := read(); v > max {
				max = v
			}
			select {
			case <-done:
				peak <- max
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(done)
	if p := <-peak; p > base {
		return p - base
	}
	return 0
}
