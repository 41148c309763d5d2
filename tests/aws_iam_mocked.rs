//! The IAM monitor on the paths moto cannot play (moto 5.2 ignores
//! `Marker`, has no `<root_account>` report row, no `AccountPasswordPresent`,
//! no `ListOrganizationsFeatures`, always reports `AccountMFAEnabled` = 0,
//! and cannot register a FIDO device): the SDK's own mock client answers
//! with responses of the real shapes (policy documents URL-encoded, as IAM
//! sends them).

use std::collections::HashMap;

use aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportOutput;
use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
use aws_sdk_iam::operation::get_account_summary::{
    GetAccountSummaryError, GetAccountSummaryOutput,
};
use aws_sdk_iam::operation::get_credential_report::GetCredentialReportOutput;
use aws_sdk_iam::operation::get_policy::GetPolicyOutput;
use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
use aws_sdk_iam::operation::list_mfa_devices::{ListMFADevicesError, ListMfaDevicesOutput};
use aws_sdk_iam::operation::list_organizations_features::{
    ListOrganizationsFeaturesError, ListOrganizationsFeaturesOutput,
};
use aws_sdk_iam::operation::list_virtual_mfa_devices::ListVirtualMfaDevicesOutput;
use aws_sdk_iam::primitives::{Blob, DateTime};
use aws_sdk_iam::types::error::{
    AccountNotManagementOrDelegatedAdministratorException, ServiceFailureException,
};
use aws_sdk_iam::types::{
    AttachedPolicy, FeatureType, GroupDetail, ManagedPolicyDetail, MfaDevice, Policy, PolicyDetail,
    PolicyVersion, ReportStateType, SummaryKeyType, User, UserDetail, VirtualMfaDevice,
};
use aws_sdk_iam::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use mfa_monitor::domain::{MfaStatus, TargetSnapshot};
use mfa_monitor::monitors::aws_iam::org_features::{read_with, OrgFeatures};
use mfa_monitor::monitors::aws_iam::{
    collect_account, AimdBounds, ReadOptions, ReportPolling, RootManagement,
};
use mfa_monitor::monitors::MonitorError;

const ACCOUNT: &str = "123456789012";
const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";
const CREATED: i64 = 1_620_284_889; // 2021-05-06T07:08:09Z
const ADMIN_ARN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
/// `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
/// URL-encoded, as IAM returns documents.
const ADMIN_DOC: &str = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
/// `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["iam:*"],"Resource":["*"]}}`
const IAM_STAR_DOC: &str = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22iam%3A%2A%22%5D%2C%22Resource%22%3A%5B%22%2A%22%5D%7D%7D";
/// `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}}`
const READ_DOC: &str = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGet%2A%22%2C%22Resource%22%3A%22%2A%22%7D%7D";

fn options() -> ReadOptions {
    ReadOptions {
        polling: ReportPolling {
            interval: std::time::Duration::from_millis(1),
            max_wait: std::time::Duration::from_secs(5),
        },
        root_management: RootManagement::NotCentral,
        per_user: AimdBounds::default(),
        ..ReadOptions::default()
    }
}

fn report_row(name: &str, password: &str, mfa: &str) -> String {
    let arn = if name == "<root_account>" {
        format!("arn:aws:iam::{ACCOUNT}:root")
    } else {
        format!("arn:aws:iam::{ACCOUNT}:user/{name}")
    };
    format!("{name},{arn},2021-05-06T07:08:09+00:00,{password},N/A,N/A,N/A,{mfa},false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A")
}

fn user_detail(name: &str, groups: &[&str], managed: &[&str], inline: Option<&str>) -> UserDetail {
    let mut b = UserDetail::builder()
        .path("/")
        .user_name(name)
        .user_id(format!("AIDA{}", name.to_uppercase()))
        .arn(format!("arn:aws:iam::{ACCOUNT}:user/{name}"))
        .create_date(DateTime::from_secs(CREATED))
        .set_group_list(Some(groups.iter().map(|g| g.to_string()).collect()));
    for arn in managed {
        b = b.attached_managed_policies(
            AttachedPolicy::builder()
                .policy_arn(*arn)
                .policy_name(arn.rsplit('/').next().unwrap())
                .build(),
        );
    }
    if let Some(doc) = inline {
        b = b.user_policy_list(
            PolicyDetail::builder()
                .policy_name("inline")
                .policy_document(doc)
                .build(),
        );
    }
    b.build()
}

