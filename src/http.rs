//! The daemon's HTTP front door: MCP over Streamable HTTP (rmcp's `StreamableHttpService` from
//! `ingest_mcp`, mounted in axum at `mcp.path`) behind a gate that checks the `Origin` header and
//! the bearer token, plus `/healthz` and `/readyz` for monitoring, and `/metrics` and `/status`
//! for roles that may see the snapshot's status. HTTPS (rustls) when the config has a
//! certificate; a non-loopback bind without one is refused here too, not only by the config check.
//!
//! How a caller reaches the tools: the gate turns the token into a [`Caller`] and puts it in the
//! HTTP request's extensions; rmcp copies the request's `http::request::Parts` into each MCP
//! request's extensions, where `IngestMcp` reads it back. A request without a valid token never
//! reaches rmcp: it gets 401 and an audit line.

use anyhow::Context as _;
use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{IncomingStream, Listener};
use ingest_audit::AuditEntry;
use ingest_config::{Config, TokenConfig};
use ingest_fsutil::hex;
use ingest_mcp::server::{CallObserver, Caller, IngestMcp, Shared, TRANSPORT_HEADER};
use ingest_store as store;
use ingest_store::readers::Readers;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

/// How long open connections (SSE streams) get to finish after shutdown before they are dropped.
/// Counts each answered MCP call for `/metrics`.
#[derive(Debug)]
struct CountCalls;

impl CallObserver for CountCalls {
    fn answered(&self, tool: &str, result: &str, took: Duration) {
        ingest_ops::metrics::METRICS.mcp_call(tool, result, took);
    }
}

const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a client gets to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP server, bound but not yet serving: see [`bind`].
#[derive(Debug)]
pub struct HttpServer {
    socket: Socket,
    local_addr: SocketAddr,
    url: String,
    app: Router,
    shutdown: CancellationToken,
}

enum Socket {
    Plain(TcpListener),
    Tls(TcpListener, TlsAcceptor),
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Socket::Plain(listener) => f.debug_tuple("Plain").field(listener).finish(),
            Socket::Tls(listener, _) => f.debug_tuple("Tls").field(listener).finish_non_exhaustive(),
        }
    }
}

/// Bind, serve until `shutdown` is cancelled, then give open connections a few seconds.
pub async fn serve(config: &Config, shared: Arc<Shared>, shutdown: CancellationToken) -> anyhow::Result<()> {
    bind(config, shared, shutdown).await?.run().await
}

/// Start MCP over HTTP for `ingest run` when the config enables it: bind now (a port in use or a
/// bad certificate is a startup error), serve on a task. If the server fails later, `shutdown` is
/// cancelled, so that the daemon stops and its supervisor sees the failure.
pub async fn start(
    config: &Config,
    shutdown: &CancellationToken,
    clock: std::sync::Arc<dyn ingest_core::time::Clock>,
) -> anyhow::Result<Option<Running>> {
    if !config.mcp.http_enabled {
        tracing::info!("MCP over HTTP is off (mcp.http = false)");
        return Ok(None);
    }
    let shared = Shared::new(config.clone(), clock, Arc::new(CountCalls)).context("opening the audit log")?;
    let server = bind(config, shared, shutdown.clone()).await?;
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let result = server.run().await;
        if let Err(e) = &result {
            tracing::error!(error = %format!("{e:#}"), "MCP over HTTP failed; stopping the daemon");
            stop.cancel();
        }
        result
    });
    Ok(Some(Running { task }))
}

/// MCP over HTTP running on a task of the daemon.
#[derive(Debug)]
pub struct Running {
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Wait for the server to stop (after the shutdown token is cancelled).
    pub async fn join(self) -> anyhow::Result<()> {
        self.task.await.context("the MCP over HTTP task panicked")?
    }
}

