//! Faults an operator meets, injected into real processes: the target SIGKILLed while V8
//! builds the snapshot and while its chunks stream, a destination that fills up, an inspector
//! that accepts connections and never answers, a pid that does not exist. Each time the
//! command ends within bounded time, with a failing exit code and the cause on stderr, and
//! nothing is left under a final file name (nor a temporary file).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{openprofiling, text};

/// Runs the command to its end, at most `limit` (a hang fails the test instead of holding it).
fn openprofiling_bounded(args: &[&str], cwd: &Path, limit: Duration) -> (ExitStatus, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_openprofiling"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, _, stderr) = wait_bounded(child, limit);
    (status, stderr)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The temporary file the file exporter writes to, once it exists, and its size.
fn partial_in(dir: &Path) -> Option<(PathBuf, u64)> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries.filter_map(Result::ok).find_map(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        let size = entry.metadata().ok()?.len();
        name.ends_with(".partial").then(|| (entry.path(), size))
    })
}

/// A Node process with its inspector on a free port and about `megabytes` of live objects.
struct Node {
    child: Child,
    ws_url: String,
}

impl Node {
    fn start(megabytes: usize) -> Self {
        // About 100 bytes per entry: an object and its own string.
        let count = megabytes * 10_000;
        let program = format!(
            "globalThis.kept = []; for (let i = 0; i < {count}; i++) kept.push({{ i, s: 'item-' + i }});\n\
             setInterval(() => {{}}, 1000); console.log('ready');"
        );
        let mut child = Command::new("node")
            .args(["--inspect=127.0.0.1:0", "-e", &program])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node must be on the PATH");
        let (urls, url) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(ws) = line.strip_prefix("Debugger listening on ") {
                    let _ = urls.send(ws.trim().to_owned());
                }
            }
        });
        let ws_url = url
            .recv_timeout(Duration::from_secs(60))
            .expect("node announces its inspector");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while line.trim() != "ready" {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "node exited early"
            );
        }
        std::thread::spawn(move || for _ in stdout.lines().map_while(Result::ok) {});
        Self { child, ws_url }
    }

    fn kill(&mut self) {
        // SIGKILL: the process dies on the spot, its sockets reset by the kernel.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit, at most `limit`; its status and output.
fn wait_bounded(mut child: Child, limit: Duration) -> (ExitStatus, String, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            return (status, text(&output.stdout), text(&output.stderr));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "openprofiling still running {limit:?} after the fault; stdout: {}; stderr: {}",
                text(&output.stdout),
                text(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `openprofiling snapshot --ws URL --to DIR EXTRA…` against `node`, kills node once
/// `kill_when(partial file size)` holds, and checks the aftermath. Returns the partial size
/// at the kill.
fn kill_target_during_snapshot(extra: &[&str], kill_when: impl Fn(u64) -> bool) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut node = Node::start(250);
    let mut args = vec!["snapshot", "--ws", &node.ws_url, "--to", "out"];
    args.extend_from_slice(extra);
    let command = Command::new(env!("CARGO_BIN_EXE_openprofiling"))
        .args(&args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let waiting = Instant::now();
    let size_at_kill = loop {
        assert!(
            waiting.elapsed() < Duration::from_secs(120),
            "the snapshot never reached the moment to kill; files: {:?}",
            names(&out)
        );
        if let Some((_, size)) = partial_in(&out) {
            if kill_when(size) {
                node.kill();
                break size;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let killed = Instant::now();
    let (status, stdout, stderr) = wait_bounded(command, Duration::from_secs(30));
    let took = killed.elapsed();
    eprintln!("killed at {size_at_kill} bytes written; the command ended {took:?} later");
    assert!(
        took < Duration::from_secs(10),
        "ended {took:?} after the kill"
    );
    assert!(!status.success(), "stdout: {stdout}; stderr: {stderr}");
    assert!(
        stderr.contains("the heap snapshot failed") && stderr.contains("closed"),
        "the cause is named: {stderr}"
    );
    assert!(stdout.contains("not saved to"), "{stdout}");
    // Neither a final name nor the temporary file.
    assert_eq!(names(&out), Vec::<String>::new(), "stdout: {stdout}");
    size_at_kill
}

#[test]
fn the_target_killed_while_v8_builds_the_snapshot_fails_it_and_leaves_nothing() {
    // Without the forced GC, the time between opening the file and the first chunk is V8
    // building the snapshot: kill once the file has existed, empty, for a moment.
    let since = std::cell::Cell::new(None::<Instant>);
    let size = kill_target_during_snapshot(&["--no-gc"], |size| {
        let first_seen = since.get().unwrap_or_else(Instant::now);
        since.set(Some(first_seen));
        size == 0 && first_seen.elapsed() > Duration::from_millis(300)
    });
    assert_eq!(size, 0, "killed before any chunk came");
}

#[test]
fn the_target_killed_while_chunks_stream_fails_it_and_leaves_nothing() {
    let size = kill_target_during_snapshot(&[], |size| size > 4 << 20);
    assert!(size > 4 << 20);
}

/// A tiny tmpfs, unmounted on drop; `None` where mounting is not allowed (not root).
struct TinyFs {
    path: PathBuf,
}

impl TinyFs {
    fn mount(path: PathBuf, size: &str) -> Option<Self> {
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(Self { path })
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn a_destination_that_fills_up_fails_alone_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A test that cannot run must fail, not pass unseen: the test command runs as root on
    // its machines, as `.ci/run` does.
    let tiny = TinyFs::mount(dir.path().join("tiny"), "1m").expect(
        "cannot mount a 1 MiB tmpfs: this test needs root (`mount -t tmpfs`) to fill a disk",
    );
    let program = "globalThis.kept = Array.from({length: 200000}, (_, i) => ({ i, s: 'x' + i })); setInterval(() => {}, 1000);";
    let output = openprofiling(
        &[
            "snapshot", "--to", "tiny", "--to", "good", "--", "node", "-e", program,
        ],
        dir.path(),
    );
    let stdout = text(&output.stdout);
    assert!(!output.status.success(), "the full one fails the exit code");
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("not saved to") && lines[0].contains("No space left on device"),
        "the full destination is named with the cause: {stdout}"
    );
    assert!(lines[1].starts_with("saved heap snapshot"), "{stdout}");
    assert_eq!(
        names(&tiny.path),
        Vec::<String>::new(),
        "nothing left on the full disk"
    );
    let good = names(&dir.path().join("good"));
    assert_eq!(good.len(), 1, "{good:?}");
    assert!(good[0].ends_with(".heapsnapshot"), "{good:?}");
    let size = std::fs::metadata(dir.path().join("good").join(&good[0]))
        .unwrap()
        .len();
    assert!(
        size > 1 << 20,
        "the snapshot is larger than the tiny disk: {size}"
    );
}

/// A TCP listener that accepts connections and never answers; stops with the test.
fn silent_listener() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming() {
            held.push(socket);
        }
    });
    address
}

#[test]
fn an_inspector_that_never_answers_is_given_up_on_with_the_timeout_stated() {
    let dir = tempfile::tempdir().unwrap();
    let address = silent_listener().to_string();

    let started = Instant::now();
    let limit = Duration::from_secs(60);
    let (status, stderr) = openprofiling_bounded(
        &["snapshot", "--inspect", &address, "--to", "out"],
        dir.path(),
        limit,
    );
    let took = started.elapsed();
    assert!(!status.success());
    assert!(took < Duration::from_secs(15), "{took:?}: {stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(
        stderr.contains("within 5s"),
        "the timeout is stated: {stderr}"
    );

    // By WebSocket URL: the HTTP side is best effort, the handshake has its own timeout.
    let started = Instant::now();
    let url = format!("ws://{address}/silent");
    let (status, stderr) = openprofiling_bounded(
        &["snapshot", "--ws", &url, "--to", "out"],
        dir.path(),
        limit,
    );
    let took = started.elapsed();
    assert!(!status.success());
    assert!(took < Duration::from_secs(30), "{took:?}: {stderr}");
    assert!(stderr.contains(&url), "{stderr}");
    assert!(
        stderr.contains("within 10s"),
        "the timeout is stated: {stderr}"
    );
    assert!(names(&dir.path().join("out")).is_empty());
}

#[test]
fn a_pid_that_does_not_exist_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id().to_string();
    gone.wait().unwrap();
    let started = Instant::now();
    let output = openprofiling(&["snapshot", "--pid", &pid, "--to", "out"], dir.path());
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(stderr.contains(&format!("pid {pid}")), "{stderr}");
    assert!(names(&dir.path().join("out")).is_empty());
}
