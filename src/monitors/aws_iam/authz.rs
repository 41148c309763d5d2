//! Every user and every admin of an account from one bulk read,
//! `GetAccountAuthorizationDetails` (users, groups and customer-managed
//! policies with their default versions, every page), plus one
//! `GetPolicy` + `GetPolicyVersion` per AWS-managed policy that is attached
//! to a user or group (asking the bulk read for AWS-managed policies would
//! return all of AWS's ~1,300, attached or not, on every pass).
//!
//! An admin is a user who, directly or through a group, holds a policy
//! (AWS-managed, customer-managed or inline) that [`super::policy`] judges
//! to allow `*` or `iam:*` on `*`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_iam::types::EntityType;
use futures::{StreamExt, TryStreamExt};

use super::paging::{all_pages, call};
use super::policy::grants_admin_text;
use crate::config::values::TagKey;
use crate::monitors::MonitorError;

/// AWS-managed policy documents read at once.
const POLICY_READS: usize = 4;

/// What holds policies: a user or a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub managed: Vec<String>,
    /// Inline policies: name and judgement (`None`: could not be read).
    pub inline: Vec<(String, Option<bool>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub name: String,
    /// `CreateDate` in seconds.
    pub created: Option<i64>,
    pub groups: Vec<String>,
    pub holds: Holder,
    /// The value of the user's e-mail tag (`MFA_EMAIL_TAG`) as tagged,
    /// unchecked: read in the same bulk call, so it costs nothing more.
    pub email_tag: Option<String>,
}

/// The account's identities and what their policies grant, as read.
#[derive(Debug, Clone, Default)]
pub struct Authorization {
    pub users: Vec<UserEntry>,
    pub groups: HashMap<String, Holder>,
    /// Customer-managed policies by ARN: their default version judged.
    pub local_policies: HashMap<String, Option<bool>>,
}

fn judge(document: Option<&str>) -> Option<bool> {
    document.and_then(|d| grants_admin_text(d).ok())
}

fn holder(
    managed: Option<Vec<aws_sdk_iam::types::AttachedPolicy>>,
    inline: Option<Vec<aws_sdk_iam::types::PolicyDetail>>,
) -> Holder {
    Holder {
        managed: managed
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.policy_arn)
            .collect(),
        inline: inline
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let verdict = judge(p.policy_document.as_deref());
                (p.policy_name.unwrap_or_default(), verdict)
            })
            .collect(),
    }
}

impl Authorization {
    /// AWS-managed (or otherwise unlisted) policies attached to someone:
    /// their documents are read one by one.
    pub fn unlisted_policies(&self) -> BTreeSet<String> {
        self.users
            .iter()
            .map(|u| &u.holds)
            .chain(self.groups.values())
            .flat_map(|h| h.managed.iter())
            .filter(|arn| !self.local_policies.contains_key(*arn))
            .cloned()
            .collect()
    }