/// Bind the listening socket and build the routes. Port 0 picks a free port: see
/// [`HttpServer::local_addr`] (and the `MCP over HTTP listening` log line).
pub async fn bind(config: &Config, shared: Arc<Shared>, shutdown: CancellationToken) -> anyhow::Result<HttpServer> {
    let mcp = &config.mcp;
    // The config check refuses this too; PHI must not leave the host in clear whatever the caller did.
    if !mcp.bind.is_loopback() && mcp.tls.is_none() {
        anyhow::bail!("mcp.bind {} is not a loopback address: serving PHI beyond this host requires TLS", mcp.bind);
    }
    if ingest_config::RESERVED_PATHS.contains(&mcp.path.as_str()) || mcp.path.starts_with("/status/") {
        anyhow::bail!("mcp.path {:?} collides with the daemon's own pages", mcp.path);
    }
    let acceptor = match &mcp.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let addr = SocketAddr::new(mcp.bind, mcp.port);
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("MCP over HTTP cannot listen on {addr} (set mcp.port, or mcp.http = false to turn it off)")
    })?;
    let local_addr = listener.local_addr()?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}{}", authority(local_addr.ip(), local_addr.port()), mcp.path);

    let mut origins = Vec::new();
    for entry in &mcp.allowed_origins {
        let rule = OriginRule::parse(entry).with_context(|| {
            format!(
                "mcp.allowed_origins: {entry:?} is not an origin (scheme://host, scheme://host:port or scheme://host:*)"
            )
        })?;
        origins.push(rule);
    }
    let hosts = allowed_hosts(mcp.bind, local_addr.port(), &mcp.allowed_hosts);
    let gate = Arc::new(Gate {
        tokens: mcp.tokens.clone(),
        origins,
        hosts: hosts.clone(),
        shared: Arc::clone(&shared),
        snapshot: config.snapshot.clone(),
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        per_identity: std::sync::Mutex::new(HashMap::new()),
    });
    // Stateless Streamable HTTP: every POST is answered on its own, with no session kept between
    // requests (the MCP 2026-07-28 revision drops sessions; older clients work unchanged, they
    // only see no `Mcp-Session-Id`). A client that leaves without a DELETE leaves nothing behind:
    // no session, no connection, no task.
    let rmcp_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_cancellation_token(shutdown.child_token())
        .with_allowed_hosts(hosts)
        .with_allowed_origins(gate.origins.iter().map(OriginRule::to_string))
        .enforce_origin_validation();
    // The readers are shared by all requests; the snapshot may not exist yet when the daemon
    // binds (its first ingest creates it), so they are opened on first use.
    let readers = Arc::new(Readers::lazy(&config.snapshot, ingest_mcp::server::IDLE_READERS));
    let factory = move || Ok(IngestMcp::new(Arc::clone(&shared), Arc::clone(&readers), None));
    let service = StreamableHttpService::new(factory, Arc::new(LocalSessionManager::default()), rmcp_config);
    let app = Router::new()
        .route_service(&mcp.path, service)
        .route("/metrics", get(metrics))
        .route("/status", get(status_page))
        .route("/status/{source}", get(source_status_page))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&gate), check_request))
        .merge(
            // No token (a load balancer's probe has none), but the Host header is checked as for
            // the rest: a DNS-rebinding page must not reach them either.
            Router::new()
                .route("/healthz", get(|| async { "ok" }))
                .route("/readyz", get(readyz))
                .route_layer(middleware::from_fn_with_state(Arc::clone(&gate), check_host)),
        )
        .with_state(gate);

    let socket = match acceptor {
        Some(acceptor) => Socket::Tls(listener, acceptor),
        None => Socket::Plain(listener),
    };
    Ok(HttpServer { socket, local_addr, url, app, shutdown })
}

