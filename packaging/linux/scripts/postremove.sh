#!/bin/sh
# postremove of {{.Package}}. deb: "remove", "purge", "upgrade", ...; rpm: $1
# is 0 on erase, 1 on upgrade. The service user stays (as distributions do);
# a purge removes the state folder only when it is empty: it may hold keys.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
case "$1" in
purge)
{{- if .StateDir}}
	rmdir --ignore-fail-on-non-empty {{.StateDir}} 2>/dev/null || true
{{- end}}
{{- if .ConfigDir}}
	rmdir --ignore-fail-on-non-empty {{.ConfigDir}} 2>/dev/null || true
{{- end}}
	;;
esac
exit 0
