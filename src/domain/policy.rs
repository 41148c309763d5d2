use std::collections::BTreeSet;

use super::change::{ChangeKind, Severity};
use super::principal::{ParseIdError, PrincipalId};
use super::status::MfaStatus;

/// `MFA_EXEMPT`: principal ids never alerted on (still recorded and shown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exemptions(BTreeSet<PrincipalId>);

impl Exemptions {
    /// Parses the comma-separated list; a malformed id is an error rather
    /// than silently exempting nobody.
    pub fn parse(list: &str) -> Result<Self, ParseIdError> {
        crate::text::comma_list(list)
            .map(str::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Exemptions)
    }

    pub fn contains(&self, id: &PrincipalId) -> bool {
        self.0.contains(id)
    }

    pub fn insert(&mut self, id: PrincipalId) {
        self.0.insert(id);
    }

    pub fn iter(&self) -> impl Iterator<Item = &PrincipalId> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The change a status transition of a known principal is, if any.
///
/// `unknown` never reads as enabled or disabled: going to it is
/// `status_unknown`, and learning a status that was unknown alerts only when
/// the learned status needs action.
pub fn transition(previous: MfaStatus, current: MfaStatus) -> Option<ChangeKind> {
    use MfaStatus::*;
    if previous == current {
        return None;
    }
    match (previous, current) {
        (_, Unknown) => Some(ChangeKind::StatusUnknown),
        (_, Disabled) => Some(ChangeKind::MfaDisabled),
        (Disabled, Insecure) => Some(ChangeKind::MfaEnabled),
        (_, Insecure) => Some(ChangeKind::MfaWeakened),
        (Disabled | Insecure, Enabled) => Some(ChangeKind::MfaEnabled),
        // Unknown/not-applicable -> enabled, and anything -> not_applicable
        // (e.g. console password removed): nothing to act on.
        (Enabled | Unknown | NotApplicable, Enabled) => None,
        (_, NotApplicable) => None,
    }
}

/// The change a principal first seen after the baseline is, if any.
pub fn arrival(current: MfaStatus) -> Option<ChangeKind> {
    match current {
        MfaStatus::Enabled => Some(ChangeKind::NewWithMfa),
        MfaStatus::Disabled | MfaStatus::Insecure => Some(ChangeKind::NewWithoutMfa),
        MfaStatus::Unknown => Some(ChangeKind::StatusUnknown),
        MfaStatus::NotApplicable => None,
    }
}

/// Severity of a change: admins, owners and root losing or lacking MFA and
/// a requirement switched off are critical; a login-capable account without
/// MFA is high; improvements and removals are info.
pub fn severity(kind: ChangeKind, admin: bool) -> Severity {
    use ChangeKind::*;
    match kind {
        MfaDisabled | NewWithoutMfa | MfaWeakened | BypassActive | ExemptionExpired
        | GraceEnded => {
            if admin {
                Severity::Critical
            } else {
                Severity::High
            }
        }
        RequirementDisabled => Severity::Critical,
        StatusUnknown | SourceFailed => Severity::High,
        MfaEnabled | NewWithMfa | Removed | RequirementEnabled | SourceRecovered => Severity::Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MfaStatus::*;

    #[test]
    fn every_pair_of_statuses_maps_to_the_expected_change() {
        let expected = [
            (Enabled, Insecure, Some(ChangeKind::MfaWeakened)),
            (Enabled, Disabled, Some(ChangeKind::MfaDisabled)),
            (Enabled, Unknown, Some(ChangeKind::StatusUnknown)),
            (Enabled, NotApplicable, None),
            (Insecure, Enabled, Some(ChangeKind::MfaEnabled)),
            (Insecure, Disabled, Some(ChangeKind::MfaDisabled)),
            (Insecure, Unknown, Some(ChangeKind::StatusUnknown)),
            (Insecure, NotApplicable, None),
            (Disabled, Enabled, Some(ChangeKind::MfaEnabled)),
            (Disabled, Insecure, Some(ChangeKind::MfaEnabled)),
            (Disabled, Unknown, Some(ChangeKind::StatusUnknown)),
            (Disabled, NotApplicable, None),
            (Unknown, Enabled, None),
            (Unknown, Insecure, Some(ChangeKind::MfaWeakened)),
            (Unknown, Disabled, Some(ChangeKind::MfaDisabled)),
            (Unknown, NotApplicable, None),
            (NotApplicable, Enabled, None),
            (NotApplicable, Insecure, Some(ChangeKind::MfaWeakened)),
            (NotApplicable, Disabled, Some(ChangeKind::MfaDisabled)),
            (NotApplicable, Unknown, Some(ChangeKind::StatusUnknown)),
        ];
        assert_eq!(expected.len(), 20, "all ordered pairs of distinct statuses");
        for (p, c, want) in expected {
            assert_eq!(transition(p, c), want, "{p} -> {c}");
        }
        for s in MfaStatus::ALL {
            assert_eq!(transition(s, s), None, "{s} -> {s}");
        }
    }

    #[test]
    fn unknown_never_reads_as_enabled_or_disabled() {
        for s in MfaStatus::ALL {
            let kind = transition(s, Unknown);
            assert!(
                s == Unknown || kind == Some(ChangeKind::StatusUnknown),
                "{s} -> unknown gave {kind:?}"
            );
            assert_ne!(transition(Unknown, s), Some(ChangeKind::MfaEnabled));
        }
        assert_eq!(arrival(Unknown), Some(ChangeKind::StatusUnknown));
    }

    #[test]
    fn admins_losing_mfa_are_critical_and_others_high() {
        assert_eq!(severity(ChangeKind::MfaDisabled, true), Severity::Critical);
        assert_eq!(severity(ChangeKind::MfaDisabled, false), Severity::High);
        assert_eq!(
            severity(ChangeKind::NewWithoutMfa, true),
            Severity::Critical
        );
        assert_eq!(
            severity(ChangeKind::RequirementDisabled, false),
            Severity::Critical
        );
        assert_eq!(severity(ChangeKind::MfaEnabled, true), Severity::Info);
        assert_eq!(severity(ChangeKind::Removed, true), Severity::Info);
    }

    #[test]
    fn exemptions_parse_a_comma_list_and_reject_malformed_ids() {
        let ex = Exemptions::parse(" aws:1/alice, github:acme/bot ,").unwrap();
        assert_eq!(ex.len(), 2);
        assert!(ex.contains(&"aws:1/alice".parse().unwrap()));
        assert!(!ex.contains(&"aws:1/bob".parse().unwrap()));
        assert!(Exemptions::parse("alice").is_err());
        assert!(Exemptions::parse("").unwrap().is_empty());
    }
}
