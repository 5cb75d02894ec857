package traytest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/godbus/dbus/v5"
)

// Item paths systray exports.
const (
	ItemPath = "/StatusNotifierItem"
	MenuPath = "/StatusNotifierItem/menu"
)

// MenuItem is one entry of a dbusmenu layout.
type MenuItem struct {
	ID       int32
	Label    string
	Enabled  bool
	Visible  bool
	Checked  bool // toggle-state 1
	Toggle   string
	Type     string // "separator" or ""
	Children []MenuItem
}

func (m MenuItem) String() string {
	var b strings.Builder
	m.write(&b, 0)
	return b.String()
}

func (m MenuItem) write(b *strings.Builder, depth int) {
	if depth > 0 {
		mark := "  "
		if m.Checked {
			mark = "✓ "
		}
		flags := ""
		if !m.Enabled {
			flags += " (disabled)"
		}
		if !m.Visible {
			flags += " (hidden)"
		}
		label := m.Label
		if m.Type == "separator" {
			label = "────"
		}
		fmt.Fprintf(b, "%s%s[%d] %s%s\n", strings.Repeat("  ", depth-1), mark, m.ID, label, flags)
	}
	for _, c := range m.Children {
		c.write(b, depth+1)
	}
}

// Find returns the first visible item (depth first) whose label contains
// substr.
func (m MenuItem) Find(substr string) (MenuItem, bool) {
	for _, c := range m.Children {
		if c.Visible && c.Type != "separator" && strings.Contains(c.Label, substr) {
			return c, true
		}
		if f, ok := c.Find(substr); ok {
			return f, true
		}
	}
	return MenuItem{}, false
}

// Layout reads the whole menu of the item at service with GetLayout.
func Layout(tb testing.TB, conn *dbus.Conn, service string) MenuItem {
	tb.Helper()
	m, err := layout(conn, service)
	if err != nil {
		tb.Fatalf("traytest: GetLayout: %v", err)
	}
	return m
}

func layout(conn *dbus.Conn, service string) (MenuItem, error) {
	var rev uint32
	var raw struct {
		V0 int32
		V1 map[string]dbus.Variant
		V2 []dbus.Variant
	}
	call := conn.Object(service, MenuPath).Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if err := call.Store(&rev, &raw); err != nil {
		return MenuItem{}, err
	}
	return parse([]any{raw.V0, raw.V1, raw.V2})
}

func parse(v any) (MenuItem, error) {
	parts, ok := v.([]any)
	if !ok || len(parts) != 3 {
		return MenuItem{}, fmt.Errorf("layout node %T", v)
	}
	id, _ := parts[0].(int32)
	props, _ := parts[1].(map[string]dbus.Variant)
	kids, _ := parts[2].([]dbus.Variant)
	m := MenuItem{ID: id, Enabled: true, Visible: true}
	for k, p := range props {
		switch k {
		case "label":
			m.Label, _ = p.Value().(string)
		case "enabled":
			m.Enabled, _ = p.Value().(bool)
		case "visible":
			m.Visible, _ = p.Value().(bool)
		case "toggle-type":
			m.Toggle, _ = p.Value().(string)
		case "toggle-state":
			s, _ := p.Value().(int32)
			m.Checked = s == 1
		case "type":
			m.Type, _ = p.Value().(string)
		}
	}
	for _, k := range kids {
		c, err := parse(k.Value())
		if err != nil {
			return MenuItem{}, err
		}
		m.Children = append(m.Children, c)
	}
	return m, nil
}

// WaitMenu polls the menu until cond holds and returns it; what says what
// cond waits for.
func WaitMenu(tb testing.TB, conn *dbus.Conn, service string, cond func(MenuItem) bool, what string) MenuItem {
	tb.Helper()
	var last MenuItem
	testenv.Eventually(tb, "traytest: the menu "+what, func() error {
		var err error
		if last, err = layout(conn, service); err != nil {
			return err
		}
		if !cond(last) {
			return fmt.Errorf("last menu:\n%s", last)
		}
		return nil
	})
	return last
}

// Click sends a "clicked" event for item id, as a panel does.
func Click(tb testing.TB, conn *dbus.Conn, service string, id int32) {
	tb.Helper()
	call := conn.Object(service, MenuPath).Call("com.canonical.dbusmenu.Event", 0, id, "clicked", dbus.MakeVariant(""), uint32(time.Now().Unix()))
	if call.Err != nil {
		tb.Fatalf("traytest: click %d: %v", id, call.Err)
	}
}

// ClickLast sends a click on menu item id as a panel does when it ignores
// the answer, for an item whose click ends the tray (Quit): the process
// may exit before its reply is on the bus, which is no fault. Whether the
// click took effect is for the caller to check (the process's exit).
func ClickLast(tb testing.TB, conn *dbus.Conn, service string, id int32) {
	tb.Helper()
	call := conn.Object(service, MenuPath).Go("com.canonical.dbusmenu.Event", dbus.FlagNoReplyExpected, nil, id, "clicked", dbus.MakeVariant(""), uint32(time.Now().Unix()))
	if call.Err != nil {
		tb.Fatalf("traytest: click %d: %v", id, call.Err)
	}
}

// Property reads one org.kde.StatusNotifierItem property of the item.
func Property(tb testing.TB, conn *dbus.Conn, service, name string) dbus.Variant {
	tb.Helper()
	v, err := conn.Object(service, ItemPath).GetProperty("org.kde.StatusNotifierItem." + name)
	if err != nil {
		tb.Fatalf("traytest: property %s: %v", name, err)
	}
	return v
}
