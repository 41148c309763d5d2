//! The Lambda entry point: which event asks for what, and how failures are
//! reported to the Lambda service.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing::Instrument;

use crate::app::{App, BuildError};
use crate::config::{Config, ConfigError};
use crate::domain::report::Filter;
use crate::fanout::{CollectEvent, DeliverEvent, DeliverResult, PlanEvent};
use crate::run::{Deadline, RunSummary};

/// What an invocation asks for.
#[derive(Debug, Clone)]
pub enum Mode {
    Run,
    Report,
    /// The steps of a fanned-out pass (`fanout.rs`).
    Plan(PlanEvent),
    Collect(CollectEvent),
    Deliver(DeliverEvent),
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
    /// A step of a fanned-out pass could not do its part; the state
    /// machine counts its batch failed (or, for the plan, the pass).
    #[error("{0}")]
    Step(Box<crate::fanout::StepError>),
}

impl From<crate::fanout::StepError> for HandlerError {
    fn from(e: crate::fanout::StepError) -> Self {
        HandlerError::Step(Box::new(e))
    }
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
            HandlerError::Step(_) => "StepFailed",
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
    let step = |m: &str| {
        let bad = |e: serde_json::Error| HandlerError::Event(format!("a `{m}` event: {e}"));
        match m {
            "plan" => serde_json::from_value(event.clone())
                .map(Mode::Plan)
                .map_err(bad),
            "collect" => serde_json::from_value(event.clone())
                .map(Mode::Collect)
                .map_err(bad),
            _ => serde_json::from_value(event.clone())
                .map(Mode::Deliver)
                .map_err(bad),
        }
    };
    match mode {
        None => Ok(Mode::Run),
        Some(Value::String(m)) if m == "run" => Ok(Mode::Run),
        Some(Value::String(m)) if m == "report" => Ok(Mode::Report),
        // The steps are started by the state machine with their fields at
        // the top level, never inside a scheduled envelope.
        Some(Value::String(m))
            if obj.contains_key("mode") && matches!(m.as_str(), "plan" | "collect" | "deliver") =>
        {
            step(m)
        }
        Some(other) => Err(HandlerError::Event(format!(
            "`mode` must be \"run\", \"report\", \"plan\", \"collect\" or \"deliver\", got {other}"
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
    let deadline = || Deadline::at_epoch_millis(event.context.deadline as i64);
    match mode {
        Mode::Plan(plan) => {
            Ok(serde_json::to_value(app.plan_step(&plan, deadline()).await?).expect("serializes"))
        }
        Mode::Collect(collect) => Ok(serde_json::to_value(
            app.collect_step(&collect, deadline()).await?,
        )
        .expect("serializes")),
        Mode::Deliver(deliver) => {
            let summary = app.deliver_step(&deliver, deadline()).await?;
            Ok(serde_json::to_value(DeliverResult::from(&summary)).expect("serializes"))
        }
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
        assert!(matches!(parse_event(&scheduled).unwrap(), Mode::Run));
        assert!(matches!(parse_event(&json!({})).unwrap(), Mode::Run));
        assert!(matches!(
            parse_event(&json!({"mode": "run"})).unwrap(),
            Mode::Run
        ));
        assert!(matches!(
            parse_event(&json!({"mode": "report"})).unwrap(),
            Mode::Report
        ));
    }

    #[test]
    fn the_fan_out_steps_are_read_with_their_run_id_and_batch() {
        let plan = parse_event(&json!({"mode": "plan", "run_id": "pass-2026-12-01T10-00"}));
        assert!(
            matches!(plan.unwrap(), Mode::Plan(p) if p.run_id.as_str() == "pass-2026-12-01T10-00")
        );
        let collect = parse_event(&json!({
            "mode": "collect", "run_id": "r1", "batch": 3,
            "targets": [{"key": "aws:111122223333", "label": "self"}]
        }));
        assert!(
            matches!(collect.unwrap(), Mode::Collect(c) if c.batch == 3 && c.targets.len() == 1)
        );
        assert!(matches!(
            parse_event(&json!({"mode": "deliver", "run_id": "r1"})).unwrap(),
            Mode::Deliver(_)
        ));
        let e = parse_event(&json!({"mode": "collect", "run_id": "r1"})).unwrap_err();
        assert!(e.to_string().contains("targets"), "{e}");
        let e = parse_event(&json!({"mode": "deliver", "run_id": "a/b"})).unwrap_err();
        assert!(e.to_string().contains("run_id"), "{e}");
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
