// Package packaging holds the files that install Airlock the way each
// platform expects, and the tests that check them with the platforms' own
// validators (systemd-analyze, desktop-file-validate, a real
// kube-apiserver's server-side dry run). The folders:
//
//	systemd/     airlock.service (systemd --user, `airlock daemon`),
//	             airlock-edge.service and airlock-connector.service (system
//	             units), airlock-edge-fleet.conf (the edge unit's drop-in for
//	             a fleet member: the store URL as a systemd credential),
//	             their sysusers.d and tmpfiles.d snippets, connector.env
//	linux/       the desktop entry, the XDG autostart entry, maintainer scripts
//	macos/       the launchd agent for `airlock daemon` and Airlock.app's Info.plist
//	kubernetes/  the connector as a Deployment (2 replicas), its Secret and PDB;
//	             kubernetes/edge/ a fleet of edges: a Deployment (3 replicas,
//	             each advertising its pod IP) behind LoadBalancer Services
//	             (UDP 7844, TCP 7843), the store URL Secret, the migrate Job, a PDB
//	container/   the connector's and the edge's container images
//
// Package packaging/dist builds the release (`make dist`): binaries, .deb
// and .rpm packages with these files in their standard places, Windows
// resources and signing, checksums.
package packaging
