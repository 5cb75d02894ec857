package kubeconfig

import (
	"testing"
	"time"
)

// BenchmarkReapplyAfterExternalRewrite measures the time from a rename-replace of the
// kubeconfig (as gcloud, aws or an editor do) to the proxy-url written back by Run,
// with the default debounce; it reports p50 and p99 in milliseconds (target p99 ≤ 200).
// Layout: one process, the file on the test's temporary folder.
func BenchmarkReapplyAfterExternalRewrite(b *testing.B) {
	lat := measureReapply(b, b.N)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}
