//! Reading one Snowflake account: its users (required), the holders of the
//! admin roles (required), its authentication policies and the admins'
//! MFA methods (each optional: what cannot be read is said, never read as
//! "none").

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use tracing::debug;

use super::api::SqlApi;
use super::methods::{self, METHOD_COLUMNS};
use super::policy::{self, MfaSettings, DESCRIBE_COLUMNS, SHOW_COLUMNS};
use super::users::{judge, PolicyForUser, USER_COLUMNS};
use crate::domain::{
    MfaMethods, MfaStatus, Observation, Source, TargetKey, TargetSettings, TargetSnapshot,
};
use crate::monitors::{MonitorError, SourceEmails};

const ADMIN_ROLES: [&str; 2] = ["ACCOUNTADMIN", "SECURITYADMIN"];
/// Bound on role nesting followed when looking for admins.
const MAX_ROLES: usize = 500;
/// Bound on authentication policies read for user-level assignments.
const MAX_POLICIES: usize = 200;
/// `SHOW GRANTS OF ROLE` columns read.
const GRANT_COLUMNS: &[&str] = &["granted_to", "grantee_name"];
/// `POLICY_REFERENCES` columns read.
const REFERENCE_COLUMNS: &[&str] = &["ref_entity_name", "ref_entity_domain"];
/// Admins' methods read at once.
const METHOD_CONCURRENCY: usize = 4;

/// What the privilege to read policies is, for warnings.
const POLICY_PRIVILEGE: &str = "APPLY AUTHENTICATION POLICY on the account (SECURITYADMIN holds it), or OWNERSHIP of the policy";

/// One configured account and the API that reads it.
pub struct Account {
    pub name: String,
    pub api: SqlApi,
}

/// The account's authentication policy and users' own policies.
struct Policies {
    /// The policy attached to the account (its name and MFA settings), or
    /// why it could not be read.
    account: Result<Option<(String, MfaSettings)>, String>,
    /// User name → whether their own policy enforces MFA on SSO, or why
    /// the assignments could not be read.
    users: Result<BTreeMap<String, bool>, String>,
}

