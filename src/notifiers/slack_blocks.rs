//! Slack Block Kit (header, sections, context) with a plain `text`
//! fallback, for a pass's digest and for the status report. Names from
//! sources are escaped for mrkdwn, so a login cannot inject a link or a
//! mention; a message beyond Slack's limits is summarised with a count,
//! never rejected.

use serde_json::{json, Value};

use super::digest::{Digest, Item};
use super::escape::{escape_mrkdwn, truncate};
use crate::domain::report::Report;

pub const MAX_BLOCKS: usize = 50;
pub const MAX_TEXT: usize = 3000;
pub const MAX_HEADER: usize = 150;

fn line(i: &Item) -> String {
    let mut l = format!(
        "• {} — {}",
        escape_mrkdwn(&i.subject),
        escape_mrkdwn(&i.summary)
    );
    if i.admin {
        l.push_str(" *[admin]*");
    }
    if let Some(d) = &i.detail {
        l.push_str(": ");
        l.push_str(&escape_mrkdwn(d));
    }
    if i.delayed {
        l.push_str(&format!(
            " _(delayed: detected {})_",
            i.since.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    truncate(&l, MAX_TEXT / 2)
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_TEXT)}})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_TEXT)}]})
}

/// The webhook payload for a digest, within Slack's limits.
pub fn payload(d: &Digest) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(&format!("MFA: {}", d.title), MAX_HEADER), "emoji": true}
    })];
    if !d.warnings.is_empty() {
        let text: Vec<String> = d
            .warnings
            .iter()
            .map(|w| format!("• {}", escape_mrkdwn(w)))
            .collect();
        blocks.push(section(&format!(
            ":warning: *Attention*\n{}",
            text.join("\n")
        )));
    }
    // Room for the closing "and N more" context.
    let budget = MAX_BLOCKS - 1;
    let mut not_shown = 0usize;
    for (n, g) in d.groups.iter().enumerate() {
        let last_of_source = d
            .groups
            .get(n + 1)
            .is_none_or(|next| next.source != g.source);
        let mut chunks: Vec<String> = vec![format!("*{}*", escape_mrkdwn(&g.heading))];
        for i in &g.items {
            let l = line(i);
            let current = chunks.last_mut().expect("one chunk");
            if current.chars().count() + 1 + l.chars().count() > MAX_TEXT {
                chunks.push(l);
            } else {
                current.push('\n');
                current.push_str(&l);
            }
        }
        let needed = chunks.len() + 1;
        if blocks.len() + needed > budget {
            not_shown += g.items.len() + g.omitted;
            continue;
        }
        blocks.extend(chunks.iter().map(|c| section(c)));
        // The remediation once per source, after its last group.
        let mut ctx = if last_of_source {
            escape_mrkdwn(g.remediation)
        } else {
            String::new()
        };
        if g.omitted > 0 {
            ctx = format!("… and {} more not listed. {ctx}", g.omitted);
        }
        if !ctx.is_empty() {
            blocks.push(context(ctx.trim_end()));
        }
    }
    if not_shown > 0 {
        blocks.push(context(&format!(
            "… and {not_shown} more not shown here: see the email or run `mfa-monitor status`."
        )));
    }
    json!({
        "text": truncate(&format!("mfa-monitor: {}", escape_mrkdwn(&d.title)), MAX_TEXT),
        "blocks": blocks,
    })
}

/// The report for Slack: counts per source and the critical principals.
pub fn report_payload(r: &Report) -> Value {
    let mut lines: Vec<String> = r
        .counts
        .iter()
        .map(|(s, c)| {
            format!(
                "*{}*: {} principals · {} enabled · {} without MFA or weak · {} unknown",
                s.display_name(),
                c.principals,
                c.enabled,
                c.non_compliant,
                c.unknown
            )
        })
        .collect();
    let critical: Vec<String> = r
        .rows
        .iter()
        .filter(|row| row.admin && row.status.is_non_compliant() && !row.exempt)
        .map(|row| {
            format!(
                "• {} — {}{}",
                escape_mrkdwn(&row.principal),
                row.status,
                row.days_without_mfa
                    .map(|d| format!(", {d} days"))
                    .unwrap_or_default()
            )
        })
        .collect();
    // Source names and counts only: nothing here comes from a source.
    lines.extend(r.week_lines().into_iter().map(|l| format!("_{l}_")));

    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&r.headline(), MAX_HEADER)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}}),
    ];
    if let Some(link) = &r.html_report {
        // Slack's link syntax, with `&`, `<` and `>` in the URL escaped. A
        // link signed by session credentials carries their token and can
        // be long: one that would not fit a section (and so fail the whole
        // message) is left to the e-mail, and the object named.
        let linked = format!(
            "<{}|Open the full report (HTML)>: {}",
            escape_mrkdwn(&link.url),
            escape_mrkdwn(&link.caveat())
        );
        let text = if linked.chars().count() <= MAX_TEXT {
            linked
        } else {
            format!(
                "The full report (HTML) is at {} (its link is too long for Slack; the e-mail has it)",
                escape_mrkdwn(&link.object)
            )
        };
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    if !critical.is_empty() {
        let shown = critical.len().min(40);
        lines = critical[..shown].to_vec();
        if critical.len() > shown {
            lines.push(format!("… and {} more", critical.len() - shown));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!("*Admins without MFA*\n{}", lines.join("\n")), MAX_TEXT)}}));
    }
    if r.counts.contains_key(&crate::domain::Source::Snowflake) {
        let mut lines: Vec<String> = r
            .enforcement_readiness
            .iter()
            .take(40)
            .map(|e| format!("• {} — {}", escape_mrkdwn(&e.principal), e.why.phrase()))
            .collect();
        if r.enforcement_readiness.len() > lines.len() {
            lines.push(format!(
                "… and {} more",
                r.enforcement_readiness.len() - lines.len()
            ));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!("*Snowflake enforcement readiness*: {} user(s) will be blocked when Snowflake enforces MFA\n{}", r.enforcement_readiness.len(), lines.join("\n")), MAX_TEXT)}}));
    }
    if r.remind_days > 0 && !r.open_beyond.is_empty() {
        let mut lines: Vec<String> = r
            .open_beyond
            .iter()
            .take(40)
            .map(|o| {
                format!(
                    "• {} — {} days",
                    escape_mrkdwn(&o.principal),
                    o.days_without_mfa
                )
            })
            .collect();
        if r.open_beyond.len() > lines.len() {
            lines.push(format!("… and {} more", r.open_beyond.len() - lines.len()));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&format!("*Open for more than {} days*: {}\n{}", r.remind_days, r.open_beyond.len(), lines.join("\n")), MAX_TEXT)}}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": "Full table: the report email, or `mfa-monitor report`."}]}));
    json!({"text": r.headline(), "blocks": blocks})
}
