//! The shipped `eci-guard serve` binary as a child process: its log lines as they arrive, its
//! CPU time, signals, and a request whose answer shows whether ECI is on. Used by the CLI's tests
//! and by the desktop app's tests of its attached mode.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One log line.
#[derive(Debug, Clone)]
pub struct Line {
    pub text: String,
}

/// A running `eci-guard serve`; killed when dropped.
pub struct Serve {
    pub child: Child,
    pub listen: PathBuf,
    lines: mpsc::Receiver<Line>,
    seen: Vec<Line>,
}

impl Serve {
    /// Starts `program ARGS` (the binary, or a wrapper that ends in it) with `RUST_LOG=info`
    /// and waits up to 20 s for it to log `listening`.
    pub fn start(mut cmd: Command, listen: PathBuf) -> Serve {
        cmd.env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars() {
            if key.starts_with("ECI_GUARD_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd.spawn().expect("eci-guard serve starts");
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for text in BufReader::new(err).lines().map_while(Result::ok) {
                let line = Line {
                    text: strip_ansi(&text),
                };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut serve = Serve {
            child,
            listen,
            lines,
            seen: Vec::new(),
        };
        serve.wait_for(Duration::from_secs(20), |l| l.contains(" listening"));
        serve
    }

    /// The first line from now (or already seen and not yet waited for) that `want` accepts,
    /// within `timeout`.
    pub fn wait_for(&mut self, timeout: Duration, want: impl Fn(&str) -> bool) -> Line {
        if let Some(i) = self.seen.iter().position(|l| want(&l.text)) {
            return self.seen.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line.text) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no such line within {timeout:?}; lines so far:\n{}",
                    self.seen
                        .iter()
                        .map(|l| l.text.as_str())
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
    }

    /// Every line that arrives within `window`, and those seen but not yet waited for.
    pub fn lines_for(&mut self, window: Duration) -> Vec<Line> {
        let deadline = Instant::now() + window;
        let mut all = std::mem::take(&mut self.seen);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            all.push(line);
        }
        all
    }

    /// User plus system CPU time the process has used, in clock ticks of 10 ms (Linux reports
    /// `/proc` times in USER_HZ, 100 on every architecture it runs on).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// Sends `signal` to the enforcer.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A create whose body names `HostConfig.Binds` twice under Go's case folding: the enforcer
/// with ECI on refuses it (400) without asking the engine; with ECI off it passes through and
/// the engine answers 404 for the image, which does not exist. Nothing is created either way.
pub fn probe(socket: &Path) -> u16 {
    let body = r#"{"Image":"eci-none/absent:1","HostConfig":{"Binds":[],"binds":[]}}"#;
    let request = format!(
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `text` without terminal colour sequences.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