impl HttpServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The MCP endpoint, e.g. `http://127.0.0.1:8765/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serve until the shutdown token is cancelled.
    pub async fn run(self) -> anyhow::Result<()> {
        let HttpServer { socket, local_addr, url, app, shutdown } = self;
        tracing::info!(url = %url, tls = matches!(socket, Socket::Tls(..)), "MCP over HTTP listening");
        match socket {
            Socket::Plain(listener) => serve_on(listener, app, &shutdown).await,
            Socket::Tls(listener, acceptor) => {
                let (tx, rx) = mpsc::channel(64);
                tokio::spawn(accept_tls(listener, acceptor, tx, shutdown.clone()));
                serve_on(TlsListener { local_addr, rx }, app, &shutdown).await
            }
        }?;
        tracing::info!("MCP over HTTP stopped");
        Ok(())
    }
}

async fn serve_on<L>(listener: L, app: Router, shutdown: &CancellationToken) -> anyhow::Result<()>
where
    L: Listener<Addr = SocketAddr>,
    Peer: for<'a> Connected<IncomingStream<'a, L>>,
{
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    tokio::select! {
        result = server => result.context("MCP over HTTP")?,
        () = async { shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "MCP over HTTP: connections still open at shutdown; dropping them");
        }
    }
    Ok(())
}

/// `host:port` for a URL or a Host header (IPv6 in brackets).
fn authority(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("{v4}:{port}"),
    }
}

/// The Host header values rmcp accepts (DNS rebinding protection): loopback names, the bind address
/// and the configured names, each with and without the port.
fn allowed_hosts(bind: IpAddr, port: u16, configured: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.push(bind.to_string());
    hosts.extend(configured.iter().cloned());
    let mut all = Vec::new();
    for host in hosts {
        let with_port = match host.parse::<IpAddr>() {
            Ok(ip) => authority(ip, port),
            Err(_) => format!("{host}:{port}"),
        };
        all.push(host);
        all.push(with_port);
    }
    all.sort();
    all.dedup();
    all
}

/// What the gate needs: the tokens, the allowed origins and hosts, the audit log, the snapshot
/// (for `/readyz`), and the limits on requests in flight.
#[derive(Debug)]
struct Gate {
    tokens: Vec<TokenConfig>,
    origins: Vec<OriginRule>,
    hosts: Vec<String>,
    shared: Arc<Shared>,
    snapshot: PathBuf,
    in_flight: Arc<Semaphore>,
    per_identity: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Requests answered at once, in all and per token identity. A request over either waits up to
/// [`ADMISSION_WAIT`] (a burst of many clients is absorbed: each answer takes milliseconds), then
/// is refused with 503 and `Retry-After`.
const MAX_IN_FLIGHT: usize = 64;
const MAX_IN_FLIGHT_PER_IDENTITY: usize = 32;
const ADMISSION_WAIT: Duration = Duration::from_secs(10);
/// The largest request body read (a tool call is a few hundred bytes).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The remote address of a connection, plain or TLS.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// In front of `/healthz` and `/readyz`: a foreign `Host` gets 403.
async fn check_host(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(|h| host_allowed(h, &gate.hosts)) {
        tracing::warn!(host = ?host, path = %request.uri().path(), "HTTP: refused a request for a foreign Host");
        return (StatusCode::FORBIDDEN, "Forbidden: Host not allowed\n").into_response();
    }
    next.run(request).await
}

/// In front of the MCP endpoint and the pages: a foreign `Host` or `Origin` gets 403, a missing or
/// unknown token 401, too many requests in flight 503; a known token becomes the request's
/// [`Caller`]. Every refusal is an audit line, and so is a refusal by rmcp behind the gate (a
/// body over the size limit, 413).
async fn check_request(
    State(gate): State<Arc<Gate>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = authenticate(&gate.tokens, request.headers());
    let refusal = Refusal {
        gate: Arc::clone(&gate),
        caller: caller.clone(),
        peer,
        method: request.method().as_str().to_string(),
        path: request.uri().path().to_string(),
    };
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(|h| host_allowed(h, &gate.hosts)) {
        tracing::warn!(peer = %peer.ip(), host = ?host, "HTTP: refused a request for a foreign Host");
        return refusal
            .audited(StatusCode::FORBIDDEN, "refused: Host not allowed", "Forbidden: Host not allowed\n")
            .await;
    }
    if let Some(origin) = request.headers().get(header::ORIGIN)
        && !gate.origin_allowed(origin)
    {
        tracing::warn!(peer = %peer.ip(), origin = ?origin, "HTTP: refused a request from a foreign Origin");
        return refusal
            .audited(StatusCode::FORBIDDEN, "refused: Origin not allowed", "Forbidden: Origin not allowed\n")
            .await;
    }
    let page_request = request.uri().path() == "/status" || request.uri().path().starts_with("/status/");
    let Some(mut caller) = caller else {
        tracing::warn!(peer = %peer.ip(), "HTTP: refused a request with a bad or missing bearer token");
        let mut response = refusal
            .audited(
                StatusCode::UNAUTHORIZED,
                "refused: bad or missing token",
                "Unauthorized: a valid bearer token is required\n",
            )
            .await;
        if response.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"ingest\""));
            if page_request {
                // A browser asks for the token (as the password) only when Basic is offered.
                let basic = HeaderValue::from_static("Basic realm=\"ingest status\", charset=\"UTF-8\"");
                response.headers_mut().append(header::WWW_AUTHENTICATE, basic);
            }
        }
        return response;
    };
    let Some(_permits) = gate.admit(&caller.identity).await else {
        tracing::warn!(identity = %caller.identity, "HTTP: refused a request: too many in flight");
        let mut response = refusal
            .audited(
                StatusCode::SERVICE_UNAVAILABLE,
                "refused: too many requests in flight",
                "Service Unavailable: too many requests in flight; retry shortly\n",
            )
            .await;
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    if request.headers().get(TRANSPORT_HEADER).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"bridge")) {
        caller.transport = "bridge";
    }
    tracing::debug!(identity = %caller.identity, role = %caller.role, "HTTP: authenticated");
    request.extensions_mut().insert(caller);
    let response = next.run(request).await;
    let why = match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Some(format!("refused: request body over {MAX_BODY_BYTES} bytes")),
        StatusCode::FORBIDDEN => Some("refused: forbidden by the MCP transport (Host or Origin)".to_string()),
        _ => None,
    };
    match why {
        Some(why) => {
            if let Err(e) = refusal.audit("http:refused", &why).await {
                tracing::error!(error = %e, "audit log write failed for a refused request");
            }
            response
        }
        None => response,
    }
}

/// A request the gate (or rmcp behind it) refused, for its audit line.
struct Refusal {
    gate: Arc<Gate>,
    caller: Option<Caller>,
    peer: SocketAddr,
    method: String,
    path: String,
}

impl Refusal {
    /// `tool` is `http:unauthenticated` for a missing or unknown token, else `http:refused`.
    async fn audit(&self, tool: &str, result: &str) -> Result<(), String> {
        let entry = AuditEntry {
            identity: self.caller.as_ref().map_or_else(|| "anonymous".into(), |c| c.identity.clone()),
            role: self.caller.as_ref().map(|c| c.role.clone()).unwrap_or_default(),
            transport: "http".into(),
            tool: tool.into(),
            arguments: serde_json::json!({
                "peer": self.peer.ip().to_string(),
                "method": self.method,
                "path": self.path,
            }),
            result: result.to_string(),
            ..AuditEntry::default()
        };
        let shared = Arc::clone(&self.gate.shared);
        match tokio::task::spawn_blocking(move || shared.audit.append(entry)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The refusal's response, once its audit line is written (503 if it cannot be).
    async fn audited(&self, status: StatusCode, result: &str, body: &'static str) -> Response {
        let tool = if status == StatusCode::UNAUTHORIZED { "http:unauthenticated" } else { "http:refused" };
        match self.audit(tool, result).await {
            Ok(()) => (status, body).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "audit log write failed for a refused request");
                (StatusCode::SERVICE_UNAVAILABLE, "the audit log cannot be written\n").into_response()
            }
        }
    }
}

/// Whether a `Host` header names this server: one of `allowed` (an entry without a port allows
/// any port).
fn host_allowed(value: &str, allowed: &[String]) -> bool {
    let split = |text: &str| -> Option<(String, Option<u16>)> {
        let authority: axum::http::uri::Authority = text.trim().parse().ok()?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        Some((host, authority.port_u16()))
    };
    let Some((host, port)) = split(value) else { return false };
    allowed.iter().filter_map(|a| split(a)).any(|(h, p)| h == host && (p.is_none() || p == port))
}

/// `/metrics` (behind the gate): for a role that may call `snapshot_status` (the figures are the
/// snapshot's status, no patient data).
async fn metrics(State(gate): State<Arc<Gate>>, request: Request) -> Response {
    let caller = request.extensions().get::<Caller>().cloned();
    let rendered = status_view(&gate, caller, "/metrics", |report, _, _| ingest_ops::metrics::render(report)).await;
    match rendered {
        Ok(text) => ([(header::CONTENT_TYPE, ingest_ops::metrics::CONTENT_TYPE)], text).into_response(),
        Err(refused) => refused,
    }
}

/// `/status` (behind the gate; a browser may send the token as a Basic password): the on-call
/// page, for a role that may call `snapshot_status`. File names only for roles that may read
/// patients (PDF names carry MRNs). Each view is an audit line.
async fn status_page(State(gate): State<Arc<Gate>>, request: Request) -> Response {
    let caller = request.extensions().get::<Caller>().cloned();
    page_response(&gate, caller, None).await
}

/// `/status/SOURCE`: the same page for one source.
async fn source_status_page(
    State(gate): State<Arc<Gate>>,
    axum::extract::Path(source): axum::extract::Path<String>,
    request: Request,
) -> Response {
    if gate.shared.config.source(&source).is_none() {
        return (StatusCode::NOT_FOUND, "no such source\n").into_response();
    }
    let caller = request.extensions().get::<Caller>().cloned();
    page_response(&gate, caller, Some(source)).await
}

async fn page_response(gate: &Arc<Gate>, caller: Option<Caller>, only: Option<String>) -> Response {
    use ingest_ops::status::page::{self, Names};
    let arguments = serde_json::json!({ "source": only });
    let rendered = status_view(gate, caller.clone(), "/status", move |report, config, role| {
        let names = if role.allows(ingest_config::RecordKind::Patients) { Names::Shown } else { Names::Masked };
        let all: Vec<String> = report.sources.iter().map(|s| s.status.name.clone()).collect();
        let mut report = report.clone();
        if let Some(only) = &only {
            report.sources.retain(|s| &s.status.name == only);
        }
        page::render(&report, config.zone, names, &all)
    })
    .await;
    let html = match rendered {
        Ok(html) => html,
        Err(refused) => return refused,
    };
    if let Some(caller) = caller {
        let entry = AuditEntry {
            identity: caller.identity,
            role: caller.role,
            transport: caller.transport.into(),
            tool: "status_page".into(),
            arguments,
            result: "ok".into(),
            ..AuditEntry::default()
        };
        let shared = Arc::clone(&gate.shared);
        match tokio::task::spawn_blocking(move || shared.audit.append(entry)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "audit log write failed: /status not served");
                return (StatusCode::SERVICE_UNAVAILABLE, "the audit log cannot be written\n").into_response();
            }
            Err(e) => {
                tracing::error!(error = %e, "audit task failed: /status not served");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
    }
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        // No script, no external asset: nothing but the page's own inline style may load.
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    (headers, html).into_response()
}

/// The status [`ingest_ops::status::Report`] drawn by `draw`, for a caller whose role may call
/// `snapshot_status`; otherwise, or if the snapshot cannot be read, the response to send.
async fn status_view(
    gate: &Arc<Gate>,
    caller: Option<Caller>,
    what: &'static str,
    draw: impl FnOnce(&ingest_ops::status::Report, &Config, &ingest_config::Role) -> String + Send + 'static,
) -> Result<String, Response> {
    let Some(caller) = caller else {
        return Err((StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response());
    };
    let role = gate.shared.config.mcp.role(&caller.role).filter(|r| r.allows_tool("snapshot_status"));
    let Some(role) = role.cloned() else {
        tracing::warn!(identity = %caller.identity, role = %caller.role, what,
            "refused: the role may not see the status");
        return Err((StatusCode::FORBIDDEN, "Forbidden: this role may not see the snapshot's status\n").into_response());
    };
    let shared = Arc::clone(&gate.shared);
    let drawn = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let reader = store::open_reader(&shared.config.snapshot)?;
        let report = ingest_ops::status::report(reader.view(), &shared.config, shared.clock.now())?;
        Ok(draw(&report, &shared.config, &role))
    })
    .await;
    match drawn {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => {
            tracing::error!(error = %format!("{e:#}"), what, "cannot read the snapshot");
            Err((StatusCode::SERVICE_UNAVAILABLE, "the snapshot cannot be read\n").into_response())
        }
        Err(e) => {
            tracing::error!(error = %e, what, "status task failed");
            Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

/// The caller whose token's SHA-256 matches, compared in constant time against every token.
fn authenticate(tokens: &[TokenConfig], headers: &HeaderMap) -> Option<Caller> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.trim().split_once(' ')?;
    let credentials = credentials.trim();
    // A browser (the status page) sends the token as the password of Basic authentication; the
    // user name is not checked.
    let basic = scheme
        .eq_ignore_ascii_case("basic")
        .then(|| {
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD.decode(credentials).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            Some(text.split_once(':')?.1.to_string())
        })
        .flatten();
    let token = match &basic {
        Some(password) => password.as_str(),
        None if scheme.eq_ignore_ascii_case("bearer") => credentials,
        None => return None,
    };
    if token.is_empty() {
        return None;
    }
    let digest = hex(&Sha256::digest(token.as_bytes()));
    let mut found = None;
    for candidate in tokens {
        // No early exit: every configured token is compared whatever the outcome.
        let equal: bool = digest.as_bytes().ct_eq(candidate.sha256.as_bytes()).into();
        if equal && found.is_none() {
            found = Some(candidate);
        }
    }
    found.map(|t| Caller { identity: t.identity.clone(), role: t.role.clone(), transport: "http" })
}

impl Gate {
    /// Permits for one request: one of this identity's, then one of all; none when either stays
    /// used up for [`ADMISSION_WAIT`].
    async fn admit(&self, identity: &str) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let mine = {
            let mut per = self.per_identity.lock().ok()?;
            Arc::clone(
                per.entry(identity.to_string()).or_insert_with(|| Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_IDENTITY))),
            )
        };
        let all = Arc::clone(&self.in_flight);
        tokio::time::timeout(ADMISSION_WAIT, async move {
            let mine = mine.acquire_owned().await.ok()?;
            Some((mine, all.acquire_owned().await.ok()?))
        })
        .await
        .ok()
        .flatten()
    }

    fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        let Some(origin) = origin.to_str().ok().and_then(Origin::parse) else { return false };
        self.origins.iter().any(|rule| rule.matches(&origin))
    }
}

/// `/readyz`: 200 when the snapshot opens read-only and answers a query, else 503. Says why only
/// in the log.
async fn readyz(State(gate): State<Arc<Gate>>) -> Response {
    let snapshot = gate.snapshot.clone();
    let check = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        store::ping(store::open_reader(&snapshot)?.view())?;
        Ok(())
    })
    .await;
    match check {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "readyz: the snapshot cannot be read");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: the snapshot cannot be read\n").into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readyz: check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
        }
    }
}

/// An `Origin` header value: `null`, or scheme, host and port (the scheme's default when omitted).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Null,
    Tuple { scheme: String, host: String, port: Option<u16> },
}

impl Origin {
    fn parse(value: &str) -> Option<Origin> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("null") {
            return Some(Origin::Null);
        }
        let uri: axum::http::Uri = value.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        // An origin is scheme://host[:port]: no user info, path, query.
        if authority.as_str().contains('@') || uri.path_and_query().is_some_and(|p| !matches!(p.as_str(), "" | "/")) {
            return None;
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let port = authority.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        Some(Origin::Tuple { scheme, host, port })
    }
}

/// An entry of `mcp.allowed_origins`: like an origin, and a port of `*` matches any port. Unlike
/// rmcp's own (deprecated) reading, an entry without a port means the scheme's default port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OriginRule {
    origin: Origin,
    any_port: bool,
}

impl OriginRule {
    fn parse(entry: &str) -> Option<OriginRule> {
        let entry = entry.trim();
        match entry.strip_suffix(":*") {
            Some(base) => match Origin::parse(base)? {
                Origin::Null => None,
                origin => Some(OriginRule { origin, any_port: true }),
            },
            None => Some(OriginRule { origin: Origin::parse(entry)?, any_port: false }),
        }
    }

    fn matches(&self, origin: &Origin) -> bool {
        match (&self.origin, origin) {
            (Origin::Null, Origin::Null) => true,
            (Origin::Tuple { scheme: s, host: h, port: p }, Origin::Tuple { scheme, host, port }) => {
                s == scheme && h == host && (self.any_port || p == port)
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for OriginRule {
    /// The explicit form rmcp reads the same way: `scheme://host:port` or `scheme://host:*`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Origin::Null => write!(f, "null"),
            Origin::Tuple { scheme, host, port } => {
                let host = if host.contains(':') { format!("[{host}]") } else { host.clone() };
                match (self.any_port, port) {
                    (false, Some(port)) => write!(f, "{scheme}://{host}:{port}"),
                    _ => write!(f, "{scheme}://{host}:*"),
                }
            }
        }
    }
}