/// One page of `GetAccountAuthorizationDetails`.
#[derive(Clone, Default)]
struct Page {
    users: Vec<UserDetail>,
    groups: Vec<GroupDetail>,
    policies: Vec<ManagedPolicyDetail>,
    marker: Option<&'static str>,
    truncated: bool,
}

/// The rules every collection needs.
struct World {
    report: Vec<String>,
    pages: Vec<Page>,
    devices: Vec<(&'static str, &'static str)>,
    summary: Option<Vec<(SummaryKeyType, i32)>>,
    root_virtual: bool,
    /// `GeneratedTime` of the report (seconds).
    generated: i64,
}

impl World {
    fn rules(&self) -> Vec<Rule> {
        let csv = format!("{HEADER}\n{}\n", self.report.join("\n"));
        let root_virtual = self.root_virtual;
        let generated = self.generated;
        let mut rules = vec![
            mock!(Client::generate_credential_report).then_output(|| {
                GenerateCredentialReportOutput::builder()
                    .state(ReportStateType::Complete)
                    .build()
            }),
            mock!(Client::get_credential_report).then_output(move || {
                GetCredentialReportOutput::builder()
                    .content(Blob::new(csv.clone()))
                    .generated_time(DateTime::from_secs(generated))
                    .build()
            }),
            mock!(Client::list_virtual_mfa_devices).then_output(move || {
                let root = VirtualMfaDevice::builder()
                    .serial_number(format!(
                        "arn:aws:iam::{ACCOUNT}:mfa/root-account-mfa-device"
                    ))
                    .user(
                        User::builder()
                            .path("/")
                            .user_name("root")
                            .user_id(ACCOUNT)
                            .arn(format!("arn:aws:iam::{ACCOUNT}:root"))
                            .create_date(DateTime::from_secs(0))
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap();
                ListVirtualMfaDevicesOutput::builder()
                    .set_virtual_mfa_devices(Some(if root_virtual { vec![root] } else { vec![] }))
                    .is_truncated(false)
                    .build()
                    .unwrap()
            }),
            mock!(Client::get_policy)
                .match_requests(|r| r.policy_arn() == Some(ADMIN_ARN))
                .then_output(|| {
                    GetPolicyOutput::builder()
                        .policy(
                            Policy::builder()
                                .policy_name("AdministratorAccess")
                                .arn(ADMIN_ARN)
                                .default_version_id("v1")
                                .build(),
                        )
                        .build()
                }),
            mock!(Client::get_policy_version)
                .match_requests(|r| {
                    r.policy_arn() == Some(ADMIN_ARN) && r.version_id() == Some("v1")
                })
                .then_output(|| {
                    GetPolicyVersionOutput::builder()
                        .policy_version(
                            PolicyVersion::builder()
                                .version_id("v1")
                                .is_default_version(true)
                                .document(ADMIN_DOC)
                                .build(),
                        )
                        .build()
                }),
        ];
        for (i, page) in self.pages.iter().cloned().enumerate() {
            let expected = if i == 0 {
                None
            } else {
                self.pages[i - 1].marker
            };
            rules.push(
                mock!(Client::get_account_authorization_details)
                    .match_requests(move |r| r.marker() == expected)
                    .then_output(move || {
                        GetAccountAuthorizationDetailsOutput::builder()
                            .set_user_detail_list(Some(page.users.clone()))
                            .set_group_detail_list(Some(page.groups.clone()))
                            .set_policies(Some(page.policies.clone()))
                            .is_truncated(page.truncated)
                            .set_marker(page.marker.map(str::to_owned))
                            .build()
                    }),
            );
        }
        rules.push(match self.summary.clone() {
            Some(pairs) => mock!(Client::get_account_summary).then_output(move || {
                GetAccountSummaryOutput::builder()
                    .set_summary_map(Some(pairs.iter().cloned().collect::<HashMap<_, _>>()))
                    .build()
            }),
            None => mock!(Client::get_account_summary).then_error(|| {
                GetAccountSummaryError::ServiceFailureException(
                    ServiceFailureException::builder()
                        .message("IAM is having a bad day")
                        .build(),
                )
            }),
        });
        // Last, so that tests can count its calls.
        let devices = self.devices.clone();
        rules.push(
            mock!(Client::list_mfa_devices).then_compute_output(move |req| {
                let name = req.user_name().unwrap_or_default().to_owned();
                let mine: Vec<MfaDevice> = devices
                    .iter()
                    .filter(|(u, _)| *u == name)
                    .map(|(u, serial)| {
                        MfaDevice::builder()
                            .user_name(*u)
                            .serial_number(*serial)
                            .enable_date(DateTime::from_secs(1_700_000_000))
                            .build()
                            .unwrap()
                    })
                    .collect();
                ListMfaDevicesOutput::builder()
                    .set_mfa_devices(Some(mine))
                    .is_truncated(false)
                    .build()
                    .unwrap()
            }),
        );
        rules
    }

    async fn collect_with(&self, options: &ReadOptions) -> Result<TargetSnapshot, MonitorError> {
        let rules = self.rules();
        let refs: Vec<&Rule> = rules.iter().collect();
        let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs.as_slice());
        collect_account(&client, ACCOUNT, options).await
    }

