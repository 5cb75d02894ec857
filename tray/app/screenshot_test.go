package app_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/internal/desktop"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/tray/traytest"
)

// upEdge is an edge link that says it is connected and refuses streams.
type upEdge struct{ refusingEdge }

func (upEdge) State() (bool, time.Time, error) { return true, time.Now(), nil }

// TestScreenshot runs the tray under Xvfb with Debian's xfce4-panel as the
// real tray host, and saves what a person sees into $AIRLOCK_SCREENSHOTS:
// the icon in each state (found on screen by its colour), the panel, and
// the menu opened with a real click (xdotool). `make screenshot` runs it;
// it asserts no pixels beyond finding the icon and seeing the menu open.
func TestScreenshot(t *testing.T) {
	out := os.Getenv("AIRLOCK_SCREENSHOTS")
	if out == "" {
		t.Skip("set AIRLOCK_SCREENSHOTS=DIR (make screenshot)")
	}
	for _, tool := range []string{"Xvfb", "xfce4-panel", "xdotool", "xwd", "/usr/bin/convert", "dbus-update-activation-environment"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (apt-get install xvfb xfce4-panel xdotool x11-apps imagemagick dbus-bin): %v", tool, err)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	bus := traytest.StartBus(t)
	conn := bus.Conn(t)
	env, dir := sandbox(t)
	display := startXvfb(t, "800x480x24")
	env = append(bus.Env(env), "DISPLAY="+display, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "NO_AT_BRIDGE=1")
	run(t, env, "dbus-update-activation-environment", "HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "DISPLAY", "NO_AT_BRIDGE")
	background(t, env, "xfce4-panel", "--disable-wm-check")
	testenv.Eventually(t, "xfce4-panel's StatusNotifierWatcher", func() bool { return traytest.HasOwner(t, conn, desktop.WatcherName) })
	t.Logf("watcher: host registered %v", traytest.WatcherProperty(t, conn, "IsStatusNotifierHostRegistered"))

	empty := filepath.Join(dir, "empty.token") // no token: sign-in needed
	os.WriteFile(empty, nil, 0o600)
	no := false
	cfg := &config.Config{
		Edges: []config.Edge{{Name: "main", Address: "127.0.0.1:7844"}, {Name: "other", Address: "127.0.0.1:7845"}},
		Clusters: []config.Cluster{
			{Name: "prod", App: "k8s.prod.example.com", Edge: "main", Token: "t"},
			{Name: "staging", App: "k8s.staging.example.com", Edge: "main", Token: "t", Autoconnect: &no},
			{Name: "eu-west", App: "k8s.eu.example.com", Edge: "other", Token: "t", Autoconnect: &no},
			{Name: "sandbox", App: "k8s.sandbox.example.com", Edge: "main", TokenFile: empty, Autoconnect: &no},
		},
	}
	d := daemontest.Start(t, cfg, func(o *daemon.Options) {
		o.Core.NewEdge = func(e config.Edge, _ *slog.Logger) core.Edge {
			if e.Name == "main" {
				return upEdge{}
			}
			return refusingEdge{}
		}
	})
	d.WaitState(t, "prod", apitype.StateConnected)
	startAirlock(t, env, "--socket", d.Socket, "--no-start")

	// Find the icon by its colour: the connected badge is green.
	green := color.NRGBA{0x16, 0xa3, 0x4a, 0xff}
	var icon image.Rectangle
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("watcher: host registered %v, items %v", traytest.WatcherProperty(t, conn, "IsStatusNotifierHostRegistered"), traytest.WatcherProperty(t, conn, "RegisteredStatusNotifierItems"))
			save(t, filepath.Join(out, "failure.png"), capture(t, display))
		}
	})
	testenv.Eventually(t, "a green tray icon on the screen", func() bool {
		icon = find(capture(t, display), green)
		return icon.Dx() >= 8
	})
	icon = pad(icon, 2)
	t.Logf("icon at %v", icon)
	shot := func(name string, col color.NRGBA) {
		t.Helper()
		var img image.Image
		testenv.Eventually(t, "the icon to turn "+name, func() bool {
			img = capture(t, display)
			return find(crop(img, icon), col).Dx() >= 4
		})
		save(t, filepath.Join(out, "icon-"+name+".png"), zoom(crop(img, icon), 8))
	}
	shot("connected", green)
	panel := capture(t, display)
	save(t, filepath.Join(out, "panel.png"), crop(panel, image.Rect(0, 0, panel.Bounds().Dx(), icon.Max.Y+8)))

	if _, err := d.Client.Disconnect(context.Background(), "prod"); err != nil {
		t.Fatal(err)
	}
	shot("disconnected", color.NRGBA{0x6b, 0x72, 0x80, 0xff})
	connectAndDial(t, d, "eu-west")
	shot("error", color.NRGBA{0xdc, 0x26, 0x26, 0xff})
	connectAndDial(t, d, "sandbox")
	shot("signin", color.NRGBA{0x25, 0x63, 0xeb, 0xff})
	if _, err := d.Client.Connect(context.Background(), "prod"); err != nil {
		t.Fatal(err)
	}
	d.WaitState(t, "prod", apitype.StateConnected)

	// Open the menu with a real click on the icon.
	before := capture(t, display)
	cx, cy := (icon.Min.X+icon.Max.X)/2, (icon.Min.Y+icon.Max.Y)/2
	run(t, env, "xdotool", "mousemove", strconv.Itoa(cx), strconv.Itoa(cy), "click", "1")
	var menu image.Rectangle
	var after image.Image
	testenv.Eventually(t, fmt.Sprintf("the menu to open after a click at %d,%d", cx, cy), func() bool {
		after = capture(t, display)
		menu = changed(before, after, icon.Max.Y+1)
		return menu.Dx() > 100 && menu.Dy() > 150
	})
	// Let it settle (submenus and labels arrive in a second layout).
	settle := time.Now().Add(3 * time.Second)
	for prev := after; time.Now().Before(settle); {
		time.Sleep(300 * time.Millisecond)
		after = capture(t, display)
		if changed(prev, after, 0).Empty() {
			break
		}
		prev = after
	}
	menu = changed(before, after, icon.Max.Y+1)
	save(t, filepath.Join(out, "screen-menu.png"), after)
	save(t, filepath.Join(out, "menu.png"), crop(after, pad(menu, 4).Intersect(after.Bounds())))
	run(t, env, "xdotool", "key", "Escape")
	t.Logf("saved the icon, the panel and the menu in %s", out)
}

