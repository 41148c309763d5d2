//! Members' e-mail addresses on the org's verified domains, from GraphQL
//! (`User.organizationVerifiedDomainEmails(login: ORG)`, read through
//! `organization.membersWithRole`): who holds a GitHub account, for telling
//! them and for `report --by person`. The org needs a verified domain and
//! the member an address on it verified on their account; otherwise the
//! list is empty. An address is a convenience, never part of the MFA
//! listing: a query that fails leaves the members without one and the org
//! read as usual.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::graphql::Graphql;
use super::rest::Bearer;
use crate::monitors::MonitorError;

fn query() -> String {
    format!(
        "query($org: String!, $after: String) {{ organization(login: $org) {{ membersWithRole(first: 100, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ login organizationVerifiedDomainEmails(login: $org) }} }} }} {} }}",
        super::enterprise::RATE
    )
}

/// Login (lower case) → the member's first verified-domain address, for
/// every member that has one.
pub async fn verified_domain_emails(
    gql: &Graphql,
    bearer: &Bearer,
    org: &str,
) -> Result<BTreeMap<String, String>, MonitorError> {
    let what =
        format!("GraphQL organization({org}).membersWithRole.organizationVerifiedDomainEmails");
    let nodes = gql
        .connection(
            &what,
            bearer,
            &query(),
            json!({ "org": org }),
            &["organization", "membersWithRole"],
        )
        .await?;
    Ok(nodes.iter().filter_map(address).collect())
}

fn address(node: &Value) -> Option<(String, String)> {
    let login = node.get("login")?.as_str()?;
    let email = node
        .get("organizationVerifiedDomainEmails")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|e| !e.trim().is_empty())?;
    Some((login.to_ascii_lowercase(), email.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_gets_the_first_address_and_one_without_any_is_left_out() {
        let with = json!({"login": "Octo", "organizationVerifiedDomainEmails": ["", "octo@acme.example", "o@acme.example"]});
        assert_eq!(
            address(&with),
            Some(("octo".into(), "octo@acme.example".into()))
        );
        let without = json!({"login": "ghost", "organizationVerifiedDomainEmails": []});
        assert_eq!(address(&without), None);
    }
}
