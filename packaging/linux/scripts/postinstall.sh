#!/bin/sh
# postinstall of {{.Package}}. deb: "configure" (and abort-*); rpm: $1 is 1 on
# install, 2 on upgrade. Creates the service user and reloads systemd.
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers {{.Package}}.conf
elif ! getent passwd {{.User}} >/dev/null 2>&1; then
	useradd --system --user-group --no-create-home --home-dir {{.Home}} --shell /usr/sbin/nologin --comment "{{.Comment}}" {{.User}}
fi
{{- if .StateDir}}
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	systemd-tmpfiles --create {{.Package}}.conf
else
	install -d -m 0700 -o {{.User}} -g {{.User}} {{.StateDir}}
fi
{{- end}}
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	# Restarts it only if it was running (an upgrade).
	systemctl try-restart {{.Package}}.service || true
fi
exit 0
