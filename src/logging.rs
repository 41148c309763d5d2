//! Logging set-up. In Lambda: one flat JSON object per line on stdout
//! (CloudWatch), with the fields of enclosing spans (`run_id`) lifted to the
//! top level so Logs Insights can filter on them directly. In a terminal:
//! compact text on stderr, leaving stdout to the command's output.

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// The format and level for this process: Lambda honours
/// `AWS_LAMBDA_LOG_FORMAT` (JSON unless `Text`) and `AWS_LAMBDA_LOG_LEVEL`;
/// the CLI logs text on stderr at `cli_level` when `-q`/`-v` chose one,
/// else at `RUST_LOG` (default `warn`: the command prints its own results).
/// Text is coloured only on a terminal and never with `NO_COLOR` set.
pub fn init(lambda: bool, cli_level: Option<&str>) {
    let format = if lambda
        && !std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"))
    {
        LogFormat::Json
    } else {
        LogFormat::Text
    };
    let _ = FORMAT.set(format);
    let level = if lambda {
        std::env::var("AWS_LAMBDA_LOG_LEVEL")
            .ok()
            .map(|l| lambda_level(&l).to_owned())
            .unwrap_or_else(|| "info".to_owned())
    } else if let Some(level) = cli_level {
        level.to_owned()
    } else {
        std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned())
    };
    // The SDKs are chatty at debug: a bare level applies to this crate only
    // (`error` and `off`, quieter than the default, to every crate); a full
    // directive (`a=debug,b=warn`) is taken as written.
    let directive =
        if level.contains('=') || level.contains(',') || level == "error" || level == "off" {
            level
        } else {
            format!("warn,mfa_monitor={level}")
        };
    let filter =
        EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("warn,mfa_monitor=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_writer(std::io::stdout)
            .try_init(),
        LogFormat::Text => builder
            .compact()
            .with_target(false)
            .with_ansi(crate::terminal::colour(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .try_init(),
    };
}

pub fn format() -> LogFormat {
    *FORMAT.get().unwrap_or(&LogFormat::Text)
}

fn lambda_level(l: &str) -> &'static str {
    match l.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    }
}

/// Writes one record (the run summary, a metrics record) as a single JSON
/// line on stdout in Lambda; a no-op in the terminal, where the command
/// prints its own output.
pub fn emit_record(record: &Value) {
    if format() == LogFormat::Json {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{record}");
    }
}

struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut obj = Map::new();
        obj.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        obj.insert("level".into(), Value::String(meta.level().to_string()));
        obj.insert("target".into(), Value::String(meta.target().to_owned()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(fields.as_str()) {
                        obj.extend(m);
                    }
                }
            }
        }
        event.record(&mut JsonVisitor(&mut obj));
        writeln!(writer, "{}", Value::Object(obj))
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}