impl Policies {
    fn for_user(&self, name: &str) -> PolicyForUser {
        let own = self.users.as_ref().ok().and_then(|u| u.get(name).copied());
        let account = match &self.account {
            Ok(Some((_, p))) => Some(p.on_external_authentication),
            Ok(None) => Some(false),
            Err(_) => None,
        };
        PolicyForUser {
            mfa_on_external_authentication: own.or(account),
        }
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl Account {
    pub fn key(&self) -> TargetKey {
        TargetKey::new(Source::Snowflake, &self.name)
    }

    fn role(&self) -> &str {
        self.api.role().unwrap_or("(the user's default role)")
    }

    /// Users holding ACCOUNTADMIN or SECURITYADMIN, directly or through
    /// roles granted those roles.
    async fn admins(&self) -> Result<BTreeSet<String>, MonitorError> {
        let mut users = BTreeSet::new();
        let mut seen: BTreeSet<String> = ADMIN_ROLES.iter().map(|r| r.to_string()).collect();
        let mut queue: Vec<String> = seen.iter().cloned().collect();
        while let Some(role) = queue.pop() {
            let rows = self
                .api
                .query(
                    &format!("SHOW GRANTS OF ROLE {}", quote_ident(&role)),
                    GRANT_COLUMNS,
                )
                .await?;
            for row in rows {
                let kind = row
                    .get("granted_to")
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                let Some(grantee) = row.get("grantee_name") else {
                    continue;
                };
                match kind.as_str() {
                    "USER" => {
                        users.insert(grantee.to_owned());
                    }
                    "ROLE" if seen.insert(grantee.to_owned()) => {
                        if seen.len() > MAX_ROLES {
                            return Err(MonitorError::Incomplete(format!(
                                "more than {MAX_ROLES} roles lead to admin roles"
                            )));
                        }
                        queue.push(grantee.to_owned());
                    }
                    _ => {}
                }
            }
        }
        Ok(users)
    }

    async fn describe(&self, qualified: &str) -> Result<MfaSettings, MonitorError> {
        let rows = self
            .api
            .query(
                &format!("DESCRIBE AUTHENTICATION POLICY {qualified}"),
                DESCRIBE_COLUMNS,
            )
            .await?;
        Ok(MfaSettings::from_describe(&rows))
    }

    async fn account_policy(&self) -> Result<Option<(String, MfaSettings)>, MonitorError> {
        let rows = self
            .api
            .query("SHOW AUTHENTICATION POLICIES ON ACCOUNT", SHOW_COLUMNS)
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let name = policy::qualified_name(row).ok_or_else(|| {
            MonitorError::Malformed("SHOW AUTHENTICATION POLICIES ON ACCOUNT: a row without its name, database or schema".into())
        })?;
        let settings = self.describe(&name).await?;
        Ok(Some((name, settings)))
    }

    /// Every policy assigned to users, and whether it enforces MFA on SSO:
    /// a user's own policy overrides the account's.
    async fn user_policies(&self) -> Result<BTreeMap<String, bool>, MonitorError> {
        let rows = self
            .api
            .query("SHOW AUTHENTICATION POLICIES IN ACCOUNT", SHOW_COLUMNS)
            .await?;
        if rows.len() > MAX_POLICIES {
            return Err(MonitorError::Incomplete(format!(
                "more than {MAX_POLICIES} authentication policies"
            )));
        }
        let mut users = BTreeMap::new();
        for row in &rows {
            let (Some(name), Some(db)) = (policy::qualified_name(row), row.get("database_name"))
            else {
                continue;
            };
            let unquoted = format!(
                "{}.{}.{}",
                db,
                row.get("schema_name").unwrap_or_default(),
                row.get("name").unwrap_or_default()
            );
            let refs = self
                .api
                .query(
                    &format!(
                        "SELECT ref_entity_name, ref_entity_domain FROM TABLE({}.INFORMATION_SCHEMA.POLICY_REFERENCES(POLICY_NAME => {}))",
                        quote_ident(db),
                        quote_literal(&unquoted)
                    ),
                    REFERENCE_COLUMNS,
                )
                .await?;
            let assigned: Vec<String> = refs
                .iter()
                .filter(|r| {
                    r.get("ref_entity_domain")
                        .is_some_and(|d| d.eq_ignore_ascii_case("USER"))
                })
                .filter_map(|r| r.get("ref_entity_name").map(str::to_owned))
                .collect();
            if assigned.is_empty() {
                continue;
            }
            let on_sso = self.describe(&name).await?.on_external_authentication;
            for user in assigned {
                users.insert(user, on_sso);
            }
        }
        Ok(users)
    }

    async fn policies(&self) -> Policies {
        let (account, users) = tokio::join!(self.account_policy(), self.user_policies());
        Policies {
            account: account.map_err(|e| e.to_string()),
            users: users.map_err(|e| e.to_string()),
        }
    }

    /// Each admin's methods. `SHOW MFA METHODS FOR USER` is for ACCOUNTADMIN
    /// only: the first refusal marks every admin unreadable, without asking
    /// again for each.
    async fn admin_methods(&self, admins: &BTreeSet<String>) -> BTreeMap<String, MfaMethods> {
        let mut out = BTreeMap::new();
        let mut names = admins.iter();
        let Some(first) = names.next() else {
            return out;
        };
        match self.methods_of(first).await {
            Ok(m) => {
                out.insert(first.clone(), m);
            }
            Err(e) => {
                let why = format!(
                    "role {} may not run SHOW MFA METHODS FOR USER (ACCOUNTADMIN only): {e}",
                    self.role()
                );
                return admins
                    .iter()
                    .map(|a| (a.clone(), MfaMethods::Unreadable(why.clone())))
                    .collect();
            }
        }
        // Owned names: a stream over borrowed ones fails async_trait's Send
        // bound ("FnOnce is not general enough").
        let names: Vec<String> = names.cloned().collect();
        let rest: Vec<(String, MfaMethods)> = futures::stream::iter(names)
            .map(|name| async move {
                let m = self
                    .methods_of(&name)
                    .await
                    .unwrap_or_else(|e| MfaMethods::Unreadable(e.to_string()));
                (name, m)
            })
            .buffer_unordered(METHOD_CONCURRENCY)
            .collect()
            .await;
        out.extend(rest);
        out
    }

    async fn methods_of(&self, user: &str) -> Result<MfaMethods, MonitorError> {
        let rows = self
            .api
            .query(
                &format!("SHOW MFA METHODS FOR USER {}", quote_ident(user)),
                METHOD_COLUMNS,
            )
            .await?;
        Ok(methods::from_rows(&rows))
    }

    pub async fn collect(&self) -> Result<TargetSnapshot, MonitorError> {
        let (required, policies) = tokio::join!(
            async { tokio::try_join!(self.api.query("SHOW USERS", USER_COLUMNS), self.admins()) },
            self.policies()
        );
        let (rows, admins) = required?;
        let methods = self.admin_methods(&admins).await;
        let mut principals = Vec::with_capacity(rows.len());
        let mut emails = SourceEmails::default();
        for (i, row) in rows.iter().enumerate() {
            let name = row
                .get("name")
                .ok_or_else(|| {
                    MonitorError::Malformed(format!("SHOW USERS row {i} has no `name`"))
                })?
                .to_owned();
            let (status, mut attributes) =
                judge(row, admins.contains(&name), policies.for_user(&name));
            attributes.mfa_methods = methods.get(&name).cloned();
            attributes.email = emails.check(&name, row.get("email"));
            principals.push(Observation::new(name, status, attributes));
        }
        emails.warn_refused(&self.key(), "SHOW USERS email");
        principals.sort_by(|a, b| a.name.cmp(&b.name));
        debug!(account = %self.name, users = principals.len(), admins = admins.len(), "account read");
        let mut warnings = self.warnings(&principals, &policies);
        let settings = match &policies.account {
            Ok(found) => TargetSettings {
                requirements: MfaSettings::requirements(found.as_ref().map(|(_, p)| p)),
                details: MfaSettings::details(
                    found.as_ref().map(|(n, _)| n.as_str()),
                    found.as_ref().map(|(_, p)| p),
                ),
                ..TargetSettings::default()
            },
            // Left out: the pass keeps the last known values and warns.
            Err(_) => TargetSettings::default(),
        };
        warnings.sort();
        Ok(TargetSnapshot {
            key: self.key(),
            principals,
            settings,
            warnings,
        })
    }

    fn warnings(&self, principals: &[Observation], policies: &Policies) -> Vec<String> {
        let mut warnings = Vec::new();
        // SHOW USERS fills in a user's columns only for a role that owns the
        // user or holds CREATE USER on the account; otherwise `has_mfa` is
        // null. Say so plainly rather than leave a wall of unknowns.
        let unknown = principals
            .iter()
            .filter(|p| p.status == MfaStatus::Unknown)
            .count();
        let judged = principals
            .iter()
            .filter(|p| p.status != MfaStatus::NotApplicable)
            .count();
        if unknown > 0 && unknown == judged {
            warnings.push(format!(
                "SHOW USERS hid the MFA status of every user from role {}: grant it CREATE USER on the account (or use USERADMIN/SECURITYADMIN)",
                self.role()
            ));
        }
        if let Err(e) = &policies.account {
            warnings.push(format!(
                "the account's authentication policy could not be read with role {}: grant it {POLICY_PRIVILEGE}; its MFA requirements keep their last known values, and people without a password are judged as SSO users ({e})",
                self.role()
            ));
        }
        if let Err(e) = &policies.users {
            warnings.push(format!(
                "users' own authentication policies could not be read with role {}: grant it {POLICY_PRIVILEGE} and USAGE on the policies' database; the account's policy is applied to everyone ({e})",
                self.role()
            ));
        }
        warnings
    }

    /// Reachability and what the role may read, for `mfa-monitor check`.
    pub async fn check(&self) -> Result<String, MonitorError> {
        let (users, policy) = tokio::join!(
            self.api.query("SHOW USERS", &["name"]),
            self.account_policy()
        );
        let users = users?;
        let policy = match policy {
            Ok(Some((name, _))) => format!("authentication policy {name}"),
            Ok(None) => "no authentication policy attached".to_owned(),
            Err(e) => format!("authentication policy unreadable (grant {POLICY_PRIVILEGE}): {e}"),
        };
        Ok(format!(
            "authenticated (key {}); role {}; {} user(s) visible; {policy}",
            self.api.fingerprint(),
            self.api.role().unwrap_or("(user default)"),
            users.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_quoted_as_identifiers_and_policy_names_as_literals() {
        assert_eq!(quote_ident("ACCOUNTADMIN"), "\"ACCOUNTADMIN\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("DB.S.P'1"), "'DB.S.P\\'1'");
    }

    #[test]
    fn a_users_own_policy_wins_over_the_accounts_and_an_unreadable_one_is_unknown() {
        let p = Policies {
            account: Ok(Some((
                "P".into(),
                MfaSettings {
                    on_external_authentication: true,
                    ..MfaSettings::default()
                },
            ))),
            users: Ok(BTreeMap::from([("LAX".to_owned(), false)])),
        };
        assert_eq!(p.for_user("ANY").mfa_on_external_authentication, Some(true));
        assert_eq!(
            p.for_user("LAX").mfa_on_external_authentication,
            Some(false)
        );
        let none = Policies {
            account: Ok(None),
            users: Err("denied".into()),
        };
        assert_eq!(
            none.for_user("ANY").mfa_on_external_authentication,
            Some(false)
        );
        let unreadable = Policies {
            account: Err("denied".into()),
            users: Err("denied".into()),
        };
        assert_eq!(
            unreadable.for_user("ANY").mfa_on_external_authentication,
            None
        );
    }
}