    /// The admins, and one warning per policy that could not be judged
    /// (its holders count as admins: the safe side).
    pub fn admins(
        &self,
        unlisted: &HashMap<String, Option<bool>>,
    ) -> (BTreeSet<String>, Vec<String>) {
        let mut unreadable: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut holder_is_admin = |who: &str, h: &Holder| -> bool {
            let mut admin = false;
            for arn in &h.managed {
                match self
                    .local_policies
                    .get(arn)
                    .or_else(|| unlisted.get(arn))
                    .copied()
                    .flatten()
                {
                    Some(true) => admin = true,
                    Some(false) => {}
                    None => {
                        unreadable
                            .entry(arn.clone())
                            .or_default()
                            .insert(who.to_owned());
                        admin = true;
                    }
                }
            }
            for (name, verdict) in &h.inline {
                match verdict {
                    Some(true) => admin = true,
                    Some(false) => {}
                    None => {
                        unreadable
                            .entry(format!("inline policy `{name}`"))
                            .or_default()
                            .insert(who.to_owned());
                        admin = true;
                    }
                }
            }
            admin
        };
        let admin_groups: BTreeSet<&str> = self
            .groups
            .iter()
            .filter(|(name, h)| holder_is_admin(&format!("group {name}"), h))
            .map(|(name, _)| name.as_str())
            .collect();
        let admins = self
            .users
            .iter()
            .filter(|u| {
                holder_is_admin(&u.name, &u.holds)
                    || u.groups.iter().any(|g| admin_groups.contains(g.as_str()))
            })
            .map(|u| u.name.clone())
            .collect();
        let warnings = unreadable
            .into_iter()
            .map(|(policy, holders)| {
                format!(
                    "policy {policy} could not be read or judged; its holders ({}) count as admins",
                    holders.into_iter().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        (admins, warnings)
    }
}

/// The value of the tag `key` among a user's tags.
fn tag_value(tags: Option<Vec<aws_sdk_iam::types::Tag>>, key: &TagKey) -> Option<String> {
    tags?
        .into_iter()
        .find(|t| key.matches(&t.key))
        .map(|t| t.value)
}

/// Users (with the value of their `email_tag`), groups and
/// customer-managed policies, every page.
pub async fn read(
    iam: &aws_sdk_iam::Client,
    email_tag: &TagKey,
) -> Result<Authorization, MonitorError> {
    type Page = (
        Vec<aws_sdk_iam::types::UserDetail>,
        Vec<aws_sdk_iam::types::GroupDetail>,
        Vec<aws_sdk_iam::types::ManagedPolicyDetail>,
    );
    let pages: Vec<Page> = all_pages("iam:GetAccountAuthorizationDetails", |marker| async move {
        let out = iam
            .get_account_authorization_details()
            .filter(EntityType::User)
            .filter(EntityType::Group)
            .filter(EntityType::LocalManagedPolicy)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| call("iam:GetAccountAuthorizationDetails", e))?;
        let page = (
            out.user_detail_list.unwrap_or_default(),
            out.group_detail_list.unwrap_or_default(),
            out.policies.unwrap_or_default(),
        );
        Ok((vec![page], out.is_truncated, out.marker))
    })
    .await?;
    let mut auth = Authorization::default();
    for (users, groups, policies) in pages {
        for u in users {
            let Some(name) = u.user_name else {
                return Err(MonitorError::Malformed(
                    "iam:GetAccountAuthorizationDetails listed a user without a name".into(),
                ));
            };
            auth.users.push(UserEntry {
                name,
                created: u.create_date.map(|d| d.secs()),
                groups: u.group_list.unwrap_or_default(),
                holds: holder(u.attached_managed_policies, u.user_policy_list),
                email_tag: tag_value(u.tags, email_tag),
            });
        }
        for g in groups {
            let Some(name) = g.group_name else { continue };
            auth.groups.insert(
                name,
                holder(g.attached_managed_policies, g.group_policy_list),
            );
        }
        for p in policies {
            let Some(arn) = p.arn else { continue };
            let default = p.default_version_id.as_deref();
            let document = p
                .policy_version_list
                .unwrap_or_default()
                .into_iter()
                .find(|v| {
                    v.is_default_version
                        || (default.is_some() && v.version_id.as_deref() == default)
                });
            let verdict = judge(document.as_ref().and_then(|v| v.document.as_deref()));
            auth.local_policies.insert(arn, verdict);
        }
    }
    Ok(auth)
}

/// The default version of each policy, judged; a denied or failed read is
/// an error (the account's admins would be unknown).
pub async fn read_unlisted(
    iam: &aws_sdk_iam::Client,
    arns: BTreeSet<String>,
) -> Result<HashMap<String, Option<bool>>, MonitorError> {
    futures::stream::iter(arns)
        .map(|arn| async move {
            let policy = iam
                .get_policy()
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| call("iam:GetPolicy", e))?;
            let Some(version) = policy.policy.and_then(|p| p.default_version_id) else {
                return Ok((arn, None));
            };
            let out = iam
                .get_policy_version()
                .policy_arn(&arn)
                .version_id(version)
                .send()
                .await
                .map_err(|e| call("iam:GetPolicyVersion", e))?;
            let verdict = judge(out.policy_version.and_then(|v| v.document).as_deref());
            Ok::<_, MonitorError>((arn, verdict))
        })
        .buffer_unordered(POLICY_READS)
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
    const READ: &str = r#"{"Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}}"#;

    fn user(name: &str, groups: &[&str], managed: &[&str], inline: Option<&str>) -> UserEntry {
        UserEntry {
            name: name.into(),
            created: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            holds: Holder {
                managed: managed.iter().map(|m| m.to_string()).collect(),
                inline: inline
                    .map(|d| vec![("p".to_owned(), judge(Some(d)))])
                    .unwrap_or_default(),
            },
            email_tag: None,
        }
    }

    fn world() -> Authorization {
        let mut a = Authorization {
            users: vec![
                user("inline-admin", &[], &[], Some(ADMIN)),
                user("inline-reader", &[], &[], Some(READ)),
                user(
                    "custom-admin",
                    &[],
                    &["arn:aws:iam::1:policy/everything"],
                    None,
                ),
                user("grouped", &["ops"], &[], None),
                user(
                    "aws-admin",
                    &[],
                    &["arn:aws:iam::aws:policy/AdministratorAccess"],
                    None,
                ),
                user(
                    "plain",
                    &["readers"],
                    &["arn:aws:iam::aws:policy/ReadOnlyAccess"],
                    None,
                ),
            ],
            ..Authorization::default()
        };
        a.groups.insert(
            "ops".into(),
            Holder {
                managed: vec!["arn:aws:iam::1:policy/everything".into()],
                inline: vec![],
            },
        );
        a.groups.insert("readers".into(), Holder::default());
        a.local_policies
            .insert("arn:aws:iam::1:policy/everything".into(), Some(true));
        a
    }

    #[test]
    fn admins_come_from_inline_customer_managed_aws_managed_and_group_policies() {
        let a = world();
        let unlisted = a.unlisted_policies();
        assert_eq!(
            unlisted.into_iter().collect::<Vec<_>>(),
            [
                "arn:aws:iam::aws:policy/AdministratorAccess",
                "arn:aws:iam::aws:policy/ReadOnlyAccess"
            ]
        );
        let docs = HashMap::from([
            (
                "arn:aws:iam::aws:policy/AdministratorAccess".to_owned(),
                Some(true),
            ),
            (
                "arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned(),
                Some(false),
            ),
        ]);
        let (admins, warnings) = a.admins(&docs);
        assert_eq!(
            admins.into_iter().collect::<Vec<_>>(),
            ["aws-admin", "custom-admin", "grouped", "inline-admin"]
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn a_policy_that_cannot_be_judged_makes_its_holders_admins_with_a_warning() {
        let mut a = world();
        a.local_policies
            .insert("arn:aws:iam::1:policy/everything".into(), None);
        let (admins, warnings) = a.admins(&HashMap::new());
        assert!(admins.contains("grouped") && admins.contains("plain"));
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings
            .iter()
            .any(|w| w.contains("everything") && w.contains("group ops")));
    }
}
