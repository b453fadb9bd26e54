//! How much memory a process may still take: its cgroup's limit less its usage (the tightest
//! of its cgroup and every parent), or the machine's available memory without a limit.

use std::path::{Path, PathBuf};

use super::estimate::Headroom;

/// Where the system's files are read from: `/` normally, a fake tree in tests.
#[derive(Debug, Clone)]
pub(crate) struct SystemRoot(PathBuf);

impl Default for SystemRoot {
    fn default() -> Self {
        Self(PathBuf::from("/"))
    }
}

impl SystemRoot {
    #[cfg(test)]
    pub(crate) fn at(path: &Path) -> Self {
        Self(path.to_owned())
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative.trim_start_matches('/'))
    }

    /// The headroom of process `pid` (the target, when known) or of the machine.
    pub(crate) fn headroom(&self, pid: Option<u32>) -> Option<Headroom> {
        pid.and_then(|pid| self.cgroup_headroom(pid))
            .or_else(|| self.machine_headroom())
    }

    /// The tightest `memory.max − memory.current` from the process's cgroup (v2) up to the
    /// root, looked for under our `/sys/fs/cgroup` and under the process's own root (a target
    /// in another container). `None` when no level sets a limit or nothing can be read.
    fn cgroup_headroom(&self, pid: u32) -> Option<Headroom> {
        let membership = std::fs::read_to_string(self.path(&format!("proc/{pid}/cgroup"))).ok()?;
        let cgroup = membership
            .lines()
            .find_map(|line| line.strip_prefix("0::"))?
            .trim();
        let mounts = [
            (
                self.path("sys/fs/cgroup"),
                cgroup.trim_start_matches('/').to_owned(),
            ),
            // Inside its own container, the process sees its cgroup as the root.
            (
                self.path(&format!("proc/{pid}/root/sys/fs/cgroup")),
                String::new(),
            ),
        ];
        mounts
            .iter()
            .find_map(|(mount, relative)| tightest_limit(mount, relative))
    }

    /// `MemAvailable` from `/proc/meminfo`.
    fn machine_headroom(&self) -> Option<Headroom> {
        let meminfo = std::fs::read_to_string(self.path("proc/meminfo")).ok()?;
        let kib: u64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemAvailable:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(Headroom {
            available: kib.saturating_mul(1024),
            source: "the machine's available memory, no cgroup limit found".to_owned(),
        })
    }
}

/// Walks from `mount/relative` up to `mount`, keeping the smallest headroom of the levels
/// that set a limit.
fn tightest_limit(mount: &Path, relative: &str) -> Option<Headroom> {
    let mut dir = mount.join(relative);
    let mut tightest: Option<Headroom> = None;
    loop {
        if let Some(available) = level_headroom(&dir) {
            if tightest.as_ref().is_none_or(|t| available < t.available) {
                tightest = Some(Headroom {
                    available,
                    source: format!("cgroup {}", dir.display()),
                });
            }
        }
        if dir == mount || !dir.pop() || !dir.starts_with(mount) {
            break;
        }
    }
    tightest
}

/// `memory.max − memory.current` of one cgroup directory; `None` without a limit.
fn level_headroom(dir: &Path) -> Option<u64> {
    let max = std::fs::read_to_string(dir.join("memory.max")).ok()?;
    let max: u64 = max.trim().parse().ok()?; // "max" means no limit
    let current: u64 = std::fs::read_to_string(dir.join("memory.current"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(max.saturating_sub(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn write(root: &Path, relative: &str, text: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    fn machine(root: &Path, available_kib: u64) {
        write(
            root,
            "proc/meminfo",
            &format!("MemTotal: 99999999 kB\nMemFree: 1 kB\nMemAvailable: {available_kib} kB\n"),
        );
    }

    #[test]
    fn the_tightest_level_of_the_cgroup_tree_wins() {
        let root = tempfile::tempdir().expect("tempdir");
        let root = root.path();
        machine(root, 64 * 1024 * 1024);
        write(root, "proc/7/cgroup", "0::/kubepods/pod1/app\n");
        let cg = "sys/fs/cgroup/kubepods";
        write(
            root,
            &format!("{cg}/memory.max"),
            &format!("{}\n", 8192 * MIB),
        );
        write(
            root,
            &format!("{cg}/memory.current"),
            &format!("{}\n", 1024 * MIB),
        );
        write(
            root,
            &format!("{cg}/pod1/memory.max"),
            &format!("{}\n", 1024 * MIB),
        );
        write(
            root,
            &format!("{cg}/pod1/memory.current"),
            &format!("{}\n", 700 * MIB),
        );
        write(root, &format!("{cg}/pod1/app/memory.max"), "max\n");
        write(
            root,
            &format!("{cg}/pod1/app/memory.current"),
            &format!("{}\n", 600 * MIB),
        );

        let headroom = SystemRoot::at(root).headroom(Some(7)).expect("a limit");
        assert_eq!(headroom.available, 324 * MIB);
        assert!(
            headroom.source.ends_with("kubepods/pod1"),
            "{}",
            headroom.source
        );
    }

    #[test]
    fn a_target_in_another_container_is_read_through_its_root() {
        let root = tempfile::tempdir().expect("tempdir");
        let root = root.path();
        machine(root, 64 * 1024 * 1024);
        write(root, "proc/9/cgroup", "0::/\n");
        write(
            root,
            "proc/9/root/sys/fs/cgroup/memory.max",
            &format!("{}\n", 512 * MIB),
        );
        write(
            root,
            "proc/9/root/sys/fs/cgroup/memory.current",
            &format!("{}\n", 500 * MIB),
        );
        let headroom = SystemRoot::at(root).headroom(Some(9)).expect("a limit");
        assert_eq!(headroom.available, 12 * MIB);
    }

    #[test]
    fn without_a_limit_or_a_pid_the_machine_s_available_memory_counts() {
        let root = tempfile::tempdir().expect("tempdir");
        let root = root.path();
        machine(root, 2 * 1024 * 1024);
        write(root, "proc/5/cgroup", "0::/user.slice\n");
        write(root, "sys/fs/cgroup/user.slice/memory.max", "max\n");
        write(root, "sys/fs/cgroup/user.slice/memory.current", "12345\n");
        for pid in [Some(5), None, Some(404)] {
            let headroom = SystemRoot::at(root).headroom(pid).expect("meminfo");
            assert_eq!(headroom.available, 2048 * MIB, "{pid:?}");
            assert!(headroom.source.contains("machine"), "{}", headroom.source);
        }
    }

    #[test]
    fn garbage_in_the_files_is_no_limit_not_a_panic() {
        let root = tempfile::tempdir().expect("tempdir");
        let root = root.path();
        write(root, "proc/3/cgroup", "garbage\n\0\n");
        write(root, "proc/meminfo", "MemAvailable: lots kB\n");
        assert_eq!(SystemRoot::at(root).headroom(Some(3)), None);
    }
}
