//! A small HTTP/1.1 keep-alive client: cheap enough per request that the load generator leaves
//! the CPU to the bridge on a 2-core machine.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use axum::http::Method;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use genesys_bridge::webhook::signature::{SignRequest, Verifier};

/// One webhook for conversation `conversation`, carrying `seq`.
pub fn webhook(verifier: &Verifier, conversation: usize, seq: u64) -> anyhow::Result<Vec<u8>> {
    let body = format!(
        r#"{{"conversationId":"bench-{conversation}","fields":{{"seq":"{seq}","tier":"gold"}}}}"#
    );
    signed(verifier, "/webhooks/bench", &body, seq)
}

/// The caller's number of bench call `call`: `+1317555` and four digits.
pub fn caller(call: usize) -> String {
    format!("+1317555{:04}", call % 10_000)
}

/// A webhook naming the call by its caller's number, written as a CRM might: `(317) 555-0042`.
pub fn webhook_by_number(verifier: &Verifier, call: usize, seq: u64) -> anyhow::Result<Vec<u8>> {
    let n = caller(call);
    let body = format!(
        r#"{{"phone":"({}) {}-{}","fields":{{"seq":"{seq}","tier":"gold"}}}}"#,
        &n[2..5],
        &n[5..8],
        &n[8..]
    );
    signed(verifier, "/webhooks/bench-phone", &body, seq)
}

fn signed(verifier: &Verifier, path: &str, body: &str, seq: u64) -> anyhow::Result<Vec<u8>> {
    let event_id = format!("evt-{seq}");
    let signed = verifier.sign(
        &SignRequest {
            method: &Method::POST,
            path_and_query: path,
            body: body.as_bytes(),
            event_id: Some(&event_id),
        },
        time::OffsetDateTime::now_utc(),
    )?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in signed.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    Ok(request.into_bytes())
}

#[derive(Debug)]
pub struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
        })
    }

    /// Sends one request and reads the whole answer; the status and how long it took.
    pub async fn send(&mut self, request: &[u8]) -> anyhow::Result<(u16, Duration)> {
        let started = Instant::now();
        self.stream.get_mut().write_all(request).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                anyhow::bail!("connection closed");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, started.elapsed()))
    }
}

/// One keep-alive connection to each replica, used in turn: this client's `k`-th request goes to
/// replica `(first + k) mod N`, so clients that start at different replicas spread the load evenly.
#[derive(Debug)]
pub struct RoundRobin {
    connections: Vec<Connection>,
    next: usize,
}

impl RoundRobin {
    pub async fn open(replicas: &[SocketAddr], first: usize) -> anyhow::Result<Self> {
        let mut connections = Vec::with_capacity(replicas.len());
        for addr in replicas {
            connections.push(Connection::open(*addr).await?);
        }
        anyhow::ensure!(!connections.is_empty(), "no replica to send to");
        Ok(Self {
            next: first % connections.len(),
            connections,
        })
    }

    /// Sends one request to the next replica: which one, the status, and how long it took.
    pub async fn send(&mut self, request: &[u8]) -> anyhow::Result<(usize, u16, Duration)> {
        let replica = self.next;
        self.next = (self.next + 1) % self.connections.len();
        let (status, took) = self.connections[replica].send(request).await?;
        Ok((replica, status, took))
    }
}

pub fn unix_ms(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// `"p50 / p99"` of `sorted`, in its own unit, two decimals.
pub fn p50_p99(sorted: &[f64]) -> String {
    format!(
        "{:.2} / {:.2}",
        percentile(sorted, 50.0),
        percentile(sorted, 99.0)
    )
}
