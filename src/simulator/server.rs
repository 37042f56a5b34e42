//! Serving the simulator on a real socket, for black-box tests and the `genesys-sim` binary.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Simulator;

/// How long [`RunningSimulator::shutdown`] lets in-flight requests finish (an injected latency
/// can be long) before it stops serving regardless.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A simulator listening on a socket. Dropping it stops the server too, without waiting.
#[derive(Debug)]
pub struct RunningSimulator {
    /// `http://127.0.0.1:PORT`: the base URL for both the login and the API host.
    pub base_url: String,
    pub simulator: Simulator,
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Simulator {
    /// Binds `addr` (port 0 picks a free port) and serves the simulator in a Tokio task.
    pub async fn spawn(self, addr: SocketAddr) -> io::Result<RunningSimulator> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let serve = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let task = tokio::spawn(async move { serve.await });
        tracing::debug!(%local_addr, "genesys simulator listening");
        Ok(RunningSimulator {
            base_url: format!("http://{local_addr}"),
            simulator: self,
            local_addr,
            shutdown,
            task: Some(task),
        })
    }
}

impl RunningSimulator {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits (bounded) for in-flight requests.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let Some(mut task) = self.task.take() else {
            return;
        };
        match tokio::time::timeout(DRAIN_TIMEOUT, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!(%err, "genesys simulator server failed"),
            Ok(Err(err)) => tracing::warn!(%err, "genesys simulator task failed"),
            Err(_) => {
                tracing::warn!("genesys simulator did not drain in time; aborting");
                task.abort();
            }
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::SimConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_on_a_free_port_and_shuts_down() {
        let running = Simulator::new(SimConfig::default())
            .spawn("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = running.local_addr();
        assert_ne!(addr.port(), 0);
        assert_eq!(running.base_url, format!("http://{addr}"));

        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /sim/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("inin-correlation-id:"));

        running.shutdown().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
