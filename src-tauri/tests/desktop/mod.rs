//! The desktop around the app in the end-to-end test: a private D-Bus session bus with a
//! notification daemon (dunst) and a monitor of its calls, an XEmbed tray (trayer), and an X
//! client that does what a window manager and a user do (close a window, click the tray icon,
//! press keys) and takes screenshots. Everything runs under the test's temporary directory and
//! is stopped with it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt as _, EventMask, ImageFormat, MapState, Window,
};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::{tool, wait_until, Proc};

/// The bus, the daemons on it, and the tray.
pub struct Desktop {
    pub bus: String,
    pub monitor_log: PathBuf,
    // Dropped last to first: the tray and daemons before their bus.
    _tray: Proc,
    _dunst: Proc,
    _monitor: Proc,
    _bus: Proc,
}

impl Desktop {
    pub fn start(display: &str, dir: &Path) -> Desktop {
        let socket = dir.join("session-bus");
        let config = dir.join("session-bus.conf");
        // A session bus of its own: anyone of this user may own names and monitor.
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let bus_proc = Proc::spawn(
            Command::new(tool("dbus-daemon", "Debian's dbus-daemon"))
                .arg(format!("--config-file={}", config.display()))
                .arg("--nofork")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "dbus-daemon",
        );
        wait_until("the session bus", || socket.exists());
        let bus = format!("unix:path={}", socket.display());

        let monitor_log = dir.join("notify-calls.log");
        let monitor = Proc::spawn(
            Command::new(tool("dbus-monitor", "Debian's dbus-bin"))
                .args(["--address", &bus])
                .arg("type='method_call',interface='org.freedesktop.Notifications',member='Notify'")
                .stdout(std::fs::File::create(&monitor_log).unwrap())
                .stderr(Stdio::null()),
            "dbus-monitor",
        );

        let dunstrc = dir.join("dunstrc");
        // Notifications stay until the test is done with them; a left click is the default action
        // (the notification's "open").
        std::fs::write(
            &dunstrc,
            "[global]\n    origin = top-right\n    offset = 10x60\n    width = 420\n    \
             font = Sans 10\n    format = \"<b>%s</b>\\n%b\"\n    \
             mouse_left_click = do_action, close_current\n\n[urgency_normal]\n    timeout = 0\n",
        )
        .unwrap();
        let dunst = Proc::spawn(
            Command::new(tool("dunst", "Debian's dunst"))
                .args(["-config", dunstrc.to_str().unwrap()])
                .env("DISPLAY", display)
                .env("DBUS_SESSION_BUS_ADDRESS", &bus)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "dunst",
        );
        let tray = Proc::spawn(
            Command::new(tool("trayer", "Debian's trayer"))
                .args([
                    "--edge",
                    "top",
                    "--align",
                    "right",
                    "--widthtype",
                    "request",
                ])
                .args([
                    "--height",
                    "32",
                    "--SetDockType",
                    "false",
                    "--transparent",
                    "false",
                ])
                .env("DISPLAY", display)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "trayer",
        );
        let desktop = Desktop {
            bus,
            monitor_log,
            _tray: tray,
            _dunst: dunst,
            _monitor: monitor,
            _bus: bus_proc,
        };
        wait_until("dunst on the bus", || {
            Command::new("dbus-send")
                .args([
                    &format!("--bus={}", desktop.bus),
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.Notifications",
                ])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
        });
        desktop
    }

    /// The `Notify` calls seen on the bus so far, as dbus-monitor printed them.
    pub fn notify_calls(&self) -> String {
        std::fs::read_to_string(&self.monitor_log).unwrap_or_default()
    }

