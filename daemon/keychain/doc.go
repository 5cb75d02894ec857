// Package keychain keeps the daemon's small secrets (refresh tokens, one per
// edge) in the OS keychain — Secret Service on Linux, Keychain on macOS,
// Credential Manager on Windows, through zalando/go-keyring — and falls back
// to a 0600 file under $XDG_STATE_HOME/airlock/ where no keychain answers.
//
// Every keychain call runs with a timeout: a locked keyring with a display
// waits forever on an unlock prompt, so a call that does not return in time
// counts as "the keychain does not answer"; calls run one at a time, so a
// hung call (a person typing the unlock password) holds its place instead
// of piling up, and its late answer is reported ([OS.OnLateAnswer]).
// [Auto] is the store the daemon uses: it tries the keychain and switches
// to the file only when the keychain is absent (no session bus, no Secret
// Service), logs the cause once, and remembers the choice in a small state
// file so later starts use the same store and `airlock doctor` can show
// it. A locked, slow or failing keychain is a temporary condition: values
// wait in memory ([KindMemory], never in the file), [Auto.Run] asks the
// keychain again with backoff, at once when a hung call answers, and moves
// them in when it does.
//
// Values are small (a refresh token and a few fields): every store refuses
// values over [MaxValue] bytes, below go-keyring's Windows limit of 2560.
// Nothing here logs a value.
package keychain
