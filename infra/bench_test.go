package infra_test

import (
	"testing"

	"github.com/foobar/webstack/infra"
	"github.com/foobar/webstack/internal/mocks"
)

// BenchmarkProgram runs the whole program under mocks per stack: the time,
// memory and allocations of one offline run (target: under 100 ms).
//
//	go test -run '^$' -bench Program -benchmem ./infra/
func BenchmarkProgram(b *testing.B) {
	for _, stack := range stackNames {
		b.Run(stack, func(b *testing.B) {
			opts := stackOptions(b, stack, nil)
			b.ReportAllocs()
			var resources int
			for b.Loop() {
				rec, err := mocks.Run(infra.Program, opts)
				if err != nil {
					b.Fatal(err)
				}
				resources = rec.Count()
			}
			b.ReportMetric(float64(resources), "resources")
		})
	}
}
