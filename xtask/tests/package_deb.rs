//! The `.deb` (issue 14, point 5): `cargo xtask package`'s bundling, on the dev build of the
//! binaries, unpacked into a scratch root with `dpkg -x` (nothing installed on the host): the
//! files are where Debian expects them, the unit and the polkit action name a binary the package
//! installs, and the installed binaries run.

use std::path::Path;
use std::process::Command;

use xtask::package::{self, Profile, APP_BINARY, CLI_BINARY, EXTRA_FILES};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 == 0o111)
}

#[test]
fn the_deb_installs_the_app_the_cli_the_unit_and_the_polkit_action() {
    let deb = package::build_deb(Profile::Dev).expect("cargo xtask package's bundling");
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("eci-guard_0.1.0_") && name.ends_with(".deb"),
        "{name}"
    );

    let info = run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    for field in [
        "Package: eci-guard",
        "Version: 0.1.0",
        "Depends: libwebkit2gtk-4.1-0, libgtk-3-0",
        "Recommends: pkexec",
        "Section: admin",
    ] {
        assert!(info.contains(field), "control has no {field:?}:\n{info}");
    }
    assert!(info.contains(" postinst"), "no postinst:\n{info}");

    let scratch = tempfile::Builder::new()
        .prefix("eci-deb-")
        .tempdir()
        .unwrap();
    let root = scratch.path();
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(root));

    // The binaries, executable, in /usr/bin.
    for bin in [APP_BINARY, CLI_BINARY] {
        assert!(
            is_executable(&root.join("usr/bin").join(bin)),
            "/usr/bin/{bin}"
        );
    }
    // The extra files, byte for byte what the workspace holds.
    let workspace = package::workspace_root();
    for (to, from) in EXTRA_FILES {
        let installed = std::fs::read(root.join(to)).unwrap_or_else(|e| panic!("/{to}: {e}"));
        assert_eq!(
            installed,
            std::fs::read(workspace.join(from)).unwrap(),
            "/{to}"
        );
    }
    // The unit runs, and polkit lets users run, a binary the package installs.
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/eci-guard.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/eci-guard serve"),
        "{unit}"
    );
    let policy = std::fs::read_to_string(
        root.join("usr/share/polkit-1/actions/com.eci-guard.write-admin-settings.policy"),
    )
    .unwrap();
    assert!(policy.contains(
        r#"<annotate key="org.freedesktop.policykit.exec.path">/usr/bin/eci-guard</annotate>"#
    ));
    assert!(policy.contains("<allow_active>auth_admin_keep</allow_active>"));
    // The desktop entry starts the app with its icon; the icons are in the hicolor theme.
    let entry = std::fs::read_to_string(root.join("usr/share/applications/eci-guard.desktop"))
        .expect("desktop entry");
    for line in [
        "Exec=eci-guard-desktop",
        "Icon=eci-guard-desktop",
        "Name=eci-guard",
        "Type=Application",
    ] {
        assert!(entry.lines().any(|l| l == line), "no {line:?} in:\n{entry}");
    }
    for size in ["32x32", "128x128"] {
        let icon = root.join(format!(
            "usr/share/icons/hicolor/{size}/apps/eci-guard-desktop.png"
        ));
        let bytes = std::fs::read(&icon).unwrap_or_else(|e| panic!("{}: {e}", icon.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", icon.display());
    }

    // The installed binaries run (no display needed for --version).
    let cli = run(Command::new(root.join("usr/bin/eci-guard")).arg("--version"));
    assert_eq!(cli.trim(), "eci-guard 0.1.0");
    let app = run(Command::new(root.join("usr/bin/eci-guard-desktop"))
        .arg("--version")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY"));
    assert_eq!(app.trim(), "eci-guard-desktop 0.1.0");
    let help = run(Command::new(root.join("usr/bin/eci-guard")).args(["serve", "--help"]));
    assert!(help.contains("--listen"), "{help}");
}
