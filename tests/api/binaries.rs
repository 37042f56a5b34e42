//! Running the real binaries (`genesys-bridge`, `genesys-sim`) and the few system tools the
//! tests drive them with (`sh`, `curl`, `kill`): a child starts with a cleared environment and
//! stdin closed, and either runs to completion within a deadline, its output collected
//! ([`run`]), or serves in the background with its output in a log file and is killed when
//! dropped ([`LoggedChild`]), so no failing test leaves a process behind.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub const BRIDGE: &str = env!("CARGO_BIN_EXE_genesys-bridge");
pub const SIM: &str = env!("CARGO_BIN_EXE_genesys-sim");

/// `program` with nothing inherited from this environment, stdin closed, run from the temporary
/// directory (relative paths, such as the store's `data_dir`, must not land in the repository).
pub fn isolated(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .stdin(Stdio::null())
        .current_dir(std::env::temp_dir());
    command
}

/// A system tool (`sh`, `curl`, `kill`): [`isolated`], with only `PATH` to find it by.
pub fn tool(name: &str) -> Command {
    let mut command = isolated(name);
    command.env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// `genesys-bridge --config-dir DIR --env PROFILE ARGS…`, [`isolated`].
pub fn bridge(config_dir: &Path, profile: &str, args: &[&str]) -> Command {
    let mut command = isolated(BRIDGE);
    command
        .arg("--config-dir")
        .arg(config_dir)
        .args(["--env", profile])
        .args(args);
    command
}

/// How a child that ran to completion ended, and what it printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// stdout, then stderr.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `command` to completion, collecting stdout and stderr; kills it and fails the test if
/// it outlasts `timeout`.
pub fn run(mut command: Command, timeout: Duration) -> Finished {
    let described = format!("{command:?}");
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {described}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let status = wait_for_exit(&mut child, timeout).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{described} did not finish within {timeout:?}")
    });
    Finished {
        status,
        stdout: stdout.join().expect("the stdout reader"),
        stderr: stderr.join().expect("the stderr reader"),
    }
}

/// The child's exit status, or `None` if it is still running after `timeout`.
pub fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A child running in the background (a `genesys-bridge serve`), stdout and stderr in one log
/// file; killed when dropped.
#[derive(Debug)]
pub struct LoggedChild {
    pub child: Child,
    log: PathBuf,
}

impl LoggedChild {
    /// Starts `command` with stdout and stderr written to a new file at `log`.
    pub fn spawn(mut command: Command, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let described = format!("{command:?}");
        let child = command
            .stdout(file.try_clone().expect("the log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {described}: {e}"));
        Self { child, log }
    }

    /// The child's exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("the child can be waited for")
    }

    /// Everything the child wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `kill -SIGNAL` to the child; how `kill` ran.
    pub fn signal(&self, signal: &str) -> Finished {
        let pid = self.child.id().to_string();
        let mut kill = tool("kill");
        kill.args([&format!("-{signal}"), &pid]);
        run(kill, Duration::from_secs(20))
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
