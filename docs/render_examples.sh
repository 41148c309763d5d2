#!/usr/bin/env bash
# Renders the README's pictures of an alert (docs/images/) from the reviewed
# snapshots of what the code sends, so they show real output:
#   tests/snapshots/slack__email_html.snap  the email's HTML part
#   tests/snapshots/slack__slack_json.snap  the Slack Block Kit payload,
#                                           laid out by docs/render_slack.py
#   tests/report_html.rs                    the HTML report in Chromium
# Needs Debian's chromium and ImageMagick:
#   apt-get update && apt-get install -y chromium imagemagick fonts-dejavu-core fonts-noto-color-emoji fonts-liberation
# Run after a snapshot changed: bash docs/render_examples.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=docs/images
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# An insta snapshot is a YAML header between two `---` lines, then the value.
snapshot_value() { awk 'n >= 2 { print } /^---$/ { n++ }' "$1"; }

# shot HTML PNG WIDTH HEIGHT: a screenshot of the page, nothing fetched.
shot() {
    chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --force-device-scale-factor=1 --user-data-dir="$(mktemp -d -p "$work")" \
        --screenshot="$2" --window-size="$3,$4" "file://$(realpath "$1")" 2>/dev/null
}

# finish PNG OUT: white margins trimmed to a small border, fewer colours,
# no metadata (so an unchanged picture renders to the same bytes).
finish() {
    convert "$1" -trim +repage -bordercolor white -border 12 -strip -colors 96 \
        -define png:exclude-chunks=date,time "$2"
}

{
    echo '<!doctype html><meta charset="utf-8"><style>body { margin: 16px; max-width: 960px; }</style>'
    snapshot_value tests/snapshots/slack__email_html.snap
} > "$work/email.html"
shot "$work/email.html" "$work/email.png" 1000 1600
finish "$work/email.png" "$out/alert-email.png"

python3 docs/render_slack.py tests/snapshots/slack__slack_json.snap > "$work/slack.html"
shot "$work/slack.html" "$work/slack.png" 1000 1000
finish "$work/slack.png" "$out/alert-slack.png"

# The HTML report, as `report --format html` writes it over a stored state
# of three sources with 12 weeks of trend, "Not enabled" clicked, in the
# headless Chromium its tests drive (tests/report_html.rs).
MFA_SCREENSHOT="$work/report.png" cargo test --quiet --test report_html -- --ignored the_readme_picture_of_the_page
finish "$work/report.png" "$out/report-html.png"

ls -l "$out"