    /// Invokes the default action of the newest notification, as a click on it does.
    pub fn click_notification(&self) {
        let out = Command::new(tool("dunstctl", "Debian's dunst"))
            .args(["action", "0"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .expect("running dunstctl");
        assert!(
            out.status.success(),
            "dunstctl action: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An X client on the test's display.
pub struct X {
    conn: RustConnection,
    root: Window,
    width: u16,
    height: u16,
}

pub struct Rect {
    pub x: i16,
    pub y: i16,
    pub w: u16,
    pub h: u16,
}

impl X {
    pub fn connect(display: &str) -> X {
        let (conn, n) = x11rb::connect(Some(display)).expect("connecting to Xvfb");
        let screen = &conn.setup().roots[n];
        let (root, width, height) = (screen.root, screen.width_in_pixels, screen.height_in_pixels);
        X {
            conn,
            root,
            width,
            height,
        }
    }

    fn atom(&self, name: &str) -> u32 {
        self.conn
            .intern_atom(false, name.as_bytes())
            .unwrap()
            .reply()
            .unwrap()
            .atom
    }

    fn text(&self, window: Window, property: u32) -> String {
        self.conn
            .get_property(false, window, property, AtomEnum::ANY, 0, 1024)
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|r| String::from_utf8_lossy(&r.value).into_owned())
            .unwrap_or_default()
    }

    fn children(&self, window: Window) -> Vec<Window> {
        self.conn
            .query_tree(window)
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|t| t.children)
            .unwrap_or_default()
    }

    /// The top-level window titled `title`.
    pub fn window_titled(&self, title: &str) -> Option<Window> {
        let net_name = self.atom("_NET_WM_NAME");
        self.children(self.root).into_iter().find(|&w| {
            self.text(w, net_name) == title || self.text(w, AtomEnum::WM_NAME.into()) == title
        })
    }

    pub fn viewable(&self, window: Window) -> bool {
        self.conn
            .get_window_attributes(window)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|a| a.map_state == MapState::VIEWABLE)
    }

    /// Asks `window` to close, as a window manager's close button does (`WM_DELETE_WINDOW`).
    pub fn close(&self, window: Window) {
        let protocols = self.atom("WM_PROTOCOLS");
        let delete = self.atom("WM_DELETE_WINDOW");
        let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
        self.conn
            .send_event(false, window, EventMask::NO_EVENT, event)
            .unwrap();
        self.conn.flush().unwrap();
    }

    fn rect(&self, window: Window) -> Option<Rect> {
        let g = self.conn.get_geometry(window).ok()?.reply().ok()?;
        let at = self
            .conn
            .translate_coordinates(window, self.root, 0, 0)
            .ok()?
            .reply()
            .ok()?;
        Some(Rect {
            x: at.dst_x,
            y: at.dst_y,
            w: g.width,
            h: g.height,
        })
    }

    /// The app's icon embedded in the tray (Tauri's tray names its window class `tray-icon …`),
    /// as a rectangle on screen. Only icons inside another window (trayer's) count: embedded.
    pub fn tray_icons(&self) -> Vec<Rect> {
        let mut icons = Vec::new();
        let mut stack: Vec<Window> = self
            .children(self.root)
            .into_iter()
            .filter(|&w| self.viewable(w))
            .flat_map(|w| self.children(w))
            .collect();
        while let Some(w) = stack.pop() {
            if self
                .text(w, AtomEnum::WM_CLASS.into())
                .starts_with("tray-icon")
                && self.viewable(w)
            {
                icons.extend(self.rect(w));
            } else {
                stack.extend(self.children(w));
            }
        }
        icons
    }

    /// Mapped top-level windows that are not managed (menus, tooltips, notifications).
    pub fn popups(&self) -> Vec<Window> {
        self.children(self.root)
            .into_iter()
            .filter(|&w| {
                self.conn
                    .get_window_attributes(w)
                    .ok()
                    .and_then(|c| c.reply().ok())
                    .is_some_and(|a| a.map_state == MapState::VIEWABLE && a.override_redirect)
            })
            .collect()
    }

    pub fn click(&self, x: i16, y: i16) {
        let c = &self.conn;
        c.xtest_fake_input(6, 0, 0, self.root, x, y, 0).unwrap(); // MotionNotify
        c.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        c.xtest_fake_input(4, 1, 0, self.root, 0, 0, 0).unwrap(); // ButtonPress 1
        c.xtest_fake_input(5, 1, 0, self.root, 0, 0, 0).unwrap(); // ButtonRelease 1
        c.flush().unwrap();
    }

    /// Presses and releases the key of `keysym` (e.g. `0xff54` Down, `0xff0d` Return).
    pub fn key(&self, keysym: u32) {
        let setup = self.conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let map = self
            .conn
            .get_keyboard_mapping(min, max - min + 1)
            .unwrap()
            .reply()
            .unwrap();
        let per = usize::from(map.keysyms_per_keycode);
        let index = map
            .keysyms
            .iter()
            .position(|&k| k == keysym)
            .unwrap_or_else(|| panic!("no key for keysym {keysym:#x}"));
        let code = min + u8::try_from(index / per).unwrap();
        self.conn
            .xtest_fake_input(2, code, 0, self.root, 0, 0, 0)
            .unwrap();
        self.conn
            .xtest_fake_input(3, code, 0, self.root, 0, 0, 0)
            .unwrap();
        self.conn.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Writes the part of the screen at `r` (clipped to the screen) to `docs/screenshots/NAME.png`.
    pub fn screenshot(&self, r: Rect, name: &str) {
        let x = r.x.max(0);
        let y = r.y.max(0);
        let w = r.w.min(self.width - x as u16);
        let h = r.h.min(self.height - y as u16);
        let image = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, self.root, x, y, w, h, !0)
            .unwrap()
            .reply()
            .unwrap();
        // Depth 24 in 32 bits per pixel, little endian: B, G, R, unused.
        let rgb: Vec<u8> = image
            .data
            .chunks_exact(4)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join(format!("{name}.png"))).unwrap();
        let mut encoder =
            png::Encoder::new(std::io::BufWriter::new(file), u32::from(w), u32::from(h));
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .unwrap()
            .write_image_data(&rgb)
            .unwrap();
    }

    pub fn screen_width(&self) -> u16 {
        self.width
    }
}

/// Waits until `ok` holds, for at most `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