    async fn collect(&self) -> Result<TargetSnapshot, MonitorError> {
        self.collect_with(&options()).await
    }
}

fn summary(mfa: i32, password: i32, keys: i32, certs: i32) -> Vec<(SummaryKeyType, i32)> {
    vec![
        (SummaryKeyType::AccountMfaEnabled, mfa),
        (SummaryKeyType::AccountPasswordPresent, password),
        (SummaryKeyType::AccountAccessKeysPresent, keys),
        (SummaryKeyType::AccountSigningCertificatesPresent, certs),
        (SummaryKeyType::Users, 2),
    ]
}

fn base() -> World {
    World {
        report: vec![
            report_row("<root_account>", "not_supported", "true"),
            report_row("boss", "true", "true"),
            report_row("ann", "true", "false"),
        ],
        pages: vec![Page {
            users: vec![
                user_detail("boss", &[], &[ADMIN_ARN], None),
                user_detail("ann", &[], &[], None),
            ],
            ..Page::default()
        }],
        devices: vec![("boss", "GAHT12345678")],
        summary: Some(summary(1, 1, 0, 0)),
        root_virtual: true,
        generated: CREATED + 3600,
    }
}

fn find<'a>(s: &'a TargetSnapshot, name: &str) -> &'a mfa_monitor::domain::Observation {
    s.principals
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn status(s: &TargetSnapshot, name: &str) -> MfaStatus {
    find(s, name).status
}

#[tokio::test]
async fn users_on_every_page_of_the_authorization_details_are_collected() {
    let mut w = base();
    w.pages = vec![
        Page {
            users: vec![user_detail("boss", &[], &[ADMIN_ARN], None)],
            marker: Some("page-2"),
            truncated: true,
            ..Page::default()
        },
        Page {
            users: vec![user_detail("ann", &[], &[], None)],
            marker: Some("page-3"),
            truncated: true,
            ..Page::default()
        },
        Page {
            users: vec![user_detail("zed", &["ops"], &[], None)],
            groups: vec![GroupDetail::builder()
                .group_name("ops")
                .group_policy_list(
                    PolicyDetail::builder()
                        .policy_name("everything")
                        .policy_document(ADMIN_DOC)
                        .build(),
                )
                .build()],
            ..Page::default()
        },
    ];
    w.report.push(report_row("zed", "true", "false"));
    let s = w.collect().await.unwrap();
    let names: Vec<&str> = s.principals.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["<root>", "ann", "boss", "zed"]);
    assert!(
        find(&s, "zed").attributes.admin,
        "a group on the last page makes zed an admin"
    );
}

