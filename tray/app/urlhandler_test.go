package app

import "testing"

// TestURLHandlerCommand: Windows runs the program with the link as one
// quoted argument, whatever spaces the install path holds.
func TestURLHandlerCommand(t *testing.T) {
	for _, tc := range []struct{ exe, want string }{
		{`C:\Program Files\Airlock\airlock.exe`, `"C:\Program Files\Airlock\airlock.exe" "%1"`},
		{`C:\Users\a b\AppData\Local\Airlock\airlock.exe`, `"C:\Users\a b\AppData\Local\Airlock\airlock.exe" "%1"`},
	} {
		if got := urlHandlerCommand(tc.exe); got != tc.want {
			t.Errorf("urlHandlerCommand(%q) = %q, want %q", tc.exe, got, tc.want)
		}
	}
}
