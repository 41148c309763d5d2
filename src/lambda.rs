//! The Lambda entry point: which event asks for what, and how failures are
//! reported to the Lambda service.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

use crate::app::App;
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
    #[error("unsupported event: {0}")]
    Event(String),
    /// The report could not read the stored state.
    #[error("report failed: {0}")]
    Report(String),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        let error_type = match &e {
            HandlerError::Config(_) => "ConfigError",
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
    app: &Result<App, ConfigError>,
    event: LambdaEvent<Value>,
) -> Result<Value, HandlerError> {
    let mode = parse_event(&event.payload)?;
    let app = app.as_ref().map_err(|e| HandlerError::Config(e.clone()))?;
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
                "channels": channels,
            }))
        }
    }
}

/// Serves invocations until the runtime stops. A configuration error is
/// reported on every invocation (so it shows in the invoke result and the
/// Errors metric) rather than crashing the init phase without a reason.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let app = match Config::from_env(true) {
        Ok(config) => App::build(config).await,
        Err(e) => Err(e),
    };
    let app = match app {
        Ok(app) => Ok(app),
        Err(e) => {
            tracing::error!(variable = e.variable, error = %e, "bad configuration");
            Err(e)
        }
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let span = tracing::info_span!("invocation", request_id = %event.context.request_id);
        async move { handle(app, event).await }.instrument(span)
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
}
