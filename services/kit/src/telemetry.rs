//! The one place that sets up logging and tracing, and carries trace context across processes.
//!
//! Logs are JSON lines, one an event; every line written inside a request or an event handler
//! carries the OpenTelemetry ids of the span it was written in (`openTelemetry.traceId` and
//! `openTelemetry.spanId`) and the chain of spans it sits in, outermost first (the request's)
//! and its own last, in `spans`.
//! Spans always get OpenTelemetry ids (so logs can be joined across services even without a
//! collector) and are exported over OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT`/v1/traces only
//! when that variable is set; without it, what only a trace would show is not made at all (the
//! client spans, and log events as span events). Trace context travels as W3C
//! `traceparent`/`tracestate`, in HTTP headers and in AMQP message headers alike.
//!
//! Span attributes follow the OpenTelemetry semantic conventions: the kit's request spans
//! (`http.request.method`, `http.route`, `url.path`, `http.response.status_code`, kind server),
//! [`client_span`] for calls to other services (kind client), and the services' own spans for
//! their queries (`db.*`) and messages (`messaging.*`).

mod json_log;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{Status, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry::{Context, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _, Registry};

use crate::config::{self, ConfigError, Env};

/// Logging and tracing settings.
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryConfig {
    /// `tracing` filter directives (`RUST_LOG`, default `info`).
    #[arg(
        long,
        env = "RUST_LOG",
        value_name = "tracing filter directives",
        default_value = "info"
    )]
    pub filter: String,
    /// Human-readable logs instead of JSON (`LOG_FORMAT=pretty`), for a terminal.
    #[arg(
        long = "log-format",
        env = "LOG_FORMAT",
        value_name = "json or pretty",
        default_value = "json",
        action = clap::ArgAction::Set,
        value_parser = log_format
    )]
    pub pretty: bool,
    /// OTLP/HTTP collector endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`): spans go to its
    /// `/v1/traces`, as the OTLP specification has it; no export when unset.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "an http(s) URL"
    )]
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Reads the telemetry settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        config::parse(env)
    }
}

/// `LOG_FORMAT`: whether logs are pretty rather than JSON.
fn log_format(format: &str) -> Result<bool, &'static str> {
    match format {
        "json" => Ok(false),
        "pretty" => Ok(true),
        _ => Err("unknown format"),
    }
}

/// Keeps the tracer provider alive; dropping it flushes spans not yet exported.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {error}");
        }
    }
}

/// Installs the global subscriber and propagator for the service `service`.
pub fn init(service: &'static str, config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let (subscriber, guard) = subscriber(service, config, std::io::stdout)?;
    subscriber.try_init()?;
    Ok(guard)
}

/// The subscriber [`init`] installs, writing its log lines to `writer`, for a caller that
/// installs it itself (several services in one test process, each on its own thread).
pub fn subscriber<W>(
    service: &'static str,
    config: &TelemetryConfig,
    writer: W,
) -> anyhow::Result<(
    impl tracing::Subscriber + Send + Sync + 'static,
    TelemetryGuard,
)>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    if let Some(endpoint) = &config.otlp_endpoint {
        // The other OTEL_EXPORTER_OTLP_* variables (headers, timeout) are read by the exporter
        // itself, as every OpenTelemetry SDK does.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer(service);
    let exporting = config.otlp_endpoint.is_some();
    let mut filter = EnvFilter::try_new(&config.filter)
        .map_err(|e| anyhow::anyhow!("RUST_LOG={:?} is invalid: {e}", config.filter))?;
    if !exporting {
        // What only a trace shows is not made where no trace is exported, as OpenTelemetry's
        // own SDKs make an unsampled span a no-op: the client spans (a request's log lines and
        // the callee's carry the same trace id without them).
        filter = filter.add_directive(format!("{TRACE_ONLY}=off").parse()?);
    }
    let format: Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync> = if config.pretty {
        Box::new(tracing_subscriber::fmt::layer().with_writer(writer))
    } else {
        Box::new(json_log::layer(writer))
    };
    // The filter is a global one whatever its place: what it disables reaches no layer.
    let subscriber = tracing_subscriber::registry()
        .with(format)
        .with(filter)
        // Log events become events of their span only for a trace that goes somewhere: each
        // would cost its fields as OpenTelemetry attributes, a timestamp and an allocation.
        .with(otel_layer(tracer).with_filter(filter_fn(move |meta| exporting || meta.is_span())));
    Ok((subscriber, TelemetryGuard { provider }))
}

