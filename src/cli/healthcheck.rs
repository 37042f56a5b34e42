//! `genesys-bridge healthcheck`: one GET for a container's `HEALTHCHECK`, where there is no curl.
//!
//! Healthy is a `2xx` answer within [`TIMEOUT`]; anything else (another status, a redirect, no
//! answer, a refused connection, an invalid URL) is unhealthy. Either way the result is one line,
//! which Docker keeps in the container's health log.

use std::error::Error as _;
use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// The bridge's readiness endpoint on the default `server.port`, from inside the container.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/health/ready";

/// The whole probe: connect, send, status and body. `/health/ready` answers within about 2 s
/// even when it has to ask Genesys for a token.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// How much of an unhealthy answer's body goes into the line (the readiness checks fit).
const BODY_EXCERPT_CHARS: usize = 400;

/// What one probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub healthy: bool,
    /// One line: `healthy: 200 OK from URL`, or `unhealthy: ...` saying what went wrong.
    pub line: String,
}

impl Probe {
    fn unhealthy(line: String) -> Self {
        Self {
            healthy: false,
            line,
        }
    }

    /// 0 when healthy, 1 otherwise: what `HEALTHCHECK` expects.
    pub fn exit_code(&self) -> ExitCode {
        if self.healthy {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

/// GETs `url` once, giving up after `timeout`.
pub async fn probe(url: &str, timeout: Duration) -> Probe {
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // A loopback probe must not go through an HTTP(S)_PROXY set for the bridge's calls out.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(err) => return Probe::unhealthy(format!("unhealthy: {}", chain(&err))),
    };
    let response = match client.get(url).send().await {
        Ok(response) => response,
        Err(err) if err.is_builder() => {
            return Probe::unhealthy(format!("unhealthy: invalid URL {url:?}: {}", chain(&err)));
        }
        Err(err) if err.is_timeout() => {
            return Probe::unhealthy(format!(
                "unhealthy: no answer from {url} within {timeout:?}"
            ));
        }
        Err(err) => {
            return Probe::unhealthy(format!("unhealthy: cannot reach {url}: {}", chain(&err)));
        }
    };
    let status = response.status();
    if status.is_success() {
        return Probe {
            healthy: true,
            line: format!("healthy: {status} from {url}"),
        };
    }
    let body = response.text().await.unwrap_or_default();
    let body = one_line(&body, BODY_EXCERPT_CHARS);
    Probe::unhealthy(if body.is_empty() {
        format!("unhealthy: {status} from {url}")
    } else {
        format!("unhealthy: {status} from {url}: {body}")
    })
}

/// The command: probes `url` with [`TIMEOUT`] on a runtime of its own, writes the line to `out`
/// and returns the exit code.
pub fn run(url: &str, out: &mut impl Write) -> std::io::Result<ExitCode> {
    let probe = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(probe(url, TIMEOUT)),
        Err(err) => Probe::unhealthy(format!("unhealthy: cannot start the async runtime: {err}")),
    };
    writeln!(out, "{probe}")?;
    Ok(probe.exit_code())
}

/// An error and its causes, `outer: inner: ...` (reqwest's own message hides the cause).
fn chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `text` with runs of whitespace made one space, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {

    use std::net::{Ipv4Addr, SocketAddr};

    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;

    use super::*;

    /// A server answering `GET /probe` with `status` and `body`; returns its URL.
    async fn serve(status: StatusCode, body: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/probe", get(move || async move { (status, body) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/probe")
    }

    /// A loopback port nothing listens on (bound, then released).
    fn closed_port_url() -> String {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}/health/ready")
    }

    #[tokio::test]
    async fn a_2xx_answer_is_healthy() {
        let url = serve(StatusCode::OK, r#"{"status":"ready"}"#).await;

        let probe = probe(&url, TIMEOUT).await;

        assert!(probe.healthy, "{probe}");
        assert_eq!(probe.line, format!("healthy: 200 OK from {url}"));
    }

    #[tokio::test]
    async fn a_503_is_unhealthy_and_the_line_shows_the_failing_checks() {
        let url = serve(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"status\":\"not_ready\",\n \"checks\":[{\"name\":\"store\",\"status\":\"failing\"}]}",
        )
        .await;

        let probe = probe(&url, TIMEOUT).await;

        assert!(!probe.healthy);
        assert_eq!(
            probe.line,
            format!(
                "unhealthy: 503 Service Unavailable from {url}: {{\"status\":\"not_ready\", \"checks\":[{{\"name\":\"store\",\"status\":\"failing\"}}]}}"
            )
        );
    }

    #[tokio::test]
    async fn a_redirect_is_unhealthy_not_followed() {
        let url = serve(StatusCode::TEMPORARY_REDIRECT, "").await;

        let probe = probe(&url, TIMEOUT).await;

        assert!(!probe.healthy);
        assert_eq!(
            probe.line,
            format!("unhealthy: 307 Temporary Redirect from {url}")
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unhealthy_and_says_it_cannot_connect() {
        let url = closed_port_url();

        let probe = probe(&url, TIMEOUT).await;

        assert!(!probe.healthy);
        assert!(
            probe
                .line
                .starts_with(&format!("unhealthy: cannot reach {url}: ")),
            "{probe}"
        );
        assert!(probe.line.contains("refused"), "{probe}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_unhealthy_after_the_timeout() {
        // Accepts the connection, never answers.
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .unwrap();
        let url = format!("http://{}/health/ready", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(socket);
        });

        let started = std::time::Instant::now();
        let probe = probe(&url, Duration::from_millis(300)).await;

        assert!(!probe.healthy);
        assert_eq!(
            probe.line,
            format!("unhealthy: no answer from {url} within 300ms")
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        held.abort();
    }

    #[tokio::test]
    async fn an_invalid_url_is_unhealthy() {
        let probe = probe("not a url", TIMEOUT).await;

        assert!(!probe.healthy);
        assert!(
            probe
                .line
                .starts_with("unhealthy: invalid URL \"not a url\""),
            "{probe}"
        );
    }

    #[test]
    fn run_writes_one_line_and_exits_1_when_unhealthy() {
        let mut out = Vec::new();

        let code = run(&closed_port_url(), &mut out).unwrap();

        assert_eq!(code, ExitCode::FAILURE);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("unhealthy: "), "{text}");
    }

    #[test]
    fn long_bodies_are_cut_to_one_short_line() {
        let body = "a\nb ".repeat(500);

        let line = one_line(&body, 10);

        assert_eq!(line, "a b a b a …");
    }
}
