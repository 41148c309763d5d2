//! The IAM monitor on the paths moto cannot play (moto 5.2 ignores
//! `Marker`, has no `<root_account>` report row and always reports
//! `AccountMFAEnabled` = 0): the SDK's own mock client answers with
//! responses of the real shapes.

use aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportOutput;
use aws_sdk_iam::operation::get_account_summary::{
    GetAccountSummaryError, GetAccountSummaryOutput,
};
use aws_sdk_iam::operation::get_credential_report::GetCredentialReportOutput;
use aws_sdk_iam::operation::get_group::GetGroupOutput;
use aws_sdk_iam::operation::list_entities_for_policy::ListEntitiesForPolicyOutput;
use aws_sdk_iam::operation::list_mfa_devices::ListMfaDevicesOutput;
use aws_sdk_iam::operation::list_users::ListUsersOutput;
use aws_sdk_iam::operation::list_virtual_mfa_devices::ListVirtualMfaDevicesOutput;
use aws_sdk_iam::primitives::{Blob, DateTime};
use aws_sdk_iam::types::error::ServiceFailureException;
use aws_sdk_iam::types::{
    Group, MfaDevice, PolicyGroup, PolicyUser, ReportStateType, SummaryKeyType, User,
    VirtualMfaDevice,
};
use aws_sdk_iam::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use mfa_monitor::domain::{MfaStatus, TargetSnapshot};
use mfa_monitor::monitors::aws_iam::{collect_account, ReportPolling};
use mfa_monitor::monitors::MonitorError;

const ACCOUNT: &str = "123456789012";
const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active";

fn polling() -> ReportPolling {
    ReportPolling {
        interval: std::time::Duration::from_millis(1),
        max_wait: std::time::Duration::from_secs(5),
    }
}

fn user(name: &str) -> User {
    User::builder()
        .path("/")
        .user_name(name)
        .user_id(format!("AIDA{}", name.to_uppercase()))
        .arn(format!("arn:aws:iam::{ACCOUNT}:user/{name}"))
        .create_date(DateTime::from_secs(1_600_000_000))
        .build()
        .unwrap()
}

fn report_row(name: &str, password: &str, mfa: &str) -> String {
    let arn = if name == "<root_account>" {
        format!("arn:aws:iam::{ACCOUNT}:root")
    } else {
        format!("arn:aws:iam::{ACCOUNT}:user/{name}")
    };
    format!("{name},{arn},2021-05-06T07:08:09+00:00,{password},N/A,N/A,N/A,{mfa},false")
}

/// The rules every collection needs, for a report and a set of list pages.
struct World {
    report: Vec<String>,
    user_pages: Vec<(Vec<&'static str>, bool, Option<&'static str>)>,
    devices: Vec<(&'static str, &'static str)>,
    account_mfa: Option<i32>,
    admin_group_pages: Vec<(Vec<&'static str>, bool, Option<&'static str>)>,
}