/// A rustls acceptor from PEM files: the certificate chain, then the private key.
fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("mcp.tls_cert: reading {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("mcp.tls_cert: {} holds no PEM certificate", cert.display());
    }
    let private_key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("mcp.tls_key: reading {}", key.display()))?;
    warn_if_key_readable(key);
    tracing::info!(certificate = %ingest_mcp::trust::fingerprint(certs[0].as_ref()), file = %cert.display(),
        "MCP over HTTPS: the daemon's certificate (a bridge can pin it with --pin)");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .with_context(|| format!("mcp.tls_cert/tls_key: {} and {} do not match", cert.display(), key.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn warn_if_key_readable(key: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(key)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(key = %key.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the TLS private key is readable by group or others; chmod 600 it");
    }
}

/// Accept TCP connections and complete TLS handshakes off the accept path (a slow or broken
/// client delays only itself); finished streams go to [`TlsListener`].
async fn accept_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "MCP over HTTPS: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::info!(peer = %peer.ip(), error = %e, "MCP over HTTPS: TLS handshake failed"),
                Err(_) => tracing::info!(peer = %peer.ip(), "MCP over HTTPS: TLS handshake timed out"),
            }
        });
    }
}

/// Connections whose TLS handshake is done, for `axum::serve`.
struct TlsListener {
    local_addr: SocketAddr,
    rx: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
}

