//! Logs and OpenTelemetry traces. Logs go to stderr as text or JSON (`LANYARD_LOG_FORMAT`).
//! When `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, spans are
//! exported over OTLP/HTTP (protobuf) with the standard `OTEL_*` variables; W3C `traceparent`
//! is read from requests and sent on every outbound call (IdP discovery, token and JWKS calls,
//! SAML metadata, webhooks, log streams), and each request span carries its `trace_id`.
//!
//! A sign-in is one trace across its three requests: the authorize request's context is kept
//! with the pending sign-in, the IdP's answer (callback or ACS) continues it in a
//! `sign_in.finish` span, and the code keeps it for the token request's `sign_in.redeem` span.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// Whether spans are exported (the standard variables say where).
fn export_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
        && std::env::var("OTEL_SDK_DISABLED").as_deref() != Ok("true")
}

/// Installs the log subscriber (and the trace exporter when configured); keep the answer and
/// pass it to [`shutdown`] before exiting, so the last spans are sent.
pub fn init() -> Option<SdkTracerProvider> {
    let filter = std::env::var("LANYARD_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let json = std::env::var("LANYARD_LOG_FORMAT").as_deref() == Ok("json");
    let provider = if export_configured() {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(
                        opentelemetry_sdk::Resource::builder()
                            .with_service_name("lanyard")
                            .build(),
                    )
                    .build(),
            ),
            Err(e) => {
                eprintln!("OpenTelemetry export is configured but cannot start: {e}");
                None
            }
        }
    } else {
        None
    };
    let otel = provider.as_ref().map(|p| {
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("lanyard"))
            .with_filter(tracing_subscriber::EnvFilter::new(&filter))
    });
    // Each SQL statement sqlx runs becomes a span of its own under the span that ran it.
    let sql = provider.as_ref().map(|p| {
        use opentelemetry::trace::TracerProvider as _;
        SqlSpans {
            tracer: p.tracer("lanyard.sql"),
        }
        .with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::DEBUG),
        )
    });
    let text = (!json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::new(&filter))
    });
    let structured = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::new(&filter))
    });
    tracing_subscriber::registry()
        .with(text)
        .with(structured)
        .with(otel)
        .with(sql)
        .init();
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    }
    provider
}

/// Sends the spans still buffered.
pub fn shutdown(provider: Option<SdkTracerProvider>) {
    if let Some(p) = provider {
        if let Err(e) = p.shutdown() {
            eprintln!("OpenTelemetry: the last spans were not sent: {e}");
        }
    }
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeadersMut<'a>(&'a mut http::HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::header::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// Makes `span` (not yet entered) continue the caller's trace, when the request carries a
/// `traceparent`; records the span's trace id in its `trace_id` field.
pub fn continue_request(span: &tracing::Span, headers: &http::HeaderMap) {
    if headers.contains_key("traceparent") {
        let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
        let _ = span.set_parent(cx);
    }
    let id = span.context().span().span_context().trace_id();
    if id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", id.to_string());
    }
}

/// Adds the current span's `traceparent` to an outbound request.
pub fn inject(headers: &mut http::HeaderMap) {
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut HeadersMut(headers))
        });
    }
}

/// The current span's context as a `traceparent` value, to be continued later by
/// [`span_continuing`] (none when traces are not exported).
pub fn current_traceparent() -> Option<String> {
    let mut h = http::HeaderMap::new();
    inject(&mut h);
    h.get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A span named `name` that continues the trace of a stored `traceparent` (a root span when
/// there is none).
pub fn span_continuing(name: &'static str, traceparent: Option<&str>) -> tracing::Span {
    let span = match name {
        "sign_in.finish" => tracing::info_span!("sign_in.finish"),
        "sign_in.redeem" => tracing::info_span!("sign_in.redeem"),
        _ => tracing::info_span!("continued"),
    };
    if let Some(tp) = traceparent {
        let mut h = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(tp) {
            h.insert("traceparent", v);
            let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(&h)));
            let _ = span.set_parent(cx);
        }
    }
    span
}

/// Turns each statement sqlx reports (its `sqlx::query` events: the statement, rows and time,
/// never the bound values) into a span of its own, a child of the span that ran it, timed from
/// the statement's start to its end.
struct SqlSpans {
    tracer: opentelemetry_sdk::trace::SdkTracer,
}

#[derive(Default)]
struct SqlFields {
    summary: String,
    statement: String,
    elapsed_secs: f64,
    rows_affected: Option<u64>,
    rows_returned: Option<u64>,
}

impl tracing::field::Visit for SqlFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.trim().to_owned(),
            _ => {}
        }
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        match field.name() {
            "rows_affected" => self.rows_affected = Some(value),
            "rows_returned" => self.rows_returned = Some(value),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" && self.summary.is_empty() {
            self.summary = format!("{value:?}").trim_matches('"').to_owned();
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SqlSpans {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};
        use opentelemetry::KeyValue;
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut f = SqlFields::default();
        event.record(&mut f);
        let end = std::time::SystemTime::now();
        let start = end
            .checked_sub(std::time::Duration::from_secs_f64(f.elapsed_secs.max(0.0)))
            .unwrap_or(end);
        let statement = if f.statement.is_empty() {
            f.summary.clone()
        } else {
            f.statement
        };
        let mut attributes = vec![KeyValue::new("db.statement", statement)];
        if let Some(n) = f.rows_affected {
            attributes.push(KeyValue::new("db.rows_affected", n as i64));
        }
        if let Some(n) = f.rows_returned {
            attributes.push(KeyValue::new("db.rows_returned", n as i64));
        }
        // The span that ran the statement is the active OpenTelemetry context (the layer
        // activates each span's context while it is entered).
        let parent = opentelemetry::Context::current();
        let name = if f.summary.is_empty() {
            "sql".to_owned()
        } else {
            f.summary.trim_end_matches(" …").to_owned()
        };
        let mut span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(end);
    }
}