/// The OpenTelemetry layer: spans carry the attributes the conventions name and the kit records
/// (method, route, status, the services' `db.*` and `messaging.*`), not the layer's optional
/// extras: source location, thread and busy/idle times were attributes on every span, each
/// allocated per span and, for the times, taken at every poll of an instrumented future. The
/// OpenTelemetry context is read from the span itself ([`OpenTelemetrySpanExt::context`]), so
/// entering a span need not activate it.
fn otel_layer<S>(tracer: SdkTracer) -> tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_tracer(tracer)
}

/// The target of the spans only a trace shows, which the subscriber turns off when no trace
/// is exported.
const TRACE_ONLY: &str = "kit::telemetry::trace_only";

/// Whether [`client_span`] makes a span: spans at `info` are recorded and traces exported. A
/// caller checks it before building the URL it would pass.
pub fn client_spans_enabled() -> bool {
    tracing::enabled!(target: TRACE_ONLY, tracing::Level::INFO)
}

/// The span of a call to another service over HTTP, by the OpenTelemetry conventions for HTTP
/// clients; headers injected while it is current ([`inject_http`]) make the callee's span its
/// child. Record the answer with [`record_response`]. A disabled span where no trace is
/// exported ([`client_spans_enabled`]): the headers then carry the caller's own span.
pub fn client_span(method: &http::Method, url: &str) -> tracing::Span {
    // The URL is parsed only for a span that is recorded, and before the span is made: each
    // field recorded later makes the JSON layer serialize the span's fields again.
    if !client_spans_enabled() {
        return tracing::Span::none();
    }
    let uri = url.parse::<http::Uri>().ok();
    let host = uri.as_ref().and_then(http::Uri::host).unwrap_or_default();
    let port = uri.as_ref().and_then(http::Uri::port_u16).unwrap_or(80);
    tracing::info_span!(
        target: TRACE_ONLY,
        "http client",
        otel.name = method.as_str(),
        otel.kind = "client",
        http.request.method = method.as_str(),
        url.full = url,
        server.address = host,
        server.port = port,
    )
}

/// Sets on `span`'s trace (a request or client span) the status answered, or that none came
/// (`None`); a 5xx or no answer marks it as failed. Straight on the OpenTelemetry span, not as
/// span fields: the log lines carry the status as an event field where they need it (the
/// gateway's access line), and a field recorded would make the JSON layer serialize all of
/// the span's fields again, after the request's last line.
pub fn record_response(span: &tracing::Span, status: Option<u16>) {
    match status {
        Some(status) => {
            span.set_attribute("http.response.status_code", i64::from(status));
            if status >= 500 {
                span.set_status(Status::error(""));
                span.set_attribute("error.type", status.to_string());
            }
        }
        None => {
            span.set_status(Status::error(""));
            span.set_attribute("error.type", "no_response");
        }
    }
}

/// The trace id of the current span, if it has one.
pub fn current_trace_id() -> Option<TraceId> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.trace_id())
}

/// The W3C trace context carried by incoming HTTP headers.
pub fn extract_http(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Writes the current span's trace context into outgoing HTTP headers.
pub fn inject_http(headers: &mut http::HeaderMap) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// Writes the current span's trace context into AMQP message headers.
pub fn inject_amqp(headers: &mut FieldTable) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut AmqpHeaders(headers));
}

/// The W3C trace context carried by AMQP message headers.
pub fn extract_amqp(headers: &FieldTable) -> Context {
    TraceContextPropagator::new().extract(&AmqpHeadersRef(headers))
}

