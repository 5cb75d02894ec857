// Package layout holds the tests that keep the repository's shape true:
// every package says what it owns, and each shipped binary and light package
// links only what ARCHITECTURE.md allows (the dependency rules).
package layout
