package app

import (
	"log/slog"
	"slices"
	"strconv"

	"fyne.io/systray"

	"github.com/airlockhq/airlock/assets"
)

// IconSize returns the size of the PNG the tray hands to the panel:
// systray sends one pixmap, which the panel scales to its icon size, so it
// is the size most panels draw at 1× (xfce4-panel, KDE Plasma and GNOME's
// AppIndicator extension use 16–22 px), or 48 on a 2× display (GDK_SCALE,
// QT_SCALE_FACTOR).
func IconSize(getenv func(string) string) int {
	for _, k := range []string{"GDK_SCALE", "QT_SCALE_FACTOR"} {
		if f, err := strconv.ParseFloat(getenv(k), 64); err == nil && f >= 1.5 {
			return 48
		}
	}
	return 22
}

// ui draws views. Show is called from one goroutine only.
type ui interface {
	Show(v View)
}

// trayUI draws views with fyne.io/systray. systray keeps its menu in
// package state, so one trayUI exists per process; every call into systray
// happens on the goroutine that calls Show, and each item's click channel
// is drained by a goroutine of its own that only forwards the click (see
// App.click) and ends when systray closes the channel (ResetMenu).
type trayUI struct {
	log      *slog.Logger
	click    func(action)
	iconSize int

	built   bool
	names   []string
	icon    assets.State
	tooltip string

	daemon, account, connectAll, disconnectAll, copyMenu, openConfig, syncNow, leave, signOut, quit *item
	clusters                                                                                        []*item
	copies                                                                                          []*item
}

// item caches what an item shows, so that only changes reach D-Bus.
type item struct {
	mi       *systray.MenuItem
	title    string
	tooltip  string
	disabled bool
	checked  bool
	hidden   bool
}

func newTrayUI(log *slog.Logger, click func(action), iconSize int) *trayUI {
	return &trayUI{log: log, click: click, iconSize: iconSize}
}

// preset sets the icon, title and tooltip before systray.Run, so the
// first properties a panel reads are already right.
func (u *trayUI) preset(v View) {
	systray.SetTitle("Airlock")
	u.setIcon(v.Icon)
	u.tooltip = v.Tooltip
	systray.SetTooltip(v.Tooltip)
}

func (u *trayUI) setIcon(s assets.State) {
	b, err := assets.PNG(s, u.iconSize)
	if err == nil {
		b, err = systrayPNG(b)
	}
	if err != nil {
		u.log.Error("tray icon", "err", err)
		return
	}
	u.icon = s
	systray.SetIcon(b)
}

func (u *trayUI) Show(v View) {
	names := make([]string, len(v.Clusters))
	for i, c := range v.Clusters {
		names[i] = c.Name
	}
	if !u.built || !slices.Equal(names, u.names) {
		if u.built {
			systray.ResetMenu()
		}
		u.build(names)
	}
	if v.Icon != u.icon {
		u.setIcon(v.Icon)
	}
	if v.Tooltip != u.tooltip {
		u.tooltip = v.Tooltip
		systray.SetTooltip(v.Tooltip)
	}
	u.daemon.set(v.Daemon, "", true, false, v.Daemon == "")
	u.account.set(v.Account, v.AccountNote, !v.AccountAction, false, false)
	for i, c := range v.Clusters {
		u.clusters[i].set(c.Title, c.Tooltip, false, c.On, false)
		u.copies[i].set(c.Name, "", c.ProxyURL == "", false, false)
	}
	u.connectAll.set("Connect all", "", !v.CanConnectAll, false, false)
	u.disconnectAll.set("Disconnect all", "", !v.CanDisconnectAll, false, false)
	anyURL := slices.ContainsFunc(v.Clusters, func(c ClusterView) bool { return c.ProxyURL != "" })
	u.copyMenu.set("Copy proxy URL", "socks5://… for a kubeconfig's proxy-url or curl --proxy", !anyURL, false, false)
	u.openConfig.set("Open configuration", v.ConfigPath, false, false, false)
	u.syncNow.set("Sync now", "fetch the clusters you may use from "+v.Fleet, v.Fleet == "", false, v.Fleet == "")
	u.leave.set("Leave fleet "+v.Fleet, "sign out and remove its kubeconfig contexts", v.Fleet == "", false, v.Fleet == "")
	u.signOut.set("Sign out", "", !v.CanSignOut, false, false)
}

