//! A redis-server process that a test owns: started on a free loopback port in its own directory,
//! killed, paused or restarted on purpose, and killed when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use super::unique_prefix;

/// How long a server may take to answer PING after starting.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// How many ports a new server tries before its test gives up.
const START_ATTEMPTS: usize = 5;

/// The redis-server binary: `MUTESTORE_REDIS_SERVER`, else `redis-server` on the `PATH`.
pub fn server_binary() -> String {
    std::env::var("MUTESTORE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

/// The redis-cli binary next to the server binary when there is one, else `redis-cli`.
pub fn cli_binary() -> String {
    let server = PathBuf::from(server_binary());
    match server.parent() {
        Some(dir) if dir.join("redis-cli").exists() => {
            dir.join("redis-cli").to_string_lossy().into_owned()
        }
        _ => "redis-cli".to_string(),
    }
}

/// The ports [`free_port`] hands out: below Linux's default range of ephemeral ports
/// (32768-60999), as their Cluster bus ports (port + 10000) are too. A port the OS picked for an
/// outgoing connection, as every Redis client makes, could otherwise be taken between the check
/// and the server's bind.
const PORTS: std::ops::Range<u16> = 20_000..22_700;

/// How many ports this process has handed out: each call gets a port no earlier call got.
static HANDED_OUT: AtomicU16 = AtomicU16::new(0);

/// A loopback port nothing listens on, with the Cluster bus port (port + 10000) free too, and not
/// handed out before by this process. Processes start at different places in [`PORTS`], and
/// [`ServerProcess::start`] moves on to another port if its server cannot bind the one it got.
pub fn free_port() -> u16 {
    let span = PORTS.end - PORTS.start;
    let offset = (std::process::id() % u32::from(span)) as u16;
    for _ in 0..span {
        let n = HANDED_OUT.fetch_add(1, Ordering::Relaxed) % span;
        let port = PORTS.start + (offset + n) % span;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
    panic!("no free loopback port in {PORTS:?}");
}

/// A redis-server child process.
pub struct ServerProcess {
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl ServerProcess {
    /// Starts a server with an append-only file synced on every write, so that data survives a
    /// kill, and `extra` arguments.
    pub fn start(extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(unique_prefix().replace(':', "-"));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let mut args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir.to_string_lossy(),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--logfile",
            "redis.log",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = Self {
            port: 0,
            dir,
            args,
            child: None,
        };
        // Another process may take the port between the check and the bind: the server then
        // exits at once, and another port is tried.
        for _ in 0..START_ATTEMPTS {
            server.port = free_port();
            match server.try_spawn() {
                Ok(()) => return server,
                Err(exited) => eprintln!("redis-server on port {}: {exited}", server.port),
            }
        }
        panic!(
            "redis-server did not start on any of {START_ATTEMPTS} ports; see {}",
            server.dir.join("redis.log").display()
        );
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL, with the password it was started with (`--requirepass`), if any.
    pub fn url(&self) -> String {
        match self.password() {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The password it was started with (`--requirepass`), if any.
    pub fn password(&self) -> Option<&str> {
        self.args
            .iter()
            .position(|arg| arg == "--requirepass")
            .and_then(|at| self.args.get(at + 1))
            .map(String::as_str)
    }

    /// Starts the process on its port, which must be free: after a kill, the port it had.
    fn spawn(&mut self) {
        if let Err(exited) = self.try_spawn() {
            panic!(
                "redis-server on port {}: {exited}; see {}",
                self.port,
                self.dir.join("redis.log").display()
            );
        }
    }

    /// Starts the process and waits until it answers; `Err` if it exited first, as a server does
    /// when its port is taken.
    fn try_spawn(&mut self) -> Result<(), String> {
        let child = Command::new(server_binary())
            .arg("--port")
            .arg(self.port.to_string())
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start {} ({e}); install redis-server or set MUTESTORE_REDIS_SERVER",
                    server_binary()
                )
            });
        self.child = Some(child);
        self.wait_until_it_answers()
    }

    /// Waits until this process answers PING; `Err` if it exited first. Without that check, a
    /// server that could not bind its port would pass for another process's server on it.
    fn wait_until_it_answers(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let url = self.url();
        let pid = self
            .child
            .as_ref()
            .expect("the server was just spawned")
            .id();
        loop {
            let child = self.child.as_mut().expect("the server was just spawned");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!("exited ({status}) before it answered"));
            }
            if let Ok(client) = redis::Client::open(url.as_str())
                && let Ok(mut connection) =
                    client.get_connection_with_timeout(Duration::from_millis(200))
                // A frozen process holding the port accepts and never answers: bounded waits.
                && connection
                    .set_read_timeout(Some(Duration::from_millis(500)))
                    .is_ok()
                && connection
                    .set_write_timeout(Some(Duration::from_millis(500)))
                    .is_ok()
                && redis::cmd("PING").query::<String>(&mut connection).is_ok()
            {
                // A server answered: ours only if it runs as our process.
                let answering = redis::cmd("INFO")
                    .arg("server")
                    .query::<String>(&mut connection)
                    .ok()
                    .and_then(|info| {
                        info.lines()
                            .find_map(|line| line.strip_prefix("process_id:"))
                            .and_then(|pid| pid.trim().parse::<u32>().ok())
                    });
                if answering == Some(pid) {
                    return Ok(());
                }
                self.kill();
                return Err(format!(
                    "another process (pid {answering:?}) answered on it"
                ));
            }
            assert!(
                started.elapsed() < START_DEADLINE,
                "redis-server on port {} did not answer; see {}",
                self.port,
                self.dir.join("redis.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process at once (SIGKILL): no shutdown, connections drop.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port and directory, with the data it had synced.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Freezes the process (SIGSTOP): connections stay open and nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused process run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused process is killed all the same; resuming first lets it exit cleanly.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(child.id().to_string())
                .status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three servers joined into a Cluster of three primaries and no replicas.
pub struct ClusterProcesses {
    /// The nodes, in the order given to `redis-cli --cluster create`.
    pub nodes: Vec<ServerProcess>,
}

impl ClusterProcesses {
    /// Starts three Cluster-enabled servers and creates the Cluster.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`start`](Self::start), each server with `extra` arguments (`--requirepass` among them
    /// makes every node ask for that password).
    pub fn start_with(extra: &[&str]) -> Self {
        let nodes: Vec<ServerProcess> = (0..3)
            .map(|_| {
                let mut args = vec![
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                ];
                args.extend_from_slice(extra);
                ServerProcess::start(&args)
            })
            .collect();
        let mut create = Command::new(cli_binary());
        if let Some(password) = nodes[0].password() {
            create.args(["-a", password, "--no-auth-warning"]);
        }
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        let output = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = Self { nodes };
        cluster.wait_until_ok();
        cluster
    }

    /// The node URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(ServerProcess::url).collect()
    }

    /// Waits until every node that is up reports `cluster_state:ok`.
    pub fn wait_until_ok(&self) {
        let started = Instant::now();
        while !self.nodes.iter().all(cluster_state_ok) {
            assert!(
                started.elapsed() < START_DEADLINE,
                "the Cluster did not reach cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn cluster_state_ok(node: &ServerProcess) -> bool {
    let info = redis::Client::open(node.url())
        .and_then(|client| client.get_connection_with_timeout(Duration::from_millis(200)))
        .and_then(|mut connection| {
            redis::cmd("CLUSTER")
                .arg("INFO")
                .query::<String>(&mut connection)
        });
    info.is_ok_and(|info| info.contains("cluster_state:ok"))
}
