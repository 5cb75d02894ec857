// Package kapitest runs a real kube-apiserver on loopback for other packages'
// tests.
//
// The server is built from the nested module in ./kube-apiserver (its own
// go.mod, so the main module never depends on k8s.io/kubernetes): the real
// k8s.io/kubernetes kube-apiserver with an embedded etcd in the same process.
// [Build] compiles it once per version and source into a cache:
//
//	$AIRLOCK_KAPI_CACHE/<version>-<source hash>/kube-apiserver
//	(default $XDG_CACHE_HOME/airlock/kapi, else ~/.cache/airlock/kapi)
//
// The first build takes ~8 minutes on 2 cores, longer than go test's default
// timeout, so Makefiles and CI prebuild it with
//
//	go run ./internal/systest/kapitest/cmd/kapi-run -build-only
//
// $AIRLOCK_KAPI_BIN, when set, names a ready binary and skips building.
//
// [Start] gives a test a running server with fresh PKI in t.TempDir and
// stops it in t.Cleanup; [StartProcess] does the same without testing.TB
// (cmd/kapi-run uses it). Without a binary or a server, Start skips the test,
// or fails it when CI=true.
package kapitest