// connectAndDial connects a cluster and opens one stream through it, so
// the edge's refusal (or the missing token) shows in its state.
func connectAndDial(t *testing.T, d *daemontest.Daemon, name string) {
	t.Helper()
	if _, err := d.Client.Connect(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	addr, user, pass := proxyParts(t, d.ProxyURL(t, name))
	sockstest.Dial(context.Background(), addr, user, pass, "kubernetes.default.svc:443")
	d.WaitState(t, name, apitype.StateError)
}

// startXvfb starts an X server on a free display and returns ":N". It
// retries when the server dies at once (another one took the display).
func startXvfb(t *testing.T, screen string) string {
	t.Helper()
	var lastErr string
	for attempt := 0; attempt < 5; attempt++ {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", screen, "-nolisten", "tcp", "-noreset")
		cmd.ExtraFiles = []*os.File{w}
		cmd.Stderr = &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		line := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(r, 64)) // Xvfb closes fd 3 after writing
			line <- strings.TrimSpace(string(b))
			r.Close()
		}()
		var n string
		select {
		case n = <-line:
		case <-time.After(20 * time.Second):
		}
		// The display is usable once xdotool can talk to it.
		ok := n != ""
		if ok {
			probe := exec.Command("xdotool", "getdisplaygeometry")
			probe.Env = append(os.Environ(), "DISPLAY=:"+n)
			out, err := probe.CombinedOutput()
			ok = err == nil
			lastErr = fmt.Sprintf("display :%s: %v %s", n, err, out)
		}
		if ok {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return ":" + n
		}
		cmd.Process.Kill()
		<-exited
		lastErr += " Xvfb: " + log.String()
	}
	t.Fatalf("Xvfb did not start: %s", lastErr)
	return ""
}

func run(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// background runs a program until the test ends.
func background(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, log.String())
		}
	})
}

// capture takes a screenshot of the whole X screen.
func capture(t *testing.T, display string) image.Image {
	t.Helper()
	cmd := exec.Command("sh", "-c", "xwd -root -silent -display "+display+" | /usr/bin/convert xwd:- png:-")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("screenshot: %v\n%s", err, errb.String())
	}
	img, err := png.Decode(&out)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return img
}

// find returns the bounding box of the pixels close to c.
func find(img image.Image, c color.NRGBA) image.Rectangle {
	var box image.Rectangle
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if near(img.At(x, y), c, 40) {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}

func near(a color.Color, c color.NRGBA, tol int) bool {
	p := color.NRGBAModel.Convert(a).(color.NRGBA)
	d := func(x, y uint8) int {
		if x > y {
			return int(x - y)
		}
		return int(y - x)
	}
	return d(p.R, c.R)+d(p.G, c.G)+d(p.B, c.B) <= tol
}

// changed returns the bounding box of the pixels that differ between a and
// b at or below row minY.
func changed(a, b image.Image, minY int) image.Rectangle {
	var box image.Rectangle
	r := a.Bounds().Intersect(b.Bounds())
	for y := max(r.Min.Y, minY); y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}

func pad(r image.Rectangle, n int) image.Rectangle {
	return image.Rect(max(r.Min.X-n, 0), max(r.Min.Y-n, 0), r.Max.X+n, r.Max.Y+n)
}

func crop(img image.Image, r image.Rectangle) image.Image {
	out := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(out, out.Bounds(), img, r.Min, draw.Src)
	return out
}

// zoom scales img up by n with nearest-neighbour, so a 22-pixel icon can
// be looked at.
func zoom(img image.Image, n int) image.Image {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx()*n, b.Dy()*n))
	for y := 0; y < out.Bounds().Dy(); y++ {
		for x := 0; x < out.Bounds().Dx(); x++ {
			out.Set(x, y, img.At(b.Min.X+x/n, b.Min.Y+y/n))
		}
	}
	return out
}

func save(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
