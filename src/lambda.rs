//! The Lambda entry point: which event asks for what, and how failures are
//! reported to the Lambda service.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

use crate::app::{App, BuildError};
use crate::config::{Config, ConfigError};
use crate::domain::report::Filter;
use crate::run::{Deadline, RunSummary};

/// What an invocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Report,
}

/// Why an invocation could not run. Source and channel failures are not
/// here: the pass completed, its summary says what failed, and the
/// `SourceFailures` metric alarms on it. Failing the invocation for them
/// would make the scheduler retry the whole pass.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("bad configuration: {0}")]
    Config(#[from] ConfigError),
    /// The start failed for a reason that may pass (Secrets Manager
    /// throttled or unreachable): the next invocation builds again, so a
    /// retry of this one is worth it.
    #[error("could not start, worth retrying (the next invocation starts again): {0}")]
    Unavailable(#[source] BuildError),
    #[error("unsupported event: {0}")]
    Event(String),
    /// The report could not read the stored state.
    #[error("report failed: {0}")]
    Report(String),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        // The type says whether a retry is worth it: only for
        // `TransientStartError`.
        let error_type = match &e {
            HandlerError::Config(_) => "ConfigError",
            HandlerError::Unavailable(_) => "TransientStartError",
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::Report(_) => "ReportFailed",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// Accepts an EventBridge "Scheduled Event" envelope, an EventBridge
/// Scheduler input (any JSON object, e.g. `{}`), or `{"mode": "..."}`.
pub fn parse_event(event: &Value) -> Result<Mode, HandlerError> {
    let Some(obj) = event.as_object() else {
        return Err(HandlerError::Event(format!(
            "expected a JSON object (an EventBridge event or {{}}), got {}",
            match event {
                Value::Null => "null",
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                Value::Object(_) => "an object",
            }
        )));
    };
    // A scheduled envelope carries the schedule's input, if any, in `detail`.
    let mode = obj
        .get("mode")
        .or_else(|| obj.get("detail").and_then(|d| d.get("mode")));
    match mode {
        None => Ok(Mode::Run),
        Some(Value::String(m)) if m == "run" => Ok(Mode::Run),
        Some(Value::String(m)) if m == "report" => Ok(Mode::Report),
        Some(other) => Err(HandlerError::Event(format!(
            "`mode` must be \"run\" or \"report\", got {other}"
        ))),
    }
}

async fn handle(
    app: &Result<App, BuildError>,
    event: LambdaEvent<Value>,
) -> Result<Value, HandlerError> {
    let mode = parse_event(&event.payload)?;
    let app = app.as_ref().map_err(|e| match e {
        BuildError::Config(c) => HandlerError::Config(c.clone()),
        transient => HandlerError::Unavailable(transient.clone()),
    })?;
    match mode {
        Mode::Run => {
            let deadline = Deadline::at_epoch_millis(event.context.deadline as i64);
            let summary: RunSummary = app.run(false, deadline).await;
            Ok(serde_json::to_value(summary).expect("serializes"))
        }
        Mode::Report => {
            let (report, channels) = app
                .report(Filter::All, true)
                .await
                .map_err(|e| HandlerError::Report(e.to_string()))?;
            tracing::info!(rows = report.rows.len(), "report sent");
            Ok(serde_json::json!({
                "mode": "report",
                "generated_at": report.generated_at,
                "counts": report.counts,
                // The object and the link's end, never the link itself.
                "html_report": report.html_report,
                "channels": channels,
            }))
        }
    }
}

/// Reads the configuration and builds the adapters, logging why not.
async fn start() -> Result<App, BuildError> {
    let app = match Config::from_env(true) {
        Ok(config) => App::try_build(config).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = &app {
        if e.is_transient() {
            tracing::error!(variable = e.variable(), error = %e, "could not start; the next invocation tries again");
        } else {
            tracing::error!(variable = e.variable(), error = %e, "bad configuration");
        }
    }
    app
}

/// Serves invocations until the runtime stops. A configuration error is
/// reported on every invocation (so it shows in the invoke result and the
/// Errors metric) rather than crashing the init phase without a reason; it
/// is kept for the life of the sandbox, as nothing it depends on changes.
/// A start that failed for a passing reason (a throttled Secrets Manager)
/// is not kept: the next invocation builds again.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    // Lambda hands a sandbox one invocation at a time, so holding the lock
    // for an invocation never makes another wait.
    let app = tokio::sync::Mutex::new(start().await);
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let span = tracing::info_span!("invocation", request_id = %event.context.request_id);
        async move {
            let mut app = app.lock().await;
            if app.as_ref().is_err_and(BuildError::is_transient) {
                *app = start().await;
            }
            handle(&app, event).await
        }
        .instrument(span)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scheduled_events_scheduler_inputs_and_empty_objects_run_a_pass() {
        let scheduled: Value = serde_json::from_str(include_str!(
            "../tests/fixtures/eventbridge-scheduled-event.json"
        ))
        .unwrap();
        assert_eq!(parse_event(&scheduled).unwrap(), Mode::Run);
        assert_eq!(parse_event(&json!({})).unwrap(), Mode::Run);
        assert_eq!(parse_event(&json!({"mode": "run"})).unwrap(), Mode::Run);
        assert_eq!(
            parse_event(&json!({"mode": "report"})).unwrap(),
            Mode::Report
        );
    }

    #[test]
    fn events_that_are_not_objects_or_name_an_unknown_mode_are_refused() {
        assert!(parse_event(&json!("run")).is_err());
        assert!(parse_event(&json!([1])).is_err());
        let e = parse_event(&json!({"mode": "destroy"})).unwrap_err();
        assert!(e.to_string().contains("destroy"), "{e}");
        let d: Diagnostic = e.into();
        assert_eq!(d.error_type, "InvalidEvent");
    }

    #[test]
    fn the_error_type_says_whether_a_failed_start_is_worth_retrying() {
        let config = ConfigError::new("GITHUB_TOKEN", "the token is empty");
        let d: Diagnostic = HandlerError::Config(config.clone()).into();
        assert_eq!(d.error_type, "ConfigError");
        assert!(!BuildError::Config(config).is_transient());

        let throttled = crate::secrets::SecretError::Empty {
            variable: "X",
            id_variable: "X_SECRET_ID",
            secret_id: "x".into(),
        };
        let unavailable = BuildError::Unavailable {
            variable: "X_SECRET_ID",
            source: std::sync::Arc::new(throttled),
        };
        assert!(unavailable.is_transient());
        let d: Diagnostic = HandlerError::Unavailable(unavailable).into();
        assert_eq!(d.error_type, "TransientStartError");
        assert!(
            d.error_message.contains("X_SECRET_ID") && d.error_message.contains("retrying"),
            "{}",
            d.error_message
        );
    }
}
