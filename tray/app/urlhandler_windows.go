package app

import (
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// urlHandlerKey is the registry key, under HKEY_CURRENT_USER, of the
// airlock:// URL scheme.
const urlHandlerKey = `Software\Classes\airlock`

// registerURLHandler makes exe the handler of airlock:// links for the
// current user, unless it already is; it reports whether it wrote.
func registerURLHandler(exe string) (bool, error) {
	want := urlHandlerCommand(exe)
	if k, err := registry.OpenKey(registry.CURRENT_USER, urlHandlerKey+`\shell\open\command`, registry.QUERY_VALUE); err == nil {
		got, _, err := k.GetStringValue("")
		k.Close()
		if err == nil && got == want {
			return false, nil
		}
	}
	for _, v := range []struct{ key, name, value string }{
		{urlHandlerKey, "", "URL:Airlock"},
		{urlHandlerKey, "URL Protocol", ""},
		{urlHandlerKey + `\DefaultIcon`, "", `"` + exe + `",0`},
		{urlHandlerKey + `\shell\open\command`, "", want},
	} {
		k, _, err := registry.CreateKey(registry.CURRENT_USER, v.key, registry.SET_VALUE)
		if err != nil {
			return false, fmt.Errorf("register airlock:// links: HKCU\\%s: %w", v.key, err)
		}
		err = k.SetStringValue(v.name, v.value)
		k.Close()
		if err != nil {
			return false, fmt.Errorf("register airlock:// links: HKCU\\%s: %w", v.key, err)
		}
	}
	return true, nil
}
