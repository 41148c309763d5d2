//! What a stream written to allows: colour only on a terminal, and never
//! when `NO_COLOR` is set to a non-empty value (<https://no-color.org>).

use std::ffi::OsString;
use std::io::IsTerminal;

/// Whether ANSI colour may be written to `stream` (stdout or stderr).
pub fn colour(stream: &impl IsTerminal) -> bool {
    colour_allowed(stream.is_terminal(), std::env::var_os("NO_COLOR"))
}

fn colour_allowed(terminal: bool, no_color: Option<OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_needs_a_terminal() {
        assert!(!colour_allowed(false, None));
        assert!(colour_allowed(true, None));
    }

    #[test]
    fn no_color_set_to_anything_but_empty_turns_colour_off() {
        assert!(!colour_allowed(true, Some("1".into())));
        assert!(!colour_allowed(true, Some("0".into())));
        assert!(
            colour_allowed(true, Some("".into())),
            "empty counts as unset"
        );
    }
}
