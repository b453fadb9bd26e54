//! [`Signal`]: a signal the trigger may catch, parsed from a name or a number.

use std::fmt;
use std::str::FromStr;

use signal_hook::consts::{FORBIDDEN, signal as sig};
use signal_hook::low_level::signal_name;

use crate::{Error, Result};

/// One past the highest signal number signal-hook can register (it panics beyond).
const LIMIT: i32 = 128;

/// The usual choices, listed first in error messages.
const USUAL: [Signal; 7] = [
    Signal::USR1,
    Signal::USR2,
    Signal::HUP,
    Signal::INT,
    Signal::TERM,
    Signal::QUIT,
    Signal::WINCH,
];

/// A Unix signal that can be caught: never `SIGKILL`, `SIGSTOP`, nor a fault signal
/// (`SIGSEGV`, `SIGILL`, `SIGFPE`, `SIGBUS`).
///
/// Parsed from a name in any case, with or without the `SIG` prefix (`SIGUSR2`, `usr2`), or from
/// a number (`12`); displayed by its name (`SIGUSR2`), or its number when it has no name
/// (real-time signals).
///
/// ```
/// use openprofiling_trigger_signal::Signal;
///
/// let signal: Signal = "usr2".parse()?;
/// assert_eq!(signal, Signal::USR2);
/// assert_eq!(signal.to_string(), "SIGUSR2");
/// assert!("SIGKILL".parse::<Signal>().is_err());
/// # Ok::<(), openprofiling_trigger_signal::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

impl Signal {
    /// `SIGUSR1`.
    pub const USR1: Self = Self(sig::SIGUSR1);
    /// `SIGUSR2`, the default.
    pub const USR2: Self = Self(sig::SIGUSR2);
    /// `SIGHUP`.
    pub const HUP: Self = Self(sig::SIGHUP);
    /// `SIGINT` (Ctrl-C; caught, it no longer stops the process).
    pub const INT: Self = Self(sig::SIGINT);
    /// `SIGTERM` (caught, it no longer stops the process).
    pub const TERM: Self = Self(sig::SIGTERM);
    /// `SIGQUIT` (caught, it no longer stops the process).
    pub const QUIT: Self = Self(sig::SIGQUIT);
    /// `SIGWINCH`.
    pub const WINCH: Self = Self(sig::SIGWINCH);

    /// The signal numbered `number`, if it may be caught.
    pub fn from_number(number: i32) -> Result<Self> {
        if !(1..LIMIT).contains(&number) {
            return Err(Error::OutOfRange {
                number: number.into(),
                max: LIMIT - 1,
            });
        }
        if let Some(reason) = uncatchable(number) {
            return Err(Error::Uncatchable {
                signal: Self(number).to_string(),
                reason,
            });
        }
        Ok(Self(number))
    }

    /// The signal's number on this system.
    pub fn number(self) -> i32 {
        self.0
    }

    /// The signal's name (`SIGUSR2`), when it has one.
    pub fn name(self) -> Option<&'static str> {
        signal_name(self.0)
    }

    /// The names accepted, the usual choices first.
    pub fn usable_names() -> Vec<&'static str> {
        let rest = (1..LIMIT)
            .filter(|number| uncatchable(*number).is_none())
            .map(Self)
            .filter(|signal| !USUAL.contains(signal));
        USUAL
            .into_iter()
            .chain(rest)
            .filter_map(Self::name)
            .collect()
    }
}

/// Why `number` must not be caught, if it must not.
fn uncatchable(number: i32) -> Option<&'static str> {
    if number == sig::SIGKILL || number == sig::SIGSTOP {
        Some("the system never lets a process catch it")
    } else if number == sig::SIGBUS || FORBIDDEN.contains(&number) {
        Some("it reports a crash of the agent itself, and catching it would hide the crash")
    } else {
        None
    }
}

