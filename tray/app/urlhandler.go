package app

// The tray is the handler of airlock:// links (an operator's "Connect
// with Airlock" on a wiki page, the edge's /connect page): the Linux
// desktop entry says so (MimeType=x-scheme-handler/airlock), macOS
// Airlock.app's Info.plist (CFBundleURLTypes), and on Windows the tray
// itself, at its first run, in the current user's registry
// (HKCU\Software\Classes\airlock, urlhandler_windows.go): no
// administrator rights, and the entry follows the program when it moves.

// urlHandlerCommand is the command Windows runs for a link: this program
// with the link as its one argument, both quoted.
func urlHandlerCommand(exe string) string {
	return `"` + exe + `" "%1"`
}