impl Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop stopped (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate_for(origins: &[&str]) -> Vec<OriginRule> {
        origins.iter().filter_map(|o| OriginRule::parse(o)).collect()
    }

    fn allowed(rules: &[OriginRule], origin: &str) -> bool {
        Origin::parse(origin).is_some_and(|o| rules.iter().any(|r| r.matches(&o)))
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let rules = gate_for(&["https://cowork.hospital.example", "http://localhost:*", "null"]);
        assert!(allowed(&rules, "https://cowork.hospital.example"));
        assert!(allowed(&rules, "https://COWORK.hospital.example:443"));
        assert!(!allowed(&rules, "https://cowork.hospital.example:8443"), "no port means the default port");
        assert!(!allowed(&rules, "http://cowork.hospital.example"));
        assert!(allowed(&rules, "http://localhost:6274"));
        assert!(allowed(&rules, "null"));
        assert!(!allowed(&rules, "https://evil.example"));
        assert!(!allowed(&rules, "https://cowork.hospital.example/path"));
        assert!(!allowed(&rules, "not an origin"));
        assert!(!allowed(&gate_for(&[]), "http://127.0.0.1:8765"), "no allowed origins: every Origin is refused");
    }

    #[test]
    fn origin_rules_are_handed_to_rmcp_with_explicit_ports() {
        let shown: Vec<String> =
            gate_for(&["https://a.example", "http://[::1]:*", "null"]).iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["https://a.example:443", "http://[::1]:*", "null"]);
    }

    #[test]
    fn allowed_hosts_cover_loopback_bind_and_configured_names() {
        let hosts = allowed_hosts("10.1.2.3".parse().expect("ip"), 8443, &["ingest.ward5.example".into()]);
        for host in ["localhost", "localhost:8443", "127.0.0.1:8443", "[::1]:8443", "10.1.2.3", "10.1.2.3:8443"] {
            assert!(hosts.iter().any(|h| h == host), "{host} missing from {hosts:?}");
        }
        assert!(hosts.iter().any(|h| h == "ingest.ward5.example:8443"));
    }

    #[test]
    fn tokens_are_matched_by_their_sha256() {
        let token = "s3cret-token";
        let sha256 = hex(&Sha256::digest(token.as_bytes()));
        let other = hex(&Sha256::digest(b"another"));
        let tokens = [
            TokenConfig { sha256: other, identity: "ops".into(), role: "operations".into() },
            TokenConfig { sha256, identity: "ward-5w".into(), role: "clinician".into() },
        ];
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).expect("header"));
            h
        };
        let caller = authenticate(&tokens, &headers("Bearer s3cret-token")).expect("known token");
        assert_eq!(
            (caller.identity.as_str(), caller.role.as_str(), caller.transport),
            ("ward-5w", "clinician", "http")
        );
        assert!(authenticate(&tokens, &headers("bearer s3cret-token")).is_some());
        assert!(authenticate(&tokens, &headers("Bearer s3cret-tokeN")).is_none());
        assert!(authenticate(&tokens, &headers("Basic s3cret-token")).is_none());
        assert!(authenticate(&tokens, &headers("Bearer ")).is_none());
        assert!(authenticate(&tokens, &HeaderMap::new()).is_none());
    }
}
