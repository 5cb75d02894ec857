// Package keychain keeps the daemon's small secrets (refresh tokens, one per
// edge) in the OS keychain — Secret Service on Linux, Keychain on macOS,
// Credential Manager on Windows, through zalando/go-keyring — and falls back
// to a 0600 file under $XDG_STATE_HOME/airlock/ where no keychain answers.
//
// Every keychain call runs with a timeout: a locked keyring with a display
// waits forever on an unlock prompt, so a call that does not return in time
// counts as "the keychain does not answer". [Auto] is the store the daemon
// uses: it tries the keychain, switches to the file on the first failure
// that says the keychain is unusable (no session bus, no Secret Service, a
// locked keyring, no answer), logs the cause once, and remembers the choice
// in a small state file so later starts use the same store and `airlock
// doctor` can show it.
//
// Values are small (a refresh token and a few fields): every store refuses
// values over [MaxValue] bytes, below go-keyring's Windows limit of 2560.
// Nothing here logs a value.
package keychain