/// Makes `span` a child of the remote context, so one trace spans both processes. The log
/// lines written inside it carry the trace id in `openTelemetry.traceId`; it is not recorded
/// on the span as a field as well, since the JSON layer serializes all of a span's fields again
/// at every field recorded.
pub fn set_parent(span: &tracing::Span, parent: Context) {
    // Only fails when no OpenTelemetry layer is installed, in which case there is nothing to link.
    let _ = span.set_parent(parent);
}

struct AmqpHeaders<'a>(&'a mut FieldTable);

impl Injector for AmqpHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let Ok(key) = ShortString::try_new(key) {
            self.0
                .insert(key, AMQPValue::LongString(LongString::from(value)));
        }
    }
}

struct AmqpHeadersRef<'a>(&'a FieldTable);

impl Extractor for AmqpHeadersRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .inner()
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .and_then(|(_, v)| match v {
                AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
                _ => None,
            })
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(ShortString::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_tracing<T>(f: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry().with(otel_layer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, f)
    }

    #[test]
    fn http_headers_carry_the_trace_across() {
        with_tracing(|| {
            let span = tracing::info_span!("outgoing");
            let _entered = span.enter();
            let mut headers = http::HeaderMap::new();
            inject_http(&mut headers);
            let traceparent = headers["traceparent"].to_str().expect("ascii");
            let expected = current_trace_id().expect("a trace id");
            assert!(traceparent.contains(&expected.to_string()), "{traceparent}");

            let incoming = tracing::info_span!("incoming");
            set_parent(&incoming, extract_http(&headers));
            let _in = incoming.enter();
            assert_eq!(current_trace_id(), Some(expected));
        });
    }

    #[test]
    fn amqp_headers_carry_the_trace_across() {
        with_tracing(|| {
            let span = tracing::info_span!("publish");
            let _entered = span.enter();
            let mut headers = FieldTable::default();
            inject_amqp(&mut headers);
            let expected = current_trace_id().expect("a trace id");

            let consumer = tracing::info_span!("consume");
            set_parent(&consumer, extract_amqp(&headers));
            let _in = consumer.enter();
            assert_eq!(current_trace_id(), Some(expected));
        });
    }

    /// Log lines written into a buffer the test reads.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_in_nested_spans_carry_the_callers_trace_id() {
        let lines = Lines::default();
        let provider = SdkTracerProvider::builder().build();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry()
            .with(otel_layer(provider.tracer("test")))
            .with(json_log::layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                "traceparent",
                http::HeaderValue::from_static(
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
            );
            let request = tracing::info_span!("request");
            set_parent(&request, extract_http(&headers));
            let _request = request.enter();
            let _query = tracing::info_span!("query", table = "products").entered();
            tracing::info!(rows = 3, "fetched");
        });
        let text = String::from_utf8(lines.0.lock().expect("lock").clone()).expect("utf-8");
        let line: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("one line")).expect("JSON");
        assert_eq!(line["message"], "fetched");
        assert_eq!(line["rows"], 3);
        assert_eq!(line["spans"][1]["name"], "query");
        assert!(line.get("span").is_none(), "the own span only once: {line}");
        assert_eq!(line["spans"][0]["name"], "request");
        // The line's own ids, at one fixed place, as a log store joins them to traces.
        assert_eq!(
            line["openTelemetry"]["traceId"],
            "0af7651916cd43dd8448eb211c80319c"
        );
        let span_id = line["openTelemetry"]["spanId"].as_str().expect("a span id");
        assert!(
            span_id.len() == 16 && span_id != "b7ad6b7169203331",
            "the query span's own id, not the caller's: {span_id}"
        );
    }

    #[test]
    fn client_spans_record_the_answer() {
        let lines = Lines::default();
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry()
            .with(otel_layer(provider.tracer("test")))
            .with(json_log::layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = client_span(&http::Method::POST, "http://product:8080/internal/x");
            record_response(&span, Some(503));
            span.in_scope(|| tracing::info!("called"));
        });
        let text = String::from_utf8(lines.0.lock().expect("lock").clone()).expect("utf-8");
        let line: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("one line")).expect("JSON");
        let span = &line["spans"][0];
        assert_eq!(span["http.request.method"], "POST");
        assert_eq!(span["server.address"], "product");
        assert_eq!(span["server.port"], 8080);

        let exported = exporter.get_finished_spans().expect("spans");
        let [span] = exported.as_slice() else {
            panic!("one span: {exported:?}");
        };
        let attribute = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(span.span_kind, opentelemetry::trace::SpanKind::Client);
        assert_eq!(attribute("server.address").as_deref(), Some("product"));
        assert_eq!(
            attribute("http.response.status_code").as_deref(),
            Some("503")
        );
        assert_eq!(attribute("error.type").as_deref(), Some("503"));
        assert!(
            matches!(span.status, Status::Error { .. }),
            "{:?}",
            span.status
        );
    }

    /// The log lines of a call through [`client_span`], made by the subscriber [`init`]
    /// installs, exporting to `otlp_endpoint`, and whether the client span was made.
    fn client_call_lines(otlp_endpoint: Option<&str>) -> (Vec<serde_json::Value>, bool) {
        let lines = Lines::default();
        let writer = lines.clone();
        let config = TelemetryConfig {
            filter: "info".to_owned(),
            pretty: false,
            otlp_endpoint: otlp_endpoint.map(str::to_owned),
        };
        let (subscriber, guard) =
            subscriber("test", &config, move || writer.clone()).expect("subscriber");
        let made = tracing::subscriber::with_default(subscriber, || {
            let _request = tracing::info_span!("request").entered();
            let span = client_span(&http::Method::GET, "http://product:8080/api/v1/products");
            let _call = span.enter();
            let mut headers = http::HeaderMap::new();
            inject_http(&mut headers);
            tracing::info!(
                traceparent = headers["traceparent"].to_str().expect("ascii"),
                "called"
            );
            !span.is_disabled()
        });
        drop(guard);
        let text = String::from_utf8(lines.0.lock().expect("lock").clone()).expect("utf-8");
        let lines = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON"))
            .collect();
        (lines, made)
    }

    /// The `traceparent` logged in `line` makes the callee a child of the span the line was
    /// written in.
    fn assert_traceparent_names_the_lines_span(line: &serde_json::Value) {
        let span_id = line["openTelemetry"]["spanId"].as_str().expect("a span id");
        let traceparent = line["traceparent"].as_str().expect("a traceparent");
        assert!(
            traceparent.contains(span_id),
            "{traceparent} names {span_id}"
        );
    }

    #[test]
    fn without_an_exporter_calls_make_no_client_span() {
        let (lines, made) = client_call_lines(None);
        assert!(!made);
        let [line] = lines.as_slice() else {
            panic!("one line: {lines:?}");
        };
        assert_eq!(line["spans"].as_array().map(Vec::len), Some(1), "{line}");
        assert_eq!(line["spans"][0]["name"], "request");
        // The callee still joins the caller's trace: the headers carry the request's span.
        assert_traceparent_names_the_lines_span(line);
    }

    #[test]
    fn with_an_exporter_calls_make_a_client_span() {
        // Nothing listens on the discard port: the span's export fails, which is not this
        // test's matter.
        let (lines, made) = client_call_lines(Some("http://127.0.0.1:9"));
        assert!(made);
        let line = &lines[0];
        assert_eq!(line["spans"][1]["name"], "http client", "{line}");
        assert_eq!(line["spans"][1]["server.address"], "product");
        assert_traceparent_names_the_lines_span(line);
    }

    #[test]
    fn bad_log_format_is_named() {
        let env = Env::from_pairs([("LOG_FORMAT", "xml")]);
        let error = TelemetryConfig::from_env(&env).expect_err("must fail");
        assert!(error.to_string().starts_with("LOG_FORMAT=\"xml\""));
    }
}
