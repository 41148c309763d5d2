//! MFA devices: one account-wide listing of virtual devices, and a
//! per-user listing only for the users whose answer it can change.
//!
//! AWS tells device kinds apart by serial number: a virtual (TOTP) device
//! is `arn:aws:iam::ACCOUNT:mfa/NAME`, a FIDO security key or passkey
//! `arn:aws:iam::ACCOUNT:u2f/user/NAME/LABEL`, the retired SMS factor
//! `…:sms-mfa/NAME`, and a hardware TOTP token a bare serial (`GAHT…`).

use std::collections::BTreeSet;

use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::types::AssignmentStatusType;

use super::limiter::Aimd;
use super::paging::{all_pages, call, limited};
use crate::domain::{MfaDevice, MfaStatus};
use crate::monitors::MonitorError;

/// The kind of an MFA device from its serial number.
pub fn device_kind(serial: &str) -> MfaDevice {
    if serial.contains(":sms-mfa/") {
        MfaDevice::Sms
    } else if serial.contains(":u2f/") {
        // FIDO2 passkeys and FIDO U2F security keys share this prefix.
        MfaDevice::U2f
    } else if serial.contains(":mfa/") {
        MfaDevice::Virtual
    } else {
        MfaDevice::Hardware
    }
}

pub fn status_from_kinds(kinds: &[MfaDevice]) -> MfaStatus {
    if kinds.iter().any(|k| !k.is_weak()) {
        MfaStatus::Enabled
    } else if kinds.is_empty() {
        MfaStatus::Disabled
    } else {
        MfaStatus::Insecure
    }
}

/// Users holding an assigned virtual MFA device, and whether root does.
pub async fn virtual_devices(
    iam: &aws_sdk_iam::Client,
) -> Result<(BTreeSet<String>, bool), MonitorError> {
    let devices = all_pages("iam:ListVirtualMFADevices", |marker| async move {
        let out = iam
            .list_virtual_mfa_devices()
            .assignment_status(AssignmentStatusType::Assigned)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| call("iam:ListVirtualMFADevices", e))?;
        Ok((out.virtual_mfa_devices, out.is_truncated, out.marker))
    })
    .await?;
    let mut users = BTreeSet::new();
    let mut root = false;
    for device in devices {
        let Some(user) = device.user else { continue };
        if user.arn.ends_with(":root") {
            root = true;
        } else {
            users.insert(user.user_name);
        }
    }
    Ok((users, root))
}

/// The SDK's own retries are off for per-user reads: [`limited`] retries
/// them, so that the limiter sees every throttled attempt.
pub fn no_sdk_retries() -> aws_sdk_iam::config::Builder {
    aws_sdk_iam::config::Builder::default().retry_config(RetryConfig::disabled())
}

/// Every device of one user (all pages), as kinds.
pub async fn device_kinds(
    iam: &aws_sdk_iam::Client,
    limiter: &Aimd,
    user: &str,
) -> Result<Vec<MfaDevice>, MonitorError> {
    let devices = all_pages("iam:ListMFADevices", |marker| async move {
        let out = limited(limiter, "iam:ListMFADevices", || {
            iam.list_mfa_devices()
                .user_name(user)
                .set_marker(marker.clone())
                .customize()
                .config_override(no_sdk_retries())
                .send()
        })
        .await?
        .map_err(|e| call("iam:ListMFADevices", e))?;
        Ok((out.mfa_devices, out.is_truncated, out.marker))
    })
    .await?;
    let kinds: BTreeSet<MfaDevice> = devices
        .iter()
        .map(|d| device_kind(&d.serial_number))
        .collect();
    Ok(kinds.into_iter().collect())
}

/// Whether the user has a console password now (`GetLoginProfile`;
/// `NoSuchEntity` means none).
pub async fn has_console_password(
    iam: &aws_sdk_iam::Client,
    limiter: &Aimd,
    user: &str,
) -> Result<bool, MonitorError> {
    let answer = limited(limiter, "iam:GetLoginProfile", || {
        iam.get_login_profile()
            .user_name(user)
            .customize()
            .config_override(no_sdk_retries())
            .send()
    })
    .await?;
    match answer {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(call("iam:GetLoginProfile", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_kinds_come_from_the_serial_number() {
        assert_eq!(
            device_kind("arn:aws:iam::123456789012:mfa/alice"),
            "virtual"
        );
        assert_eq!(
            device_kind("arn:aws:iam::123456789012:u2f/user/alice/key-ABC"),
            "u2f"
        );
        assert_eq!(
            device_kind("arn:aws:iam::123456789012:u2f/user/alice/passkey-7F3A2B1C"),
            "u2f",
            "a passkey is listed like a security key"
        );
        assert_eq!(
            device_kind("arn:aws:iam::123456789012:sms-mfa/alice"),
            "sms"
        );
        assert_eq!(device_kind("GAHT12345678"), "hardware");
        assert_eq!(status_from_kinds(&[MfaDevice::Sms]), MfaStatus::Insecure);
        assert_eq!(
            status_from_kinds(&[MfaDevice::Sms, MfaDevice::U2f]),
            MfaStatus::Enabled
        );
        assert_eq!(status_from_kinds(&[]), MfaStatus::Disabled);
    }
}
