//! An error and its causes as one line, each said once.

/// `error`'s message, then each cause that the text so far does not already contain, joined
/// by `: `.
///
/// The library errors quote their source in their own message (so that `{}` alone says what
/// failed) and also return it from `source()`, as thiserror's `source` fields do; anyhow's
/// `{:#}` prints such a cause twice ("…: Connection refused: Connection refused").
pub(crate) fn one_line(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quotes its source in its message and returns it from `source()`, as thiserror makes it.
    #[derive(Debug)]
    struct Quoting {
        path: &'static str,
        source: std::io::Error,
    }

    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read {}: {}", self.path, self.source)
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = anyhow::Error::new(Quoting {
            path: "/x",
            source: io,
        });
        assert_eq!(
            format!("{error:#}"),
            "cannot read /x: no such file: no such file"
        );
        assert_eq!(one_line(&error), "cannot read /x: no such file");
    }

    #[test]
    fn contexts_and_unquoted_causes_are_all_kept() {
        let error = anyhow::Error::new(std::io::Error::other("disk full"))
            .context("writing the profile")
            .context("--to ./profiles");
        assert_eq!(
            one_line(&error),
            "--to ./profiles: writing the profile: disk full"
        );
    }
}
