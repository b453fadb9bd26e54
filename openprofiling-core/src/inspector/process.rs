//! What `/proc` tells about a process: whether it is Node.js, how it handles SIGUSR1, which pids it
//! has in its pid namespaces, and the TCP ports it listens on.
//!
//! Everything here is blocking file I/O on procfs; callers run it on the blocking pool.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::{Error, Result};

/// Checks that `pid` is a Node.js process, before anything signals it.
///
/// The executable is read from `/proc/PID/exe`; when that link is unreadable (another user's
/// process, or a restricted procfs), from `/proc/PID/comm` and `argv[0]` in `/proc/PID/cmdline`.
/// Returns the executable as known, for logs. A missing process is [`Error::NoSuchProcess`], any
/// other program [`Error::NotNode`].
pub(super) fn check_node(pid: u32) -> Result<String> {
    let dir = format!("/proc/{pid}");
    if let Err(e) = std::fs::metadata(&dir) {
        return Err(if e.kind() == io::ErrorKind::NotFound {
            gone(pid)
        } else {
            Error::io(format!("cannot look at process {pid} in {dir}"), e)
        });
    }
    match std::fs::read_link(format!("{dir}/exe")) {
        Ok(path) => {
            let path = path.to_string_lossy();
            // A binary replaced since the process started (a node upgrade) reads "… (deleted)".
            let path = path.strip_suffix(" (deleted)").unwrap_or(&path).to_owned();
            if is_node_name(basename(&path)) {
                Ok(path)
            } else {
                Err(Error::NotNode {
                    pid,
                    executable: path,
                })
            }
        }
        Err(exe_error) => {
            let comm = read_or_gone(pid, "comm")?;
            let comm = String::from_utf8_lossy(&comm).trim_end().to_owned();
            let cmdline = read_or_gone(pid, "cmdline")?;
            let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
            let argv0 = String::from_utf8_lossy(argv0).into_owned();
            let executable =
                format!("argv[0] {argv0:?}, name {comm:?}; executable unreadable: {exe_error}");
            if is_node_name(&comm) || is_node_name(basename(&argv0)) {
                Ok(executable)
            } else {
                Err(Error::NotNode { pid, executable })
            }
        }
    }
}

/// True for the names the Node.js executable goes by: `node`, `nodejs`, and `node` followed by a
/// version (`node20`, `node-20.11`, `nodev18`), as distributions and version managers name it.
pub(super) fn is_node_name(name: &str) -> bool {
    if name == "node" || name == "nodejs" {
        return true;
    }
    let Some(version) = name.strip_prefix("node") else {
        return false;
    };
    let version = version.strip_prefix(['-', '_']).unwrap_or(version);
    let version = version.strip_prefix('v').unwrap_or(version);
    version.starts_with(|c: char| c.is_ascii_digit())
        && version.chars().all(|c| c.is_ascii_digit() || c == '.')
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The error for a pid that no process holds.
pub(super) fn gone(pid: u32) -> Error {
    Error::NoSuchProcess {
        pid,
        reason: "no such process".to_owned(),
    }
}

fn read_or_gone(pid: u32, file: &str) -> Result<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/{file}")).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound
            || e.raw_os_error() == Some(nix::errno::Errno::ESRCH as i32)
        {
            gone(pid)
        } else {
            Error::io(format!("cannot read /proc/{pid}/{file}"), e)
        }
    })
}

/// What a process does on SIGUSR1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sigusr1 {
    /// A handler is installed: Node's, which starts the inspector.
    Caught,
    /// The signal is ignored: sending it does nothing.
    Ignored,
    /// The default action, which terminates the process.
    Default,
}

/// The state of the process and its SIGUSR1 disposition, from `/proc/PID/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Status {
    /// False for a zombie or dead process.
    pub(super) alive: bool,
    /// What SIGUSR1 does to it.
    pub(super) sigusr1: Sigusr1,
    /// Its pid in each pid namespace it is in, outermost first (`NSpid`); a process in a
    /// container knows itself by the last one.
    pub(super) ns_pids: Vec<u32>,
}

/// Reads `/proc/PID/status`.
pub(super) fn status(pid: u32) -> Result<Status> {
    let text = read_or_gone(pid, "status")?;
    Ok(parse_status(pid, &String::from_utf8_lossy(&text)))
}

fn parse_status(pid: u32, text: &str) -> Status {
    let mut status = Status {
        alive: true,
        sigusr1: Sigusr1::Default,
        ns_pids: vec![pid],
    };
    let usr1_bit = 1u64 << (nix::sys::signal::Signal::SIGUSR1 as i32 - 1);
    let mut caught = false;
    let mut ignored = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "State" => status.alive = !value.starts_with(['Z', 'X']),
            "SigCgt" => caught = u64::from_str_radix(value, 16).is_ok_and(|m| m & usr1_bit != 0),
            "SigIgn" => ignored = u64::from_str_radix(value, 16).is_ok_and(|m| m & usr1_bit != 0),
            "NSpid" => {
                let pids: Vec<u32> = value
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
                if !pids.is_empty() {
                    status.ns_pids = pids;
                }
            }
            _ => {}
        }
    }
    status.sigusr1 = if caught {
        Sigusr1::Caught
    } else if ignored {
        Sigusr1::Ignored
    } else {
        Sigusr1::Default
    };
    status
}

/// A TCP socket in LISTEN state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Listener {
    /// The address it is bound to (possibly unspecified, `0.0.0.0` or `::`).
    pub(super) ip: IpAddr,
    /// Its port.
    pub(super) port: u16,
}

