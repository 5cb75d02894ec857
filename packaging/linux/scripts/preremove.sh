#!/bin/sh
# preremove of {{.Package}}. deb: "remove" or "upgrade"; rpm: $1 is 0 on
# erase, 1 on upgrade. Stops and disables the service on removal only.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl --no-reload disable --now {{.Package}}.service || true
	fi
	;;
esac
exit 0