#[tokio::test]
async fn a_truncated_page_without_a_marker_fails_the_account_instead_of_shrinking_it() {
    let mut w = base();
    w.pages[0].truncated = true;
    let err = w.collect().await.unwrap_err();
    assert!(matches!(err, MonitorError::Incomplete(_)), "{err}");
    assert!(
        err.to_string()
            .contains("iam:GetAccountAuthorizationDetails"),
        "{err}"
    );
}

#[tokio::test]
async fn admins_through_an_aws_managed_a_customer_managed_an_inline_and_a_group_policy() {
    let mut w = base();
    let custom = format!("arn:aws:iam::{ACCOUNT}:policy/iam-everything");
    let reader = format!("arn:aws:iam::{ACCOUNT}:policy/reader");
    let version = |doc: &str, default: bool, id: &str| {
        PolicyVersion::builder()
            .document(doc)
            .is_default_version(default)
            .version_id(id)
            .build()
    };
    w.pages = vec![Page {
        users: vec![
            user_detail("boss", &[], &[ADMIN_ARN], None),
            user_detail("ann", &[], &[], Some(ADMIN_DOC)),
            user_detail("cm", &[], &[custom.as_str()], None),
            user_detail("grouped", &["admins"], &[], None),
            user_detail("reader", &["readers"], &[reader.as_str()], Some(READ_DOC)),
        ],
        groups: vec![
            GroupDetail::builder()
                .group_name("admins")
                .attached_managed_policies(AttachedPolicy::builder().policy_arn(&custom).build())
                .build(),
            GroupDetail::builder().group_name("readers").build(),
        ],
        policies: vec![
            // Only the default version counts: v1 allowed everything once.
            ManagedPolicyDetail::builder()
                .arn(&reader)
                .default_version_id("v2")
                .policy_version_list(version(ADMIN_DOC, false, "v1"))
                .policy_version_list(version(READ_DOC, true, "v2"))
                .build(),
            ManagedPolicyDetail::builder()
                .arn(&custom)
                .default_version_id("v1")
                .policy_version_list(version(IAM_STAR_DOC, true, "v1"))
                .build(),
        ],
        ..Page::default()
    }];
    for u in ["cm", "grouped", "reader"] {
        w.report.push(report_row(u, "true", "false"));
    }
    let s = w.collect().await.unwrap();
    for name in ["boss", "ann", "cm", "grouped"] {
        assert!(find(&s, name).attributes.admin, "{name} should be admin");
    }
    assert!(!find(&s, "reader").attributes.admin);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[tokio::test]
async fn the_root_is_enabled_when_account_mfa_enabled_says_so_and_is_an_admin() {
    let s = base().collect().await.unwrap();
    let root = find(&s, "<root>");
    assert_eq!(root.status, MfaStatus::Enabled);
    assert!(root.attributes.admin);
    assert_eq!(root.attributes.mfa_devices, ["virtual"]);
    assert_eq!(s.settings.root_mfa_enabled, Some(true));
}

#[tokio::test]
async fn a_member_account_without_root_credentials_has_a_not_applicable_root() {
    let mut w = base();
    w.report[0] = report_row("<root_account>", "not_supported", "false");
    w.summary = Some(summary(0, 0, 0, 0));
    w.root_virtual = false;
    let mut central = options();
    central.root_management = RootManagement::Central;
    let s = w.collect_with(&central).await.unwrap();
    let root = find(&s, "<root>");
    assert_eq!(root.status, MfaStatus::NotApplicable);
    assert!(
        !root.attributes.console_login,
        "a root without credentials cannot sign in"
    );
    assert!(root.attributes.admin);

    // The same account while the organization's answer is unknown: critical, and said why.
    let mut unknown = options();
    unknown.root_management = RootManagement::Unknown("AccessDenied".into());
    let s = w.collect_with(&unknown).await.unwrap();
    assert_eq!(status(&s, "<root>"), MfaStatus::Disabled);
    assert!(
        s.warnings
            .iter()
            .any(|x| x.contains("centralized root access")),
        "{:?}",
        s.warnings
    );
}

#[tokio::test]
async fn a_root_with_a_password_and_no_mfa_stays_disabled_under_central_management() {
    let mut w = base();
    w.report[0] = report_row("<root_account>", "not_supported", "false");
    w.summary = Some(summary(0, 1, 0, 0));
    w.root_virtual = false;
    let mut central = options();
    central.root_management = RootManagement::Central;
    let s = w.collect_with(&central).await.unwrap();
    let root = find(&s, "<root>");
    assert_eq!(root.status, MfaStatus::Disabled);
    assert!(root.attributes.admin && root.attributes.console_login);
}

#[tokio::test]
async fn without_the_account_summary_the_root_comes_from_the_report_row() {
    let mut w = base();
    w.summary = None;
    let s = w.collect().await.unwrap();
    assert_eq!(status(&s, "<root>"), MfaStatus::Enabled);
    assert_eq!(s.settings.root_mfa_enabled, Some(true));

    w.report[0] = report_row("<root_account>", "not_supported", "false");
    assert_eq!(
        status(&w.collect().await.unwrap(), "<root>"),
        MfaStatus::Disabled
    );

    w.report.remove(0);
    assert_eq!(
        status(&w.collect().await.unwrap(), "<root>"),
        MfaStatus::Unknown,
        "never guessed"
    );
}

#[tokio::test]
async fn a_passkey_or_security_key_is_enabled_and_shown_as_u2f_and_sms_is_insecure() {
    let mut w = base();
    w.report = vec![
        report_row("boss", "true", "true"),
        report_row("ann", "true", "true"),
        report_row("kim", "true", "true"),
    ];
    w.pages[0].users.push(user_detail("kim", &[], &[], None));
    w.devices = vec![
        ("boss", "GAHT12345678"),
        ("ann", "arn:aws:iam::123456789012:sms-mfa/ann"),
        (
            "kim",
            "arn:aws:iam::123456789012:u2f/user/kim/passkey-7F3A2B1C9D",
        ),
    ];
    let s = w.collect().await.unwrap();
    assert_eq!(status(&s, "boss"), MfaStatus::Enabled);
    assert_eq!(find(&s, "boss").attributes.mfa_devices, ["hardware"]);
    assert_eq!(status(&s, "ann"), MfaStatus::Insecure);
    assert_eq!(status(&s, "kim"), MfaStatus::Enabled);
    assert_eq!(find(&s, "kim").attributes.mfa_devices, ["u2f"]);
}

#[tokio::test]
async fn per_user_reads_happen_only_where_they_can_change_the_answer() {
    let mut w = base();
    // ann: password, no MFA in the report, no virtual device: no call.
    // boss: MFA in the report, no virtual device: devices read live.
    // svc: no password in an older report: its login profile read live.
    w.report.push(report_row("svc", "false", "false"));
    w.pages[0].users.push(user_detail("svc", &[], &[], None));
    let rules = w.rules();
    let login = mock!(Client::get_login_profile).then_error(|| {
        aws_sdk_iam::operation::get_login_profile::GetLoginProfileError::NoSuchEntityException(
            aws_sdk_iam::types::error::NoSuchEntityException::builder()
                .message("Login Profile for User svc cannot be found.")
                .build(),
        )
    });
    let mut refs: Vec<&Rule> = rules.iter().collect();
    refs.push(&login);
    let devices = rules.last().expect("the device listing rule is last");
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs.as_slice());
    let s = collect_account(&client, ACCOUNT, &options()).await.unwrap();
    assert_eq!(status(&s, "ann"), MfaStatus::Disabled);
    assert_eq!(status(&s, "boss"), MfaStatus::Enabled);
    assert_eq!(status(&s, "svc"), MfaStatus::NotApplicable);
    assert_eq!(login.num_calls(), 1, "only svc's login profile");
    assert_eq!(devices.num_calls(), 1, "only boss's devices");
}

