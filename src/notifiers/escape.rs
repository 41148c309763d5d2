//! Escaping of text that comes from sources (logins, user names, error
//! text) for the formats the channels speak, in one place so every
//! renderer uses the same rules.

/// Escapes text from sources (logins, user names, error text) for HTML.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes the three characters Slack's mrkdwn gives meaning to.
pub fn escape_mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(
            escape_mrkdwn("<!channel> <https://evil|x> & co"),
            "&lt;!channel&gt; &lt;https://evil|x&gt; &amp; co"
        );
    }

    #[test]
    fn long_text_is_truncated_on_a_character_boundary() {
        let s = "é".repeat(200);
        let t = truncate(&s, crate::notifiers::slack_blocks::MAX_HEADER);
        assert_eq!(
            t.chars().count(),
            crate::notifiers::slack_blocks::MAX_HEADER
        );
        assert!(t.ends_with('…'));
    }
}
