//! A redis-server process that a test owns: started on a free loopback port in its own directory,
//! killed, paused or restarted on purpose, and killed when dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::unique_prefix;

/// How long a server may take to answer PING after starting.
const START_DEADLINE: Duration = Duration::from_secs(20);

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

/// A loopback port nothing listens on, with the Cluster bus port (port + 10000) free too.
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        if port > 20000 && port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
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
        let port = free_port();
        let dir = std::env::temp_dir().join(unique_prefix().replace(':', "-"));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
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
            port,
            dir,
            args,
            child: None,
        };
        server.spawn();
        server
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new(server_binary())
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
        self.wait_until_it_answers();
    }

    fn wait_until_it_answers(&self) {
        let started = Instant::now();
        let password = self
            .args
            .iter()
            .position(|arg| arg == "--requirepass")
            .and_then(|at| self.args.get(at + 1));
        let url = match password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => self.url(),
        };
        loop {
            if let Ok(client) = redis::Client::open(url.as_str())
                && let Ok(mut connection) =
                    client.get_connection_with_timeout(Duration::from_millis(200))
                && redis::cmd("PING").query::<String>(&mut connection).is_ok()
            {
                return;
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
        let nodes: Vec<ServerProcess> = (0..3)
            .map(|_| {
                ServerProcess::start(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                ])
            })
            .collect();
        let mut create = Command::new(cli_binary());
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
        while !self.nodes.iter().all(|node| cluster_state_ok(node.port())) {
            assert!(
                started.elapsed() < START_DEADLINE,
                "the Cluster did not reach cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn cluster_state_ok(port: u16) -> bool {
    let info = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|client| client.get_connection_with_timeout(Duration::from_millis(200)))
        .and_then(|mut connection| {
            redis::cmd("CLUSTER")
                .arg("INFO")
                .query::<String>(&mut connection)
        });
    info.is_ok_and(|info| info.contains("cluster_state:ok"))
}
