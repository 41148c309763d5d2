#!/usr/bin/env bash
# Checks the deployment templates offline: cfn-lint, the alarm checks of
# check_alarm_topics.py, the state machine definitions
# (check_state_machines.py), sam validate --lint and checkov. Installs what is
# missing (SAM CLI and checkov each in their own virtual environment: their
# pinned dependencies conflict).
set -euo pipefail
cd "$(dirname "$0")/../.."
venvs="${MFA_MONITOR_VENVS:-$HOME/.cache/mfa-monitor-venvs}"
templates=(template.yaml infra/*.yaml)

tool() { # tool VENV PACKAGE: the venv's bin directory, created on first use
    local venv="$venvs/$1"
    if [ ! -x "$venv/bin/$3" ]; then
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet "$2" >&2
    fi
    echo "$venv/bin"
}

command -v cfn-lint >/dev/null || python3 -m pip install --quiet cfn-lint
echo "--- cfn-lint ${templates[*]}"
cfn-lint "${templates[@]}"

# Alarms that reach nobody pass every linter: an alarm topic under an AWS
# managed key, a key policy without CloudWatch, a metric the function does not
# publish, a log level that drops the metrics, an alarm the runbook omits.
echo "--- alarm topics, metric names, log level, runbook rows (infra/dev/check_alarm_topics.py)"
check_python=python3
python3 -c 'import cfnlint.decode' 2>/dev/null || check_python="$(tool cfnlint cfn-lint cfn-lint)/python"
"$check_python" infra/dev/check_alarm_topics.py --runbook infra/RUNBOOK.md "${templates[@]}"

# The state machine definitions are files (DefinitionUri) that neither
# cfn-lint nor sam validate opens: their placeholders, JSON, state names and
# Amazon States Language schema are checked here.
echo "--- state machine definitions (infra/dev/check_state_machines.py)"
"$check_python" infra/dev/check_state_machines.py template.yaml

# Offline: a region and dummy credentials are all sam validate needs.
echo "--- sam validate --lint"
sam_bin="$(tool sam aws-sam-cli sam)"
AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline \
    SAM_CLI_TELEMETRY=0 "$sam_bin/sam" validate --lint --template template.yaml

# checkov reads SAM resources but not the policies SAM generates from them,
# so the expanded template is checked too. A check is skipped only in the
# template itself, with its reason.
echo "--- checkov (templates, and template.yaml as SAM expands it)"
expanded="$(mktemp -d)/template-expanded.json"
AWS_DEFAULT_REGION=us-east-1 "$sam_bin/python" infra/dev/sam_translate.py template.yaml "$expanded"
checkov_bin="$(tool checkov checkov checkov)"
args=(-f "$expanded")
for t in "${templates[@]}"; do args+=(-f "$t"); done
"$checkov_bin/checkov" "${args[@]}" --framework cloudformation --compact \
    --skip-download --quiet