impl FromStr for Signal {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<i32>() {
                Ok(number) => Self::from_number(number),
                Err(_) => Err(Error::OutOfRange {
                    number: text.parse().unwrap_or(i64::MAX),
                    max: LIMIT - 1,
                }),
            };
        }
        let upper = text.to_ascii_uppercase();
        let name = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        match (1..LIMIT).find(|number| signal_name(*number) == Some(name.as_str())) {
            Some(number) => Self::from_number(number),
            None => Err(Error::UnknownSignal {
                given: text.to_owned(),
                usable: Self::usable_names(),
            }),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Default for Signal {
    /// `SIGUSR2`.
    fn default() -> Self {
        Self::USR2
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_parse_in_any_case_with_or_without_the_prefix() {
        for text in ["SIGUSR2", "USR2", "sigusr2", "usr2", "SigUsr2", " SIGUSR2 "] {
            assert_eq!(text.parse::<Signal>().unwrap(), Signal::USR2, "{text:?}");
        }
        assert_eq!("hup".parse::<Signal>().unwrap(), Signal::HUP);
        assert_eq!("SIGWINCH".parse::<Signal>().unwrap(), Signal::WINCH);
        assert_eq!("term".parse::<Signal>().unwrap(), Signal::TERM);
    }

    #[test]
    fn numbers_parse_and_display_round_trips() {
        let number = sig::SIGUSR1.to_string();
        let signal: Signal = number.parse().unwrap();
        assert_eq!(signal, Signal::USR1);
        assert_eq!(signal.to_string(), "SIGUSR1");
        assert_eq!(signal.number(), sig::SIGUSR1);
        // A signal with no name (a real-time signal on Linux) shows as its number.
        let unnamed = Signal::from_number(40).unwrap();
        assert_eq!(unnamed.name(), None);
        assert_eq!(unnamed.to_string(), "40");
        assert_eq!(unnamed.to_string().parse::<Signal>().unwrap(), unnamed);
        for signal in Signal::usable_names() {
            let parsed: Signal = signal.parse().unwrap();
            assert_eq!(parsed.to_string(), signal);
        }
    }

    #[test]
    fn uncatchable_signals_are_refused_with_the_reason() {
        for (text, why) in [
            ("SIGKILL", "never lets a process catch it"),
            ("stop", "never lets a process catch it"),
            ("SIGSEGV", "crash"),
            ("ill", "crash"),
            ("SIGFPE", "crash"),
            ("bus", "crash"),
        ] {
            let error = text.parse::<Signal>().unwrap_err();
            assert!(
                matches!(error, Error::Uncatchable { .. }),
                "{text}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(why), "{message}");
            assert!(message.contains("use SIGUSR2"), "{message}");
        }
        let kill = sig::SIGKILL.to_string().parse::<Signal>().unwrap_err();
        assert!(kill.to_string().starts_with("SIGKILL cannot"), "{kill}");
        for number in FORBIDDEN {
            assert!(Signal::from_number(*number).is_err(), "{number}");
        }
    }

    #[test]
    fn unknown_names_list_the_usable_ones() {
        let error = "SIGFOO".parse::<Signal>().unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("unknown signal \"SIGFOO\""),
            "{message}"
        );
        assert!(
            message.contains("SIGUSR1, SIGUSR2, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGWINCH"),
            "{message}"
        );
        assert!(!message.contains("SIGKILL"), "{message}");
        assert!(!message.contains("SIGSEGV"), "{message}");
        assert!(!message.contains("SIGBUS"), "{message}");
        for empty in ["", "SIG", "  "] {
            assert!(
                matches!(empty.parse::<Signal>(), Err(Error::UnknownSignal { .. })),
                "{empty:?}"
            );
        }
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        for text in ["0", "128", "99999999999999999999"] {
            let error = text.parse::<Signal>().unwrap_err();
            assert!(
                matches!(error, Error::OutOfRange { .. }),
                "{text}: {error:?}"
            );
            assert!(error.to_string().contains("numbered 1 to 127"), "{error}");
        }
        assert!(matches!(
            "-12".parse::<Signal>(),
            Err(Error::UnknownSignal { .. })
        ));
        assert!(Signal::from_number(-1).is_err());
    }
}
