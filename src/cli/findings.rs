//! `--fail-on-findings`: what counts as a finding, and the exit code.

use super::{EXIT_FAILED, EXIT_FINDINGS, EXIT_OK};
use crate::domain::snapshot::StoredTarget;
use crate::domain::{Exemptions, MfaStatus, PrincipalId};

/// A principal without MFA or with only a weak factor (`disabled`,
/// `insecure`) and not exempt: what a security team must act on.
pub fn is_finding(id: &PrincipalId, status: MfaStatus, exemptions: &Exemptions) -> bool {
    status.is_non_compliant() && !exemptions.contains(id)
}

/// The findings among stored targets.
pub fn in_stored(targets: &[StoredTarget], exemptions: &Exemptions) -> usize {
    targets
        .iter()
        .flat_map(|t| {
            t.present()
                .filter(|p| is_finding(&t.key.principal(p.name.clone()), p.status, exemptions))
        })
        .count()
}

/// A failure (1) wins over findings (3); findings count only when asked
/// for (`Some`). Bad configuration (2) never gets this far.
pub fn exit_code(failed: bool, findings: Option<usize>) -> u8 {
    if failed {
        EXIT_FAILED
    } else if findings.is_some_and(|n| n > 0) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

/// Said on stderr (unless `--quiet`) when findings set the exit code.
pub fn message(findings: usize) -> String {
    format!(
        "mfa-monitor: {findings} non-compliant principal(s) (MFA disabled or insecure, not exempt): exit {EXIT_FINDINGS} (--fail-on-findings)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::fixtures::sample;

    #[test]
    fn disabled_and_insecure_count_unless_exempt_and_unknown_never_does() {
        assert_eq!(in_stored(&sample(), &Exemptions::default()), 3);
        let exempt = Exemptions::parse("aws:123456789012/bob").unwrap();
        assert_eq!(in_stored(&sample(), &exempt), 2);
    }

    #[test]
    fn a_failure_wins_over_findings_which_count_only_when_asked_for() {
        assert_eq!(exit_code(false, None), EXIT_OK);
        assert_eq!(exit_code(false, Some(0)), EXIT_OK);
        assert_eq!(exit_code(false, Some(2)), EXIT_FINDINGS);
        assert_eq!(exit_code(true, Some(2)), EXIT_FAILED);
        assert_eq!(exit_code(true, None), EXIT_FAILED);
    }
}
