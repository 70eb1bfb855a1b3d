//! Error messages that keep the reason a user needs.

/// An error and its causes (`failed to write container state file "…": No space left on device`):
/// libcontainer's messages leave the OS's reason to `source()`.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_are_appended_once() {
        let os = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let outer = std::io::Error::other(os);
        let text = super::with_causes(&outer);
        assert_eq!(text.matches("No space left on device").count(), 1, "{text}");
    }
}