#[tokio::test]
async fn a_user_missing_from_the_report_is_read_live_and_a_deleted_one_is_dropped() {
    let mut w = base();
    w.report.push(report_row("gone", "true", "false"));
    w.pages[0].users.push(user_detail("fresh", &[], &[], None));
    let rules = w.rules();
    let login = mock!(Client::get_login_profile).then_output(|| {
        aws_sdk_iam::operation::get_login_profile::GetLoginProfileOutput::builder()
            .login_profile(
                aws_sdk_iam::types::LoginProfile::builder()
                    .user_name("fresh")
                    .create_date(DateTime::from_secs(0))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let mut refs: Vec<&Rule> = rules.iter().collect();
    refs.push(&login);
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs.as_slice());
    let s = collect_account(&client, ACCOUNT, &options()).await.unwrap();
    assert_eq!(status(&s, "fresh"), MfaStatus::Disabled);
    assert!(find(&s, "fresh").attributes.console_login);
    assert!(s.principals.iter().all(|p| p.name != "gone"));
    assert_eq!(login.num_calls(), 1);
}

#[tokio::test]
async fn a_report_row_of_a_user_deleted_and_created_again_is_not_trusted() {
    let mut w = base();
    // ann was created again after the report: her old row says no password.
    w.report[2] = report_row("ann", "false", "false");
    w.pages[0].users[1] = UserDetail::builder()
        .user_name("ann")
        .create_date(DateTime::from_secs(CREATED + 600))
        .build();
    let rules = w.rules();
    let login = mock!(Client::get_login_profile).then_output(|| {
        aws_sdk_iam::operation::get_login_profile::GetLoginProfileOutput::builder()
            .login_profile(
                aws_sdk_iam::types::LoginProfile::builder()
                    .user_name("ann")
                    .create_date(DateTime::from_secs(0))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let mut refs: Vec<&Rule> = rules.iter().collect();
    refs.push(&login);
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs.as_slice());
    let s = collect_account(&client, ACCOUNT, &options()).await.unwrap();
    assert_eq!(
        status(&s, "ann"),
        MfaStatus::Disabled,
        "a console user, read live"
    );
    assert_eq!(login.num_calls(), 1);
}

#[tokio::test]
async fn throttled_per_user_reads_are_retried_and_the_answer_is_exact() {
    let w = base();
    let mut rules = w.rules();
    let throttled = mock!(Client::list_mfa_devices)
        .sequence()
        .error(|| {
            ListMFADevicesError::generic(
                aws_sdk_iam::error::ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .times(3)
        .build();
    rules.insert(0, throttled);
    let refs: Vec<&Rule> = rules.iter().collect();
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs.as_slice());
    let s = collect_account(&client, ACCOUNT, &options()).await.unwrap();
    assert_eq!(status(&s, "boss"), MfaStatus::Enabled);
    assert_eq!(find(&s, "boss").attributes.mfa_devices, ["hardware"]);
    assert_eq!(rules[0].num_calls(), 3);
}

#[tokio::test]
async fn an_access_denied_listing_fails_the_account_with_the_operation_named() {
    let w = base();
    let mut rules: Vec<Rule> = w.rules();
    let denied = mock!(Client::list_virtual_mfa_devices).then_error(|| {
        aws_sdk_iam::operation::list_virtual_mfa_devices::ListVirtualMFADevicesError::unhandled(
            "AccessDenied: User is not authorized to perform: iam:ListVirtualMFADevices",
        )
    });
    // The denial must win over the base world's answer: put it first.
    rules.insert(0, denied);
    let refs: Vec<&Rule> = rules.iter().collect();
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs.as_slice());
    let err = collect_account(&client, ACCOUNT, &options())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MonitorError::Call {
                operation: "iam:ListVirtualMFADevices",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn the_organizations_root_credentials_management_is_read_from_the_management_account() {
    use aws_sdk_organizations::operation::describe_organization::DescribeOrganizationOutput;
    use aws_sdk_organizations::types::Organization;
    let features = mock!(Client::list_organizations_features).then_output(|| {
        ListOrganizationsFeaturesOutput::builder()
            .organization_id("o-a1b2c3d4e5")
            .enabled_features(FeatureType::RootCredentialsManagement)
            .enabled_features(FeatureType::RootSessions)
            .build()
    });
    let org = mock!(aws_sdk_organizations::Client::describe_organization).then_output(|| {
        DescribeOrganizationOutput::builder()
            .organization(
                Organization::builder()
                    .id("o-a1b2c3d4e5")
                    .master_account_id("111111111111")
                    .build(),
            )
            .build()
    });
    let iam = mock_client!(aws_sdk_iam, [&features]);
    let orgs = mock_client!(aws_sdk_organizations, [&org]);
    let read = read_with(&iam, &orgs).await;
    assert_eq!(read.for_account(ACCOUNT), RootManagement::Central);
    assert_eq!(read.for_account("111111111111"), RootManagement::NotCentral);

    let not_admin = mock!(Client::list_organizations_features).then_error(|| {
        ListOrganizationsFeaturesError::AccountNotManagementOrDelegatedAdministratorException(
            AccountNotManagementOrDelegatedAdministratorException::builder()
                .message("The request was rejected because the account making the request is not the management account or delegated administrator account for centralized root access.")
                .build(),
        )
    });
    let iam = mock_client!(aws_sdk_iam, [&not_admin]);
    let read = read_with(&iam, &orgs).await;
    assert!(
        matches!(read, OrgFeatures::Unknown(ref why) if why.contains("not the management account")),
        "{read:?}"
    );
    assert!(matches!(
        read.for_account(ACCOUNT),
        RootManagement::Unknown(_)
    ));
}

fn login_profile(name: &'static str) -> Rule {
    mock!(Client::get_login_profile).then_output(move || {
        aws_sdk_iam::operation::get_login_profile::GetLoginProfileOutput::builder()
            .login_profile(
                aws_sdk_iam::types::LoginProfile::builder()
                    .user_name(name)
                    .create_date(DateTime::from_secs(0))
                    .build()
                    .unwrap(),
            )
            .build()
    })
}

#[tokio::test]
async fn a_console_password_added_since_an_older_report_shows_on_the_next_pass() {
    let mut w = base();
    // The report (an hour after creation, long ago) says svc has no password.
    w.report.push(report_row("svc", "false", "false"));
    w.pages[0].users.push(user_detail("svc", &[], &[], None));
    let rules = w.rules();
    let login = login_profile("svc");
    let mut refs: Vec<&Rule> = rules.iter().collect();
    refs.push(&login);
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs.as_slice());
    let s = collect_account(&client, ACCOUNT, &options()).await.unwrap();
    let svc = find(&s, "svc");
    assert_eq!(
        svc.status,
        MfaStatus::Disabled,
        "a console user without MFA now"
    );
    assert!(svc.attributes.console_login);
    assert_eq!(login.num_calls(), 1);
}

#[tokio::test]
async fn a_report_generated_by_this_pass_is_trusted_without_login_profile_reads() {
    let mut w = base();
    w.generated = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    w.report.push(report_row("svc", "false", "false"));
    w.pages[0].users.push(user_detail("svc", &[], &[], None));
    let rules = w.rules();
    let login = login_profile("svc");
    let mut refs: Vec<&Rule> = rules.iter().collect();
    refs.push(&login);
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs.as_slice());
    let s = collect_account(&client, ACCOUNT, &options()).await.unwrap();
    let svc = find(&s, "svc");
    assert_eq!(svc.status, MfaStatus::NotApplicable);
    assert_eq!(
        svc.attributes.reason,
        Some(mfa_monitor::domain::NaReason::NoConsolePassword)
    );
    assert_eq!(login.num_calls(), 0, "the report is current: no live read");
}
