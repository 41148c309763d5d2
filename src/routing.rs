//! Reads the routing file's text from where `MFA_ROUTES_FILE` or
//! `MFA_ROUTES_PARAMETER` says, and checks it (`config/routes.rs`): once,
//! when the app is built. A file that cannot be read or is wrong is a
//! configuration error naming the variable (and the line); a parameter
//! that cannot be read for a reason that may pass (throttling, the
//! network) is [`BuildError::Unavailable`]-like: the Lambda tries again.
//!
//! SSM `GetParameter` with `WithDecryption` reads String and SecureString
//! parameters alike (the flag is ignored for a String):
//! https://docs.aws.amazon.com/sdk-for-ruby/v3/api/Aws/SSM/Types/GetParameterRequest.html;
//! a missing parameter is `GetParameterError::ParameterNotFound`.

use aws_config::SdkConfig;

use crate::app::BuildError;
use crate::config::routes::{parse, Defaults, RoutesConfig};
use crate::config::{ConfigError, RoutesSource};

/// The routing file, read and checked.
pub async fn load(
    source: &RoutesSource,
    sdk: &SdkConfig,
    defaults: &Defaults,
) -> Result<RoutesConfig, BuildError> {
    let variable = source.variable();
    let text = match source {
        RoutesSource::File(path) => tokio::fs::read_to_string(path).await.map_err(|e| {
            ConfigError::new(
                variable,
                format!("cannot read the routing file {}: {e}", path.display()),
            )
        })?,
        RoutesSource::Parameter(name) => read_parameter(name, sdk).await?,
    };
    parse(&text, &source.to_string(), defaults)
        .map_err(|e| BuildError::Config(ConfigError::new(variable, e.to_string())))
}

async fn read_parameter(name: &str, sdk: &SdkConfig) -> Result<String, BuildError> {
    let client = aws_sdk_ssm::Client::new(sdk);
    let out = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await;
    match out {
        Ok(out) => out.parameter.and_then(|p| p.value).ok_or_else(|| {
            ConfigError::new(
                "MFA_ROUTES_PARAMETER",
                format!("SSM parameter {name} has no value"),
            )
            .into()
        }),
        Err(e) => {
            let text = crate::aws::error_text(&e);
            // Only an answer that the parameter is missing, or may not be
            // read, stays wrong until someone fixes it; the rest may pass.
            let lasting = e.as_service_error().is_some_and(|s| {
                s.is_parameter_not_found()
                    || s.is_invalid_key_id()
                    || s.is_parameter_version_not_found()
                    || s.meta()
                        .code()
                        .is_some_and(|c| c.contains("AccessDenied") || c.contains("Validation"))
            });
            let why = format!("cannot read SSM parameter {name}: {text}");
            if lasting {
                Err(ConfigError::new("MFA_ROUTES_PARAMETER", why).into())
            } else {
                Err(BuildError::Unreadable {
                    variable: "MFA_ROUTES_PARAMETER",
                    message: why,
                })
            }
        }
    }
}