/// The TCP sockets `pid` itself listens on, ordered by port with 9229 (the inspector's default)
/// first: the sockets of `/proc/PID/net/tcp{,6}` in LISTEN state whose inode is one of the
/// `socket:[INODE]` links in `/proc/PID/fd`. An error when the fds cannot be read.
pub(super) fn listening_sockets(pid: u32) -> Result<Vec<Listener>> {
    let fd_dir = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&fd_dir).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            gone(pid)
        } else {
            Error::io(
                format!("cannot list the sockets of process {pid} in {fd_dir}"),
                e,
            )
        }
    })?;
    let inodes: HashSet<u64> = entries
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| socket_inode(&target))
        .collect();
    let mut listeners = Vec::new();
    if !inodes.is_empty() {
        let tcp = read_or_gone(pid, "net/tcp")?;
        // No tcp6 table when IPv6 is off in this kernel or namespace.
        let tcp6 = read_or_gone(pid, "net/tcp6").unwrap_or_default();
        for table in [tcp, tcp6] {
            listeners.extend(
                String::from_utf8_lossy(&table)
                    .lines()
                    .skip(1)
                    .filter_map(parse_tcp_line)
                    .filter(|(_, inode)| inodes.contains(inode))
                    .map(|(listener, _)| listener),
            );
        }
    }
    listeners.sort_by_key(|l| (l.port != 9229, l.port, l.ip.is_ipv6()));
    listeners.dedup();
    Ok(listeners)
}

/// The inode of a `socket:[INODE]` fd link.
fn socket_inode(link: &Path) -> Option<u64> {
    link.to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Parses one row of `/proc/net/tcp` or `tcp6`; `Some` only for a socket in LISTEN state (`0A`),
/// with its inode.
fn parse_tcp_line(line: &str) -> Option<(Listener, u64)> {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(3) != Some(&"0A") {
        return None;
    }
    let (ip, port) = fields.get(1)?.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let inode = fields.get(9)?.parse().ok()?;
    Some((
        Listener {
            ip: parse_proc_ip(ip)?,
            port,
        },
        inode,
    ))
}

/// The kernel prints each 32-bit word of the (network-order) address as a native-endian number.
fn parse_proc_ip(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        let text = hex.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(text, 16).ok()?.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut bytes = [0; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        for name in [
            "node",
            "nodejs",
            "node20",
            "node-20.11.1",
            "nodev18",
            "node_22",
            "node-v22",
        ] {
            assert!(is_node_name(name), "{name}");
        }
        for name in [
            "", "nod", "nodes", "node-red", "nodemon", "node.", "bash", "sleep", "deno", "node-",
        ] {
            assert!(!is_node_name(name), "{name}");
        }
    }

    /// How the kernel prints an address on this machine.
    fn proc_hex(ip: IpAddr) -> String {
        let octets = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        octets
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect()
    }

    #[test]
    fn tcp_rows_are_parsed() {
        for (ip, port) in [
            ("127.0.0.1", 9229_u16),
            ("0.0.0.0", 3000),
            ("::1", 40000),
            ("::", 9229),
            ("fe80::1:2:3:4", 1),
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            let line = format!(
                "   1: {}:{port:04X} {}:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8388 1 0000000000000000 100 0 0 10 0",
                proc_hex(ip),
                proc_hex(ip),
            );
            assert_eq!(
                parse_tcp_line(&line),
                Some((Listener { ip, port }, 8388)),
                "{line}"
            );
            let established = line.replace(" 0A ", " 01 ");
            assert_eq!(parse_tcp_line(&established), None);
        }
        #[cfg(target_endian = "little")]
        assert_eq!(
            parse_tcp_line(
                "0: 0100007F:9C9F 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 8388 1"
            ),
            Some((
                Listener {
                    ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    port: 40095
                },
                8388
            ))
        );
        assert_eq!(
            parse_tcp_line("  sl  local_address rem_address   st tx_queue"),
            None
        );
    }

    #[test]
    fn status_is_parsed() {
        let text = "Name:\tnode\nState:\tS (sleeping)\nNSpid:\t4321\t1\nSigIgn:\t0000000001001000\nSigCgt:\t0000000100004602\n";
        let status = parse_status(4321, text);
        assert_eq!(
            status,
            Status {
                alive: true,
                sigusr1: Sigusr1::Caught,
                ns_pids: vec![4321, 1]
            }
        );
        let text = "State:\tZ (zombie)\nSigIgn:\t0000000000000200\nSigCgt:\t0000000000000000\n";
        let status = parse_status(7, text);
        assert!(!status.alive);
        assert_eq!(status.sigusr1, Sigusr1::Ignored);
        assert_eq!(status.ns_pids, vec![7]);
        assert_eq!(
            parse_status(7, "SigCgt:\t0000000000004002\n").sigusr1,
            Sigusr1::Default
        );
    }

    #[test]
    fn own_listening_socket_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let found = listening_sockets(std::process::id()).expect("read own sockets");
        assert!(
            found.contains(&Listener {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port
            }),
            "{found:?} lacks port {port}"
        );
    }

    #[test]
    fn this_test_binary_is_not_node() {
        match check_node(std::process::id()) {
            Err(Error::NotNode { executable, .. }) => assert!(!executable.is_empty()),
            other => panic!("expected NotNode, got {other:?}"),
        }
    }
}