impl World {
    fn rules(&self) -> Vec<Rule> {
        let csv = format!("{HEADER}\n{}\n", self.report.join("\n"));
        let mut rules = vec![
            mock!(Client::generate_credential_report).then_output(|| {
                GenerateCredentialReportOutput::builder()
                    .state(ReportStateType::Complete)
                    .build()
            }),
            mock!(Client::get_credential_report).then_output(move || {
                GetCredentialReportOutput::builder()
                    .content(Blob::new(csv.clone()))
                    .build()
            }),
            mock!(Client::list_virtual_mfa_devices).then_output(|| {
                ListVirtualMfaDevicesOutput::builder()
                    .set_virtual_mfa_devices(Some(vec![VirtualMfaDevice::builder()
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
                        .unwrap()]))
                    .is_truncated(false)
                    .build()
                    .unwrap()
            }),
        ];
        for (i, (names, truncated, marker)) in self.user_pages.iter().cloned().enumerate() {
            let expected_marker = if i == 0 {
                None
            } else {
                self.user_pages[i - 1].2
            };
            rules.push(
                mock!(Client::list_users)
                    .match_requests(move |r| r.marker() == expected_marker)
                    .then_output(move || {
                        ListUsersOutput::builder()
                            .set_users(Some(names.iter().map(|n| user(n)).collect()))
                            .is_truncated(truncated)
                            .set_marker(marker.map(str::to_owned))
                            .build()
                            .unwrap()
                    }),
            );
        }
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
        rules.push(match self.account_mfa {
            Some(v) => mock!(Client::get_account_summary).then_output(move || {
                GetAccountSummaryOutput::builder()
                    .summary_map(SummaryKeyType::AccountMfaEnabled, v)
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
        let has_group = !self.admin_group_pages.is_empty();
        rules.push(
            mock!(Client::list_entities_for_policy).then_output(move || {
                let b = ListEntitiesForPolicyOutput::builder()
                    .policy_users(PolicyUser::builder().user_name("boss").build())
                    .is_truncated(false);
                if has_group {
                    b.policy_groups(PolicyGroup::builder().group_name("admins").build())
                        .build()
                } else {
                    b.build()
                }
            }),
        );
        for (i, (names, truncated, marker)) in self.admin_group_pages.iter().cloned().enumerate() {
            let expected_marker = if i == 0 {
                None
            } else {
                self.admin_group_pages[i - 1].2
            };
            rules.push(
                mock!(Client::get_group)
                    .match_requests(move |r| r.marker() == expected_marker)
                    .then_output(move || {
                        GetGroupOutput::builder()
                            .group(
                                Group::builder()
                                    .path("/")
                                    .group_name("admins")
                                    .group_id("AGPA1")
                                    .arn(format!("arn:aws:iam::{ACCOUNT}:group/admins"))
                                    .create_date(DateTime::from_secs(0))
                                    .build()
                                    .unwrap(),
                            )
                            .set_users(Some(names.iter().map(|n| user(n)).collect()))
                            .is_truncated(truncated)
                            .set_marker(marker.map(str::to_owned))
                            .build()
                            .unwrap()
                    }),
            );
        }
        rules
    }

    async fn collect(&self) -> Result<TargetSnapshot, MonitorError> {
        let rules = self.rules();
        let refs: Vec<&Rule> = rules.iter().collect();
        let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs.as_slice());
        collect_account(&client, ACCOUNT, polling()).await
    }
}

fn base() -> World {
    World {
        report: vec![
            report_row("<root_account>", "not_supported", "true"),
            report_row("boss", "true", "true"),
            report_row("ann", "true", "false"),
        ],
        user_pages: vec![(vec!["boss", "ann"], false, None)],
        devices: vec![("boss", "GAHT12345678")],
        account_mfa: Some(1),
        admin_group_pages: vec![],
    }
}

fn status(s: &TargetSnapshot, name: &str) -> MfaStatus {
    s.principals
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .status
}

#[tokio::test]
async fn users_on_every_page_of_list_users_are_collected() {
    let mut w = base();
    w.user_pages = vec![
        (vec!["boss"], true, Some("page-2")),
        (vec!["ann"], true, Some("page-3")),
        (vec!["zed"], false, None),
    ];
    w.report.push(report_row("zed", "true", "false"));
    let s = w.collect().await.unwrap();
    let names: Vec<&str> = s.principals.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["<root>", "ann", "boss", "zed"]);
}

#[tokio::test]
async fn a_truncated_page_without_a_marker_fails_the_account_instead_of_shrinking_it() {
    let mut w = base();
    w.user_pages = vec![(vec!["boss"], true, None)];
    let err = w.collect().await.unwrap_err();
    assert!(matches!(err, MonitorError::Incomplete(_)), "{err}");
    assert!(err.to_string().contains("iam:ListUsers"), "{err}");
}

#[tokio::test]
async fn the_root_is_enabled_when_account_mfa_enabled_says_so_and_is_an_admin() {
    let s = base().collect().await.unwrap();
    let root = s.principals.iter().find(|p| p.name == "<root>").unwrap();
    assert_eq!(root.status, MfaStatus::Enabled);
    assert!(root.attributes.admin);
    assert_eq!(root.attributes.mfa_devices, ["virtual"]);
    assert_eq!(s.settings.root_mfa_enabled, Some(true));
}

#[tokio::test]
async fn without_the_account_summary_the_root_comes_from_the_report_row() {
    let mut w = base();
    w.account_mfa = None;
    let s = w.collect().await.unwrap();
    assert_eq!(status(&s, "<root>"), MfaStatus::Enabled);
    assert_eq!(s.settings.root_mfa_enabled, None);

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
async fn an_sms_device_is_insecure_and_a_u2f_key_or_hardware_token_is_enabled() {
    let mut w = base();
    w.report = vec![
        report_row("boss", "true", "true"),
        report_row("ann", "true", "true"),
        report_row("kim", "true", "true"),
    ];
    w.user_pages = vec![(vec!["boss", "ann", "kim"], false, None)];
    w.devices = vec![
        ("boss", "GAHT12345678"),
        ("ann", "arn:aws:iam::123456789012:sms-mfa/ann"),
        (
            "kim",
            "arn:aws:iam::123456789012:u2f/user/kim/yubikey-ABCDEF",
        ),
    ];
    let s = w.collect().await.unwrap();
    assert_eq!(status(&s, "boss"), MfaStatus::Enabled);
    assert_eq!(status(&s, "ann"), MfaStatus::Insecure);
    assert_eq!(status(&s, "kim"), MfaStatus::Enabled);
    let kim = s.principals.iter().find(|p| p.name == "kim").unwrap();
    assert_eq!(kim.attributes.mfa_devices, ["u2f"]);
}

#[tokio::test]
async fn members_on_every_page_of_an_admin_group_are_admins() {
    let mut w = base();
    w.user_pages = vec![(vec!["boss", "ann", "zed"], false, None)];
    w.report.push(report_row("zed", "true", "false"));
    w.admin_group_pages = vec![(vec!["ann"], true, Some("g2")), (vec!["zed"], false, None)];
    let s = w.collect().await.unwrap();
    for name in ["boss", "ann", "zed"] {
        let p = s.principals.iter().find(|p| p.name == name).unwrap();
        assert!(p.attributes.admin, "{name} should be admin");
    }
}

#[tokio::test]
async fn a_user_missing_from_the_report_is_read_live_and_a_deleted_one_is_dropped() {
    let mut w = base();
    w.report.push(report_row("gone", "true", "false"));
    w.user_pages = vec![(vec!["boss", "ann", "fresh"], false, None)];
    // `fresh` is newer than the report: its console password is read live.
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
    let s = collect_account(&client, ACCOUNT, polling()).await.unwrap();
    assert_eq!(status(&s, "fresh"), MfaStatus::Disabled);
    assert!(s.principals.iter().all(|p| p.name != "gone"));
    assert_eq!(login.num_calls(), 1);
}

#[tokio::test]
async fn an_access_denied_listing_fails_the_account_with_the_operation_named() {
    let w = base();
    let mut rules: Vec<Rule> = w.rules().into_iter().collect();
    let denied = mock!(Client::list_virtual_mfa_devices).then_error(|| {
        aws_sdk_iam::operation::list_virtual_mfa_devices::ListVirtualMFADevicesError::unhandled(
            "AccessDenied: User is not authorized to perform: iam:ListVirtualMFADevices",
        )
    });
    // The denial must win over the base world's answer: put it first.
    rules.insert(0, denied);
    let refs: Vec<&Rule> = rules.iter().collect();
    let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, refs.as_slice());
    let err = collect_account(&client, ACCOUNT, polling())
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
