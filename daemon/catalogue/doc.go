// Package catalogue is the daemon's side of joining an edge (`airlock
// join`): the invitation (an https URL, a host name, or an
// airlock://join?edge=…&ca=sha256:… link), the edge's public metadata
// (GET {auth_url}/.well-known/airlock-configuration), its CA pinned by the
// invitation's fingerprint as kubeadm's --discovery-token-ca-cert-hash
// (GET {auth_url}/.well-known/airlock-ca.pem: the SHA-256 of the CA's
// SubjectPublicKeyInfo must match, and then everything else is verified
// with that CA alone), and the catalogue of the apps the edge's policy
// lets the signed-in person use (GET {auth_url}/api/v1/catalogue with the
// person's access token).
//
// Everything the edge sends is bounded (size, count, lengths) and checked
// before use: an app's name must be a DNS label, its hostname a hostname,
// its API server an https URL. The catalogue is cached as JSON in the
// state folder, so the daemon starts with the clusters of its last sync;
// [Clusters] turns a cached catalogue into the configuration's clusters.
package catalogue
