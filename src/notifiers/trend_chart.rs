//! The HTML report's chart: accounts without MFA per source over the last
//! 12 weeks, as inline SVG. Drawn from numbers and dates only (never from a
//! source's names), so the markup needs no escaping; the page's CSP allows
//! it because it is not script.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{Duration, NaiveDate};

use crate::domain::trend::{DayCount, SHOWN_DAYS};
use crate::domain::Source;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 130.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

fn colour(source: Source) -> &'static str {
    match source {
        Source::Github => "#8250df",
        Source::Aws => "#d4700a",
        Source::Snowflake => "#0969da",
    }
}

/// The chart, or `None` when there is no record to draw.
pub fn chart(series: &BTreeMap<Source, Vec<DayCount>>, today: NaiveDate) -> Option<String> {
    if series.values().all(Vec::is_empty) {
        return None;
    }
    let first = today - Duration::days(SHOWN_DAYS - 1);
    let max = series
        .values()
        .flatten()
        .map(|d| d.non_compliant)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |day: NaiveDate| {
        LEFT + plot_w * ((day - first).num_days() as f64) / ((SHOWN_DAYS - 1) as f64)
    };
    let y = |n: usize| TOP + plot_h * (1.0 - n as f64 / max);
    let mut svg = format!(
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"Accounts without MFA per source, last 12 weeks\">"
    );
    // Axes, the top value and the dates at both ends and every 4 weeks.
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/><line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{}\"/>",
        HEIGHT - BOTTOM,
        WIDTH - RIGHT,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM
    );
    let _ = write!(
        svg,
        "<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        LEFT - 4.0,
        TOP + 8.0,
        max as usize,
        LEFT - 4.0,
        HEIGHT - BOTTOM
    );
    for weeks in [0, 4, 8, 12] {
        let day = (first + Duration::weeks(weeks)).min(today);
        let _ = write!(
            svg,
            "<text class=\"label\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(day),
            HEIGHT - 6.0,
            day.format("%b %-d")
        );
    }
    for (i, (source, days)) in series.iter().enumerate() {
        if days.is_empty() {
            continue;
        }
        let points: Vec<String> = days
            .iter()
            .map(|d| format!("{:.1},{:.1}", x(d.day), y(d.non_compliant)))
            .collect();
        let c = colour(*source);
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\" data-source=\"{}\"/>",
            points.join(" "),
            source.as_str()
        );
        let last = days.last().expect("not empty");
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\" fill=\"{c}\">{} {}</text>",
            x(last.day),
            y(last.non_compliant),
            WIDTH - RIGHT + 8.0,
            TOP + 14.0 + 16.0 * i as f64,
            source.display_name(),
            last.non_compliant
        );
    }
    svg.push_str("</svg>");
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_record_draws_no_chart_and_a_record_draws_one_line_per_source() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(chart(&BTreeMap::new(), today), None);
        let day = |n: i64, nc| DayCount {
            day: today - Duration::days(n),
            principals: 10,
            non_compliant: nc,
            admins_without_mfa: 0,
        };
        let series = BTreeMap::from([
            (Source::Github, vec![day(2, 4), day(1, 3), day(0, 1)]),
            (Source::Aws, vec![day(0, 2)]),
        ]);
        let svg = chart(&series, today).unwrap();
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("data-source=\"github\""));
        assert!(svg.contains(">GitHub 1</text>"));
    }
}