// build adds every item for the clusters named.
func (u *trayUI) build(names []string) {
	u.built, u.names = true, names
	add := func(title string, a *action) *item {
		it := &item{mi: systray.AddMenuItem(title, ""), title: title}
		u.forward(it.mi, a)
		return it
	}
	// off is an item that stays disabled until a status says it may be
	// used: a panel that reads the menu while it is being built never
	// shows "Disconnect all" or "Sign out" clickable when they are not.
	off := func(it *item) *item {
		it.mi.Disable()
		it.disabled = true
		return it
	}
	u.daemon = add("", nil)
	u.daemon.mi.Disable()
	u.daemon.disabled = true
	u.account = off(add("Sign in…", &action{kind: actSignIn}))
	systray.AddSeparator()
	u.clusters, u.copies = nil, nil
	for _, n := range names {
		it := &item{mi: systray.AddMenuItemCheckbox(n, "", false), title: n}
		u.forward(it.mi, &action{kind: actToggle, cluster: n})
		u.clusters = append(u.clusters, it)
	}
	if len(names) > 0 {
		systray.AddSeparator()
	}
	u.connectAll = off(add("Connect all", &action{kind: actConnectAll}))
	u.disconnectAll = off(add("Disconnect all", &action{kind: actDisconnectAll}))
	u.copyMenu = off(add("Copy proxy URL", nil))
	for _, n := range names {
		it := &item{mi: u.copyMenu.mi.AddSubMenuItem(n, ""), title: n}
		u.forward(it.mi, &action{kind: actCopy, cluster: n})
		u.copies = append(u.copies, off(it))
	}
	u.openConfig = add("Open configuration", &action{kind: actOpenConfig})
	u.syncNow = off(add("Sync now", &action{kind: actSync}))
	u.leave = off(add("Leave fleet", &action{kind: actLeave}))
	u.signOut = off(add("Sign out", &action{kind: actSignOut}))
	systray.AddSeparator()
	u.quit = add("Quit", &action{kind: actQuit})
}

// forward drains an item's click channel into click, never blocking on
// anything else; it ends when systray closes the channel.
func (u *trayUI) forward(mi *systray.MenuItem, a *action) {
	if a == nil {
		return
	}
	act := *a
	go func() {
		for range mi.ClickedCh {
			u.click(act)
		}
	}()
}

func (it *item) set(title, tooltip string, disabled, checked, hidden bool) {
	if title != it.title {
		it.title = title
		it.mi.SetTitle(title)
	}
	if tooltip != it.tooltip {
		it.tooltip = tooltip
		it.mi.SetTooltip(tooltip)
	}
	if disabled != it.disabled {
		it.disabled = disabled
		if disabled {
			it.mi.Disable()
		} else {
			it.mi.Enable()
		}
	}
	if checked != it.checked {
		it.checked = checked
		if checked {
			it.mi.Check()
		} else {
			it.mi.Uncheck()
		}
	}
	if hidden != it.hidden {
		it.hidden = hidden
		if hidden {
			it.mi.Hide()
		} else {
			it.mi.Show()
		}
	}
}

// logUI is the headless "UI": it logs each cluster's changes.
type logUI struct {
	log    *slog.Logger
	last   map[string]string
	daemon string
}

func newLogUI(log *slog.Logger) *logUI { return &logUI{log: log, last: map[string]string{}} }

func (l *logUI) Show(v View) {
	if v.Daemon != l.daemon {
		l.daemon = v.Daemon
		if v.Daemon != "" {
			l.log.Info(v.Daemon)
		}
	}
	for _, c := range v.Clusters {
		if l.last[c.Name] != c.Title {
			l.last[c.Name] = c.Title
			l.log.Info("cluster " + c.Title)
		}
	}
}
