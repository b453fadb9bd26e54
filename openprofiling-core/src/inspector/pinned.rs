//! A process held by a pidfd, so that the signal sent after the checks reaches the process
//! that was checked, never another one that took its pid in between.
//!
//! Discovery by pid checks `/proc/PID` (is it Node.js, does it handle SIGUSR1) and then, up to
//! a few seconds later, sends SIGUSR1. If the checked process exits meanwhile and the kernel
//! hands its pid to a new process, a plain `kill(pid, SIGUSR1)` would signal that newcomer, and
//! SIGUSR1 terminates most programs. A pidfd, opened before the checks, always designates the
//! process it was opened for: signalling through it fails with `ESRCH` once that process has
//! exited, whoever holds the pid now. And a process still alive when it is signalled held its
//! pid for the whole time, so the checks read its own `/proc` entry.
//!
//! Without pidfds (Linux before 5.3, or a seccomp profile refusing the calls) it falls back to
//! `kill`, with the race, and says so in a debug log.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use tracing::debug;

/// A process by pid, pinned by a pidfd where the kernel offers one.
#[derive(Debug)]
pub(super) struct PinnedProcess {
    pid: i32,
    #[cfg(target_os = "linux")]
    pidfd: Option<std::os::fd::OwnedFd>,
}

impl PinnedProcess {
    /// Pins the process that holds `pid` now. `Err(ESRCH)` when there is none.
    pub(super) fn open(pid: i32) -> Result<PinnedProcess, Errno> {
        if pid <= 0 {
            return Err(Errno::ESRCH);
        }
        #[cfg(target_os = "linux")]
        {
            let pidfd = match rustix::process::Pid::from_raw(pid) {
                None => return Err(Errno::ESRCH),
                Some(raw) => {
                    match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
                        Ok(pidfd) => Some(pidfd),
                        Err(errno) if errno == rustix::io::Errno::SRCH => {
                            return Err(Errno::ESRCH);
                        }
                        Err(errno) => {
                            debug!(
                                pid,
                                %errno,
                                "No pidfd for the process; it will be signalled by pid."
                            );
                            None
                        }
                    }
                }
            };
            Ok(PinnedProcess { pid, pidfd })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(PinnedProcess { pid })
        }
    }

    /// Sends `signal` to the pinned process. `Err(ESRCH)` when it has exited, even if its pid
    /// now belongs to another process.
    pub(super) fn signal(&self, signal: Signal) -> Result<(), Errno> {
        #[cfg(target_os = "linux")]
        if let Some(pidfd) = &self.pidfd {
            let signal =
                rustix::process::Signal::from_named_raw(signal as i32).ok_or(Errno::EINVAL)?;
            return rustix::process::pidfd_send_signal(pidfd, signal)
                .map_err(|errno| Errno::from_raw(errno.raw_os_error()));
        }
        kill(nix::unistd::Pid::from_raw(self.pid), signal)
    }

    /// Whether a pidfd pins the process (false: signals go by pid, with the reuse race).
    #[cfg(test)]
    pub(super) fn is_pinned(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.pidfd.is_some()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_process_that_exited_is_not_signalled_even_if_its_pid_is_reused() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = i32::try_from(child.id()).expect("pid fits");
        let pinned = PinnedProcess::open(pid).expect("pin the child");
        assert!(pinned.is_pinned(), "pidfds are available on this kernel");
        pinned
            .signal(Signal::SIGTERM)
            .expect("signal the live child");
        child.wait().expect("reap the child");
        // The pid is free now (and may be reused): the pidfd still designates the old process.
        assert_eq!(pinned.signal(Signal::SIGUSR1), Err(Errno::ESRCH));
    }

    #[test]
    fn no_process_under_a_pid_is_esrch() {
        assert_eq!(PinnedProcess::open(0).map(|_| ()), Err(Errno::ESRCH));
        assert_eq!(PinnedProcess::open(-5).map(|_| ()), Err(Errno::ESRCH));
    }
}
