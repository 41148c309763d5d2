//! Whether the organization manages its member accounts' root credentials
//! (`iam:ListOrganizationsFeatures`) and which account is its management
//! account (`organizations:DescribeOrganization`), read with the monitor's
//! own credentials, which must be the management account's or the
//! delegated administrator's for the first call to answer. Read once per
//! few minutes, not once per account: Organizations' API rate is low.

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_iam::config::retry::RetryConfig;
use tokio::sync::Mutex;
use tracing::{debug, warn};

use super::root::{management_for, RootManagement};

const TTL: Duration = Duration::from_secs(300);

/// What the organization said, or why it could not be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgFeatures {
    Read {
        enabled: Vec<String>,
        management_account: Option<String>,
    },
    /// No organization, or one where the feature cannot be on (not in
    /// all-features mode, IAM trusted access off): no root is centrally
    /// managed.
    NoCentralRoot,
    Unknown(String),
}

impl OrgFeatures {
    pub fn for_account(&self, account_id: &str) -> RootManagement {
        match self {
            OrgFeatures::Read {
                enabled,
                management_account,
            } => management_for(account_id, enabled, management_account.as_deref()),
            OrgFeatures::NoCentralRoot => RootManagement::NotCentral,
            OrgFeatures::Unknown(why) => RootManagement::Unknown(why.clone()),
        }
    }
}

/// Reads the features with `config` (at most two attempts per call: the
/// answer is cached and a failure only keeps roots critical).
pub async fn read(config: &SdkConfig) -> OrgFeatures {
    let config = config
        .to_builder()
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .build();
    read_with(
        &aws_sdk_iam::Client::new(&config),
        &aws_sdk_organizations::Client::new(&config),
    )
    .await
}

/// [`read`] with clients of the monitor's own account.
pub async fn read_with(
    iam: &aws_sdk_iam::Client,
    organizations: &aws_sdk_organizations::Client,
) -> OrgFeatures {
    let features = match iam.list_organizations_features().send().await {
        Ok(out) => out
            .enabled_features
            .unwrap_or_default()
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect::<Vec<_>>(),
        Err(e) => {
            let text = crate::aws::error_text(&e);
            let service = e.into_service_error();
            if service.is_organization_not_found_exception()
                || service.is_organization_not_in_all_features_mode_exception()
                || service.is_service_access_not_enabled_exception()
            {
                debug!(answer = %text, "no centralized root access in this organization");
                return OrgFeatures::NoCentralRoot;
            }
            warn!(error = %text, "iam:ListOrganizationsFeatures failed; roots without credentials stay critical");
            return OrgFeatures::Unknown(format!("iam:ListOrganizationsFeatures: {text}"));
        }
    };
    if !features.iter().any(|f| f == "RootCredentialsManagement") {
        return OrgFeatures::Read {
            enabled: features,
            management_account: None,
        };
    }
    let management_account = match organizations.describe_organization().send().await {
        Ok(out) => out.organization.and_then(|o| o.master_account_id),
        Err(e) => {
            warn!(error = %crate::aws::error_text(&e), "organizations:DescribeOrganization failed; the management account is unknown");
            None
        }
    };
    OrgFeatures::Read {
        enabled: features,
        management_account,
    }
}

/// [`read`] behind a cache of a few minutes.
#[derive(Debug, Default)]
pub struct OrgFeaturesCache {
    cached: Mutex<Option<(Instant, OrgFeatures)>>,
}

impl OrgFeaturesCache {
    pub async fn get(&self, config: &SdkConfig) -> OrgFeatures {
        let mut cached = self.cached.lock().await;
        if let Some((at, features)) = cached.as_ref() {
            if at.elapsed() < TTL {
                return features.clone();
            }
        }
        let features = read(config).await;
        *cached = Some((Instant::now(), features.clone()));
        features
    }
}
