//! The example server as a process: built by cargo, started on an ephemeral port, spoken to over
//! TCP, stopped with signals.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;

use common::client::parse_raw_response;
use serde_json::{Value, json};

/// The example's binary. Built by the cargo that runs these tests, into the same target directory
/// and profile (a no-op when `cargo test` has built the examples already, as it does by default),
/// and located from cargo's own report of the artifact, so no path is guessed.
fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--example",
            "server",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ]);
        // The profile of this test binary: its directory is `<target>/<profile dir>/deps`.
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .unwrap_or("debug");
        match profile_dir {
            "debug" => {}
            "release" => {
                build.arg("--release");
            }
            other => {
                build.args(["--profile", other]);
            }
        }
        // The same optional features as this test binary, so the example is not rebuilt without
        // them (and the Redis test gets a server that speaks Redis).
        if cfg!(feature = "redis") {
            build.args(["--features", "redis"]);
        }
        let output = build.stderr(Stdio::inherit()).output().expect("cargo runs");
        assert!(
            output.status.success(),
            "cargo build --example server failed"
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|message| {
                message["reason"] == "compiler-artifact"
                    && message["target"]["name"] == "server"
                    && message["target"]["kind"] == json!(["example"])
            })
            .and_then(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the example's executable")
    })
}

/// A running example server.
struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
    addr: String,
    startup_line: String,
}

/// `--memory` unless the test chooses the store itself: the server's default data directory is
/// `./data`, which tests running side by side must not share.
fn store_args(args: &[&str]) -> &'static [&'static str] {
    let chooses_store =
        |arg: &&str| matches!(*arg, "--data" | "--memory" | "--redis" | "--redis-cluster");
    if args.iter().any(chooses_store) {
        &[]
    } else {
        &["--memory"]
    }
}

/// Drains a pipe on a thread, so the process never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Sends `signal` (e.g. `TERM`) to the process `pid`.
fn send_signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{signal} {pid}");
}

impl Server {
    /// Starts the server on an ephemeral port and waits for its start-up line.
    fn start(extra_args: &[&str]) -> Self {
        let child = Command::new(server_binary())
            .args(["--addr", "127.0.0.1:0"])
            .args(store_args(extra_args))
            .args(extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        Self::started(child)
    }

    /// A server spawned with its stdout piped, once it has printed its start-up line; its stderr
    /// is drained if piped.
    fn started(mut child: Child) -> Self {
        let stderr = child.stderr.take().map(drain);
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut startup_line = String::new();
        stdout
            .read_line(&mut startup_line)
            .expect("a start-up line");
        let addr = startup_line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {startup_line:?}"))
            .to_owned();
        Self {
            child,
            stdout,
            stderr,
            addr,
            startup_line,
        }
    }

    /// One request on its own connection: status and JSON body. A server that does not answer
    /// within 60 s fails the test rather than hanging it.
    fn call(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .expect("read timeout");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("read");
        let (status, _, json) = parse_raw_response(&response);
        (status, json)
    }

    fn as_demo_user(&self, method: &str, path: &str) -> (u16, Value) {
        self.call(
            method,
            path,
            &[
                ("IM-CLIENT-KEY", "demo-client-key"),
                ("IM-Authorization", "demo-token"),
            ],
        )
    }

    /// Sends `signal` (e.g. `TERM`) and waits for the process to end: its status, and the rest of
    /// its stdout.
    fn stop_with(mut self, signal: &str) -> (ExitStatus, String) {
        send_signal(self.child.id(), signal);
        let status = self.child.wait().expect("the server ends");
        let mut rest = String::new();
        self.stdout
            .read_to_string(&mut rest)
            .expect("the rest of stdout");
        (status, rest)
    }

    /// Stops it with SIGTERM: everything it wrote to stderr, its logs.
    fn stop_and_read_logs(mut self) -> String {
        let stderr = self.stderr.take();
        let (status, _) = self.stop_with("TERM");
        assert!(status.success(), "{status:?}");
        stderr
            .map(|drained| drained.join().expect("stderr drained"))
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only if a test failed before stopping it.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(stderr) = self.stderr.take() {
            let _ = stderr.join();
        }
    }
}

#[cfg(unix)]
#[test]
fn serves_the_seed_pages_curl_and_stops_on_sigterm() {
    let server = Server::start(&[]);
    assert!(
        server
            .startup_line
            .starts_with("mutestore example server listening on http://127.0.0.1:")
    );
    assert!(
        server.startup_line.contains("MemoryStore"),
        "{}",
        server.startup_line
    );
    assert!(
        server.startup_line.contains("demo seed"),
        "{}",
        server.startup_line
    );
    assert!(
        server.startup_line.contains(
            "at most 512 connections open, each closed after 10 s without a request head or \
             30 s without write progress; a request not answered within 10 s gets 408; event \
             streams per user: at most 4)"
        ),
        "{}",
        server.startup_line
    );

    let (status, body) = server.as_demo_user("DELETE", "/me/mute/demo-room");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"RC": 0, "RM": "OK", "result": {
            "_id": "demo-user", "nickname": "Demo User", "email": "demo@example.com",
            "appID": "SampleApp", "avatarUrl": "http://example.com/avatarUrl", "mute": []
        }})
    );
    let (status, body) = server.as_demo_user("POST", "/me/mute/room-42");
    assert_eq!(
        (status, &body["result"]["mute"]),
        (200, &json!(["room-42"]))
    );
    let (status, body) = server.as_demo_user("GET", "/me");
    assert_eq!(
        (status, &body["result"]["mute"]),
        (200, &json!(["room-42"]))
    );
    let (status, body) = server.call(
        "POST",
        "/admin/clients/demo-user/mute/demo-room",
        &[("IM-API-KEY", "demo-api-key")],
    );
    assert_eq!(
        (status, &body["result"]["mute"]),
        (200, &json!(["room-42", "demo-room"]))
    );
    let (status, body) = server.call("GET", "/nowhere", &[]);
    assert_eq!((status, &body["error"]["code"]), (404, &json!("NOT_FOUND")));
    let (status, body) = server.call("GET", "/openapi.json", &[]);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::from_str::<Value>(mutestore::OPENAPI_JSON).expect("JSON")
    );

    let (status, rest) = server.stop_with("TERM");
    assert!(status.success(), "{status:?}");
    assert!(rest.contains("received SIGTERM"), "{rest}");
    assert!(rest.contains("stopped"), "{rest}");
}

#[cfg(unix)]
#[test]
fn logs_a_line_per_request_unless_quiet() {
    for (args, logged) in [
        (&[][..], true),
        (&["--quiet"][..], false),
        (&["-q"][..], false),
    ] {
        let server = Server::start(args);
        let (status, _) = server.as_demo_user("DELETE", "/me/mute/demo-room");
        assert_eq!(status, 200, "{args:?}");
        let logs = server.stop_and_read_logs();
        assert_eq!(
            logs.contains("/me/mute/demo-room"),
            logged,
            "{args:?}: {logs}"
        );
    }
}

#[cfg(unix)]
#[test]
fn stops_on_sigint_sent_right_after_the_start_up_line() {
    // The handlers are installed before the line is printed: no window where a signal kills it.
    let server = Server::start(&[]);
    let (status, rest) = server.stop_with("INT");
    assert!(status.success(), "{status:?}");
    assert!(rest.contains("received SIGINT"), "{rest}");
}

/// A file under the target directory's scratch space, unique to this test.
fn scratch_file(name: &str, contents: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("example_server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("a scratch file");
    path
}

#[cfg(unix)]
#[test]
fn a_seed_file_replaces_the_demo_seed() {
    let seed = json!({
        "clientKeys": ["web-key"],
        "apiKeys": ["admin-key"],
        "rooms": ["lobby"],
        "users": [{"token": "t-1", "profile": {"_id": "u-1", "nickname": "One"}}]
    });
    let path = scratch_file("seed.json", &seed.to_string());
    let server = Server::start(&["--seed", path.to_str().expect("a UTF-8 path")]);
    assert!(
        server.startup_line.contains("seed.json"),
        "{}",
        server.startup_line
    );
    let (status, body) = server.call(
        "POST",
        "/me/mute/lobby",
        &[("IM-CLIENT-KEY", "web-key"), ("IM-Authorization", "t-1")],
    );
    assert_eq!(
        (status, &body["result"]),
        (
            200,
            &json!({"_id": "u-1", "nickname": "One", "mute": ["lobby"]})
        )
    );
    // The demo seed is gone.
    let (status, body) = server.as_demo_user("GET", "/me");
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("INVALID_CLIENT_KEY"))
    );
    let (status, _) = server.stop_with("TERM");
    assert!(status.success());
}

/// Runs the server to completion with `args`: exit status, stdout, stderr.
fn run_to_end(args: &[&str]) -> (ExitStatus, String, String) {
    let output = Command::new(server_binary())
        .args(["--addr", "127.0.0.1:0"])
        .args(store_args(args))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the server runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_malformed_seed_file_stops_start_up_naming_the_file_and_the_problem() {
    let cases = [
        ("broken.json", "{\"clientKeys\": [", "EOF while parsing"),
        (
            "missing.json",
            r#"{"clientKeys": [], "apiKeys": [], "rooms": []}"#,
            "missing field `users`",
        ),
        (
            "room.json",
            r#"{"clientKeys": ["k"], "apiKeys": [], "rooms": ["ok", "bad\u0007"], "users": []}"#,
            "`rooms[1]` is not a valid room id",
        ),
        (
            "user.json",
            r#"{"clientKeys": ["k"], "apiKeys": [], "rooms": [], "users": [{"token": "t", "profile": {}}]}"#,
            "`users[0].profile._id` is missing",
        ),
    ];
    for (name, contents, problem) in cases {
        let path = scratch_file(name, contents);
        let path = path.to_str().expect("a UTF-8 path");
        let (status, stdout, stderr) = run_to_end(&["--seed", path]);
        assert!(!status.success(), "{name}: {status:?}");
        assert!(stderr.contains(path), "{name}: {stderr}");
        assert!(stderr.contains(problem), "{name}: {stderr}");
        assert!(!stdout.contains("listening"), "{name}: {stdout}");
    }
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-seed.json");
    let missing = missing.to_str().expect("a UTF-8 path");
    let (status, _, stderr) = run_to_end(&["--seed", missing]);
    assert!(!status.success());
    assert!(stderr.contains(missing), "{stderr}");
    #[cfg(unix)]
    assert!(stderr.contains("No such file"), "{stderr}");
}

#[test]
fn bad_arguments_exit_with_the_usage() {
    for args in [
        &["--bogus"][..],
        &["--seed"],
        &["--allow-origin", "https://a.example/"],
        &["--data", "somewhere", "--memory"],
        &["--max-connections", "0"],
        &["--max-connections", "many"],
        &["--max-streams-per-user", "-1"],
        &["--max-streams-per-user", "1.5"],
        &["--max-streams-per-user", "many"],
        &["--max-streams-per-user"],
        &["--header-timeout-secs", "0"],
        &["--header-timeout-secs", "-1"],
        &["--header-timeout-secs", "1.5"],
        &["--header-timeout-secs", "soon"],
        &["--header-timeout-secs", "86401"],
        &["--header-timeout-secs", "99999999999999999999"],
        &["--header-timeout-secs"],
        &["--request-timeout-secs", "0"],
        &["--request-timeout-secs", "-1"],
        &["--request-timeout-secs", "1.5"],
        &["--request-timeout-secs", "soon"],
        &["--request-timeout-secs", "86401"],
        &["--request-timeout-secs", "99999999999999999999"],
        &["--request-timeout-secs"],
        &["--write-timeout-secs", "0"],
        &["--write-timeout-secs", "-1"],
        &["--write-timeout-secs", "1.5"],
        &["--write-timeout-secs", "soon"],
        &["--write-timeout-secs", "86401"],
        &["--write-timeout-secs", "99999999999999999999"],
        &["--write-timeout-secs"],
    ] {
        let (status, stdout, stderr) = run_to_end(args);
        assert_eq!(status.code(), Some(2), "{args:?}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        assert!(!stdout.contains("listening"));
    }
    let (status, stdout, _) = run_to_end(&["--help"]);
    assert!(status.success());
    assert!(
        stdout.contains("--addr HOST:PORT") && stdout.contains("--seed FILE"),
        "{stdout}"
    );
}

/// A fresh directory under the target directory's scratch space.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("example_server-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

#[cfg(unix)]
#[test]
fn mutes_survive_a_restart_on_the_same_data_directory() {
    let dir = scratch_dir("restart");
    let dir = dir.to_str().expect("a UTF-8 path");
    let server = Server::start(&["--data", dir]);
    assert!(
        server.startup_line.contains("DurableStore")
            && server.startup_line.contains("0 users loaded"),
        "{}",
        server.startup_line
    );
    for room in ["room-7", "demo-room", "room-3"] {
        let (status, _) = server.as_demo_user("POST", &format!("/me/mute/{room}"));
        assert_eq!(status, 200);
    }
    let (status, _) = server.as_demo_user("DELETE", "/me/mute/demo-room");
    assert_eq!(status, 200);
    let (status, _) = server.stop_with("TERM");
    assert!(status.success());

    let server = Server::start(&["--data", dir]);
    assert!(
        server.startup_line.contains(", 1 user loaded,"),
        "{}",
        server.startup_line
    );
    let (status, body) = server.as_demo_user("GET", "/me");
    assert_eq!(
        (status, &body["result"]["mute"]),
        (200, &json!(["room-7", "room-3"]))
    );
    let (status, _) = server.stop_with("TERM");
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = scratch_dir("locked");
    let dir = dir.to_str().expect("a UTF-8 path");
    let first = Server::start(&["--data", dir]);
    let (status, stdout, stderr) = run_to_end(&["--data", dir]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot open the store"),
        "{stderr}"
    );
    assert!(stderr.contains(dir), "{stderr}");
    assert!(!stdout.contains("listening"));
    // The first one still serves.
    let (status, _) = first.as_demo_user("GET", "/me");
    assert_eq!(status, 200);
    let (status, _) = first.stop_with("TERM");
    assert!(status.success());
}

/// Two servers on one Redis see each other's changes at once: a mute through one is in `GET /me`
/// through the other, and an unmute through the second is gone from the first; the second's
/// event stream hears the first's changes and the lapse of a timed mute. Needs a Redis:
/// `bash .ci/redis.sh` runs it with the `redis` feature and sets `MUTESTORE_REDIS_URL` and
/// `MUTESTORE_REDIS_CLUSTER_NODES`.
#[cfg(all(unix, feature = "redis"))]
#[test]
fn two_servers_on_one_redis_share_every_change() {
    let standalone = std::env::var("MUTESTORE_REDIS_URL")
        .expect("MUTESTORE_REDIS_URL names the Redis to test against (bash .ci/redis.sh sets it)");
    let cluster = std::env::var("MUTESTORE_REDIS_CLUSTER_NODES").expect(
        "MUTESTORE_REDIS_CLUSTER_NODES names the Cluster to test against (bash .ci/redis.sh sets it)",
    );
    for (option, target) in [("--redis", standalone), ("--redis-cluster", cluster)] {
        // A user no other run has touched, so the shared Redis needs no cleaning.
        let user = format!(
            "e2e-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos())
        );
        let seed = json!({
            "clientKeys": ["demo-client-key"],
            "apiKeys": ["demo-api-key"],
            "rooms": ["room-1", "room-2"],
            "users": [{"token": "demo-token", "profile": {"_id": user}}],
        });
        let seed = scratch_file(&format!("{user}.json"), &seed.to_string());
        let seed = seed.to_str().expect("a UTF-8 path");
        let first = Server::start(&[option, &target, "--seed", seed]);
        let second = Server::start(&[option, &target, "--seed", seed]);
        assert!(
            first.startup_line.contains("RedisStore"),
            "{}",
            first.startup_line
        );

        // The second server's stream hears the first server's changes, and the expiry.
        let mut events = RawEventStream::open(&second.addr, "demo-token");
        let (status, _) = first.as_demo_user("POST", "/me/mute/room-1");
        assert_eq!(status, 200);
        let (status, _) = first.as_demo_user("POST", "/me/mute/room-2");
        assert_eq!(status, 200);
        for room in ["room-1", "room-2"] {
            assert_eq!(
                events.next_event(),
                json!({"room": room, "muted": true, "untilMS": null, "cause": "user"}),
                "{option}"
            );
        }
        let (status, body) = second.as_demo_user("GET", "/me");
        assert_eq!(
            (status, &body["result"]["mute"]),
            (200, &json!(["room-1", "room-2"])),
            "{option}"
        );
        let (status, _) = second.as_demo_user("DELETE", "/me/mute/room-1");
        assert_eq!(status, 200);
        let (status, body) = first.as_demo_user("GET", "/me");
        assert_eq!(
            (status, &body["result"]["mute"]),
            (200, &json!(["room-2"])),
            "{option}"
        );
        assert_eq!(
            events.next_event(),
            json!({"room": "room-1", "muted": false, "untilMS": null, "cause": "user"}),
            "{option}"
        );
        let (status, body) =
            first.as_demo_user_with_body("POST", "/me/mute/room-1", r#"{"durationMS": 300}"#);
        assert_eq!(status, 200, "{body}");
        let until = body["result"]["muteUntil"]["room-1"].as_u64();
        assert!(until.is_some(), "{body}");
        assert_eq!(
            events.next_event(),
            json!({"room": "room-1", "muted": true, "untilMS": until, "cause": "user"}),
            "{option}"
        );
        assert_eq!(
            events.next_event(),
            json!({"room": "room-1", "muted": false, "untilMS": null, "cause": "expiry"}),
            "{option}"
        );
        drop(events);
        for server in [first, second] {
            let (status, _) = server.stop_with("TERM");
            assert!(status.success());
        }
    }
}

/// `GET /me` as the demo user, on a kept-alive connection.
const GET_ME: &str = "GET /me HTTP/1.1\r\nHost: x\r\nIM-CLIENT-KEY: demo-client-key\r\nIM-Authorization: demo-token\r\n\r\n";

/// A kept-alive connection that sends requests one after another.
struct KeptAlive {
    stream: TcpStream,
}

impl KeptAlive {
    fn open(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        // A guard against a hang, not a measurement: no answer in a minute fails the test.
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .expect("a read timeout");
        Self { stream }
    }

    /// Sends `GET /me` as the demo user, without waiting for the answer.
    fn send_get_me(&mut self) {
        self.stream
            .write_all(GET_ME.as_bytes())
            .expect("write a request");
    }

    /// Reads one response with a `Content-Length` body: its status.
    fn read_status(&mut self) -> u16 {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.stream.read_exact(&mut byte).expect("a response head");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .expect("a Content-Length");
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).expect("the body");
        head.split(' ')
            .nth(1)
            .and_then(|status| status.parse().ok())
            .expect("a status")
    }

    fn get_me(&mut self) -> u16 {
        self.send_get_me();
        self.read_status()
    }
}

#[cfg(unix)]
#[test]
fn connections_past_the_cap_wait_in_the_backlog_until_one_closes() {
    let server = Server::start(&["--max-connections", "2"]);
    assert!(
        server.startup_line.contains("at most 2 connections open"),
        "{}",
        server.startup_line
    );
    // Two kept-alive connections hold both slots.
    let mut first = KeptAlive::open(&server.addr);
    let mut second = KeptAlive::open(&server.addr);
    assert_eq!(first.get_me(), 200);
    assert_eq!(second.get_me(), 200);

    // A third connects (the kernel's backlog takes it) and sends its request.
    let mut third = KeptAlive::open(&server.addr);
    third.send_get_me();
    // The server goes on answering the two open connections, many round trips, while the third
    // gets nothing: it is not taken off the backlog.
    for _ in 0..25 {
        assert_eq!(first.get_me(), 200);
        assert_eq!(second.get_me(), 200);
    }
    third.stream.set_nonblocking(true).expect("non-blocking");
    let mut byte = [0u8; 1];
    match third.stream.read(&mut byte) {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the third connection got an answer past the cap: {other:?}"),
    }
    third.stream.set_nonblocking(false).expect("blocking");

    // One closes: its slot goes to the third, whose waiting request is answered.
    drop(first);
    assert_eq!(third.read_status(), 200);
    assert_eq!(third.get_me(), 200);
    assert_eq!(second.get_me(), 200);

    let (status, _) = server.stop_with("TERM");
    assert!(status.success(), "{status:?}");
}

/// `GET /me/events` on a raw connection, read frame by frame from its chunked body.
struct RawEventStream {
    stream: BufReader<TcpStream>,
    decoded: Vec<u8>,
}

impl RawEventStream {
    /// Opens the stream of the user of `token`: checks the head and reads the `retry` frame.
    fn open(addr: &str, token: &str) -> Self {
        Self::try_open(addr, token)
            .unwrap_or_else(|(status, body)| panic!("GET /me/events was answered {status}: {body}"))
    }

    /// [`open`](Self::open), or the status and JSON body of a response that refused the stream.
    fn try_open(addr: &str, token: &str) -> Result<Self, (u16, Value)> {
        let mut stream = TcpStream::connect(addr).expect("connect");
        // A guard against a hang, not a measurement.
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("a read timeout");
        let request = format!(
            "GET /me/events HTTP/1.1\r\nHost: x\r\nIM-CLIENT-KEY: demo-client-key\r\nIM-Authorization: {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).expect("write");
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a response head");
            if line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        if !head.starts_with("http/1.1 200") {
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|status| status.parse().ok())
                .unwrap_or_else(|| panic!("a status line: {head}"));
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|length| length.trim().parse().ok())
                .unwrap_or_else(|| panic!("a refusal with a Content-Length: {head}"));
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).expect("the refusal's body");
            return Err((status, serde_json::from_slice(&body).expect("a JSON body")));
        }
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        assert!(head.contains("cache-control: no-cache"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        let mut opened = Self {
            stream: reader,
            decoded: Vec::new(),
        };
        assert_eq!(opened.next_frame().as_deref(), Some("retry: 2000"));
        Ok(opened)
    }

    /// The next frame without its blank line, `None` at the end of the body.
    fn next_frame(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.decoded.windows(2).position(|pair| pair == b"\n\n") {
                let frame: Vec<u8> = self.decoded.drain(..end + 2).collect();
                return Some(String::from_utf8(frame[..end].to_vec()).expect("UTF-8"));
            }
            let mut size_line = String::new();
            let read = self.stream.read_line(&mut size_line).expect("a chunk");
            if read == 0 {
                return None;
            }
            let size = usize::from_str_radix(size_line.trim_end(), 16)
                .unwrap_or_else(|_| panic!("a chunk size: {size_line:?}"));
            let mut chunk = vec![0u8; size + 2];
            self.stream.read_exact(&mut chunk).expect("a chunk's bytes");
            if size == 0 {
                return None;
            }
            self.decoded.extend_from_slice(&chunk[..size]);
        }
    }

    /// The next event's JSON, skipping keep-alive comments.
    fn next_event(&mut self) -> Value {
        loop {
            let frame = self.next_frame().expect("an event before the end");
            if frame.starts_with(':') {
                continue;
            }
            let data = frame
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("a data frame: {frame:?}"));
            return serde_json::from_str(data).expect("JSON");
        }
    }
}

impl Server {
    /// A request with a body, as the demo user, on its own connection.
    fn as_demo_user_with_body(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nIM-CLIENT-KEY: demo-client-key\r\nIM-Authorization: demo-token\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("read");
        let (status, _, json) = parse_raw_response(&response);
        (status, json)
    }

    /// Sends `signal` and waits at most `limit` for the process to end: its status, how long it
    /// took, and the rest of its stdout. Kills it and fails if it does not end in time.
    fn stop_within(
        mut self,
        signal: &str,
        limit: std::time::Duration,
    ) -> (ExitStatus, std::time::Duration, String) {
        let started = std::time::Instant::now();
        send_signal(self.child.id(), signal);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("a status") {
                break status;
            }
            assert!(
                started.elapsed() < limit,
                "the server did not stop within {limit:?} of SIG{signal}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let elapsed = started.elapsed();
        let mut rest = String::new();
        self.stdout
            .read_to_string(&mut rest)
            .expect("the rest of stdout");
        (status, elapsed, rest)
    }
}

#[cfg(unix)]
#[test]
fn a_short_timed_mute_lapses_and_the_event_stream_says_expiry() {
    let server = Server::start(&[]);
    let mut events = RawEventStream::open(&server.addr, "demo-token");
    let (status, body) =
        server.as_demo_user_with_body("POST", "/me/mute/room-1", r#"{"durationMS": 300}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["mute"], json!(["room-1"]));
    let until = body["result"]["muteUntil"]["room-1"]
        .as_u64()
        .expect("a deadline");
    assert_eq!(
        events.next_event(),
        json!({"room": "room-1", "muted": true, "untilMS": until, "cause": "user"})
    );
    // The server purges the mute at its deadline on its own, and says so.
    assert_eq!(
        events.next_event(),
        json!({"room": "room-1", "muted": false, "untilMS": null, "cause": "expiry"})
    );
    let (status, body) = server.as_demo_user("GET", "/me");
    assert_eq!((status, &body["result"]["mute"]), (200, &json!([])));
    assert!(body["result"].get("muteUntil").is_none(), "{body}");
    // A bad body is refused and sends nothing: the next event is the next change.
    let (status, body) =
        server.as_demo_user_with_body("POST", "/me/mute/room-2", r#"{"durationMS": 0}"#);
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("INVALID_PARAMETER"))
    );
    let (status, _) = server.call(
        "POST",
        "/admin/clients/demo-user/mute/room-3",
        &[("IM-API-KEY", "demo-api-key")],
    );
    assert_eq!(status, 200);
    assert_eq!(
        events.next_event(),
        json!({"room": "room-3", "muted": true, "untilMS": null, "cause": "admin"})
    );
    let (status, _, _) = server.stop_within("TERM", std::time::Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    // The stream ended with the server.
    while let Some(frame) = events.next_frame() {
        assert!(frame.starts_with(':'), "{frame}");
    }
}

#[cfg(unix)]
#[test]
fn stops_promptly_with_event_streams_open() {
    for signal in ["INT", "TERM"] {
        let server = Server::start(&[]);
        let mut mine = RawEventStream::open(&server.addr, "demo-token");
        let mut theirs = RawEventStream::open(&server.addr, "demo-token-2");
        let (status, elapsed, rest) =
            server.stop_within(signal, std::time::Duration::from_secs(10));
        assert!(status.success(), "{signal}: {status:?}");
        assert!(
            elapsed < std::time::Duration::from_secs(3),
            "{signal}: stopping took {elapsed:?}"
        );
        assert!(rest.contains(&format!("received SIG{signal}")), "{rest}");
        assert!(rest.contains("stopped"), "{rest}");
        for stream in [&mut mine, &mut theirs] {
            while let Some(frame) = stream.next_frame() {
                assert!(frame.starts_with(':'), "{frame}");
            }
        }
    }
}

#[cfg(unix)]
#[test]
fn one_event_stream_past_the_per_user_limit_is_429_until_the_users_client_leaves() {
    let server = Server::start(&["--max-streams-per-user", "1"]);
    assert!(
        server
            .startup_line
            .contains("event streams per user: at most 1)"),
        "{}",
        server.startup_line
    );
    let mut mine = RawEventStream::open(&server.addr, "demo-token");
    let (status, body) = RawEventStream::try_open(&server.addr, "demo-token")
        .err()
        .expect("a second stream is refused");
    assert_eq!(
        (status, body),
        (
            429,
            json!({
                "RC": 429,
                "RM": "Too Many Requests",
                "error": {
                    "code": "TOO_MANY_STREAMS",
                    "message": "The user already has as many event streams open as allowed: 1."
                }
            })
        )
    );
    // Another user's stream is theirs to open; my open stream still delivers.
    let mut theirs = RawEventStream::open(&server.addr, "demo-token-2");
    let (status, _) = server.as_demo_user("POST", "/me/mute/room-1");
    assert_eq!(status, 200);
    assert_eq!(mine.next_event()["room"], "room-1");
    // My client leaves: once the server has seen it go, I can open a stream again. (Until then
    // each try is refused; the guard only keeps a broken server from hanging the test.)
    drop(mine);
    let guard = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut again = loop {
        match RawEventStream::try_open(&server.addr, "demo-token") {
            Ok(stream) => break stream,
            Err((status, body)) => {
                assert_eq!(status, 429, "{body}");
                assert!(
                    std::time::Instant::now() < guard,
                    "the place of a client that left was never freed"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    };
    let (status, _) = server.as_demo_user("DELETE", "/me/mute/room-1");
    assert_eq!(status, 200);
    assert_eq!(again.next_event()["muted"], false);
    let (status, _) = server.call(
        "POST",
        "/admin/clients/demo-user-2/mute/room-2",
        &[("IM-API-KEY", "demo-api-key")],
    );
    assert_eq!(status, 200);
    assert_eq!(theirs.next_event()["room"], "room-2");

    let (status, _) = server.stop_with("TERM");
    assert!(status.success(), "{status:?}");
}

#[cfg(unix)]
#[test]
fn zero_streams_per_user_refuses_every_event_stream() {
    let server = Server::start(&["--max-streams-per-user", "0"]);
    let (status, body) = RawEventStream::try_open(&server.addr, "demo-token")
        .err()
        .expect("no stream at all");
    assert_eq!(
        (status, &body["error"]),
        (
            429,
            &json!({
                "code": "TOO_MANY_STREAMS",
                "message": "This server opens no event streams."
            })
        )
    );
    // Everything else is served.
    let (status, _) = server.as_demo_user("GET", "/me");
    assert_eq!(status, 200);
    let (status, _) = server.stop_with("TERM");
    assert!(status.success(), "{status:?}");
}

#[cfg(unix)]
#[test]
fn an_open_event_stream_holds_one_of_the_connections() {
    let server = Server::start(&["--max-connections", "2"]);
    let events = RawEventStream::open(&server.addr, "demo-token");
    let mut kept = KeptAlive::open(&server.addr);
    assert_eq!(kept.get_me(), 200);
    // Both slots are taken: a third connection waits in the backlog.
    let mut third = KeptAlive::open(&server.addr);
    third.send_get_me();
    for _ in 0..25 {
        assert_eq!(kept.get_me(), 200);
    }
    third.stream.set_nonblocking(true).expect("non-blocking");
    let mut byte = [0u8; 1];
    match third.stream.read(&mut byte) {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the third connection got an answer past the cap: {other:?}"),
    }
    third.stream.set_nonblocking(false).expect("blocking");
    // The client leaves the stream: its slot goes to the third connection.
    drop(events);
    assert_eq!(third.read_status(), 200);
    let (status, _) = server.stop_with("TERM");
    assert!(status.success(), "{status:?}");
}

/// Waits for the server to close `stream`: whatever it still sends, then the end (or a reset).
/// Fails if the connection is still open after a generous guard.
fn assert_closed_by_server(stream: &mut TcpStream, what: &str) {
    // A guard against a hang, not a measurement.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("a read timeout");
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => panic!("{what}: the server did not close the connection: {error}"),
    }
}

#[cfg(unix)]
#[test]
fn a_connection_that_never_sends_a_whole_request_head_is_closed_and_frees_its_slot() {
    let server = Server::start(&["--max-connections", "2", "--header-timeout-secs", "1"]);
    assert!(
        server
            .startup_line
            .contains("at most 2 connections open, each closed after 1 s without a request head"),
        "{}",
        server.startup_line
    );
    // One connection sends nothing, another half a request: together they hold both slots.
    let mut silent = TcpStream::connect(&server.addr).expect("connect");
    let mut partial = TcpStream::connect(&server.addr).expect("connect");
    partial
        .write_all(b"GET /me HTTP/1.1\r\nHost: x\r\nIM-CLIENT-KEY: demo-cli")
        .expect("write half a request");
    // A whole request waits in the backlog behind them.
    let mut waiting = KeptAlive::open(&server.addr);
    waiting.send_get_me();

    assert_closed_by_server(&mut silent, "a connection that sent nothing");
    assert_closed_by_server(&mut partial, "a connection that sent half a request");
    // Their slots went to the waiting connection, whose request is answered.
    assert_eq!(waiting.read_status(), 200);
    assert_eq!(waiting.get_me(), 200);
    let (status, _) = server.stop_with("TERM");
    assert!(status.success(), "{status:?}");
}

#[cfg(unix)]
#[test]
fn an_idle_kept_alive_connection_is_closed_and_frees_its_slot() {
    let server = Server::start(&["--max-connections", "1", "--header-timeout-secs", "1"]);
    let mut kept = KeptAlive::open(&server.addr);
    assert_eq!(kept.get_me(), 200);
    assert_eq!(kept.get_me(), 200);
    // Silent after its answers: closed, like a connection that never sent a request.
    assert_closed_by_server(&mut kept.stream, "an idle kept-alive connection");
    // The only slot is free again.
    let (status, _) = server.as_demo_user("GET", "/me");
    assert_eq!(status, 200);
    let (status, _) = server.stop_with("TERM");
    assert!(status.success(), "{status:?}");
}

#[cfg(unix)]
#[test]
fn an_event_stream_outlives_the_header_request_and_write_timeouts() {
    let server = Server::start(&[
        "--header-timeout-secs",
        "1",
        "--request-timeout-secs",
        "1",
        "--write-timeout-secs",
        "1",
    ]);
    let mut events = RawEventStream::open(&server.addr, "demo-token");
    // Well past all three timeouts with nothing sent either way (the keep-alive comment comes at
    // 15 s): the stream's response head went out at once, its body is not timed, and the write
    // timer runs only while a write is pending, never while the stream is idle.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (status, _) = server.as_demo_user("POST", "/me/mute/room-1");
    assert_eq!(status, 200);
    assert_eq!(
        events.next_event(),
        json!({"room": "room-1", "muted": true, "untilMS": null, "cause": "user"})
    );
    let (status, _, _) = server.stop_within("TERM", std::time::Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    while let Some(frame) = events.next_frame() {
        assert!(frame.starts_with(':'), "{frame}");
    }
}

/// The head of a mute of `room` as the demo user, declaring a body of `length` bytes.
fn mute_head_declaring(room: &str, length: usize) -> String {
    format!(
        "POST /me/mute/{room} HTTP/1.1\r\nHost: x\r\nIM-CLIENT-KEY: demo-client-key\r\n\
         IM-Authorization: demo-token\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

/// Reads what the server sends on `stream` until it closes it: the response must be the request
/// timeout's `408` envelope with `Connection: close`.
fn assert_answered_408_and_closed(stream: &mut TcpStream, what: &str) {
    // A guard against a hang, not a measurement.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("a read timeout");
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => response.extend_from_slice(&buffer[..read]),
            // The server may reset a connection it stopped reading once the answer is out.
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!(
                "{what}: no answer and no close within the guard ({error}); got {:?}",
                String::from_utf8_lossy(&response)
            ),
        }
    }
    assert!(!response.is_empty(), "{what}: closed without an answer");
    let (status, head, body) = parse_raw_response(&response);
    assert_eq!(status, 408, "{what}: {head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("\r\nconnection: close"), "{what}: {head}");
    assert!(
        head.contains("\r\ncontent-type: application/json; charset=utf-8"),
        "{what}: {head}"
    );
    assert_eq!(
        (&body["RC"], &body["RM"], &body["error"]["code"]),
        (
            &json!(408),
            &json!("Request Timeout"),
            &json!("REQUEST_TIMEOUT")
        ),
        "{what}: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("within 1 s")),
        "{what}: {body}"
    );
}

#[cfg(unix)]
#[test]
fn a_request_whose_body_stops_short_is_answered_408_closed_and_frees_its_slot() {
    let server = Server::start(&["--max-connections", "1", "--request-timeout-secs", "1"]);
    assert!(
        server
            .startup_line
            .contains("a request not answered within 1 s gets 408"),
        "{}",
        server.startup_line
    );
    // A whole head declaring 100 bytes of body, then 15 of them and nothing more: the only slot.
    let mut stalled = TcpStream::connect(&server.addr).expect("connect");
    stalled
        .write_all(format!("{}{{\"durationMS\": ", mute_head_declaring("room-1", 100)).as_bytes())
        .expect("write a head and part of a body");
    // A whole request waits in the backlog behind it.
    let mut waiting = KeptAlive::open(&server.addr);
    waiting.send_get_me();

    assert_answered_408_and_closed(&mut stalled, "a body that stops short");
    // The slot went to the waiting connection, whose request is answered; the stalled mute
    // changed nothing.
    assert_eq!(waiting.read_status(), 200);
    drop(waiting);
    let (status, body) = server.as_demo_user("GET", "/me");
    assert_eq!((status, &body["result"]["mute"]), (200, &json!([])));
    // A request that sends its body at once is served as before.
    let (status, body) =
        server.as_demo_user_with_body("POST", "/me/mute/room-2", r#"{"durationMS": 60000}"#);
    assert_eq!((status, &body["result"]["mute"]), (200, &json!(["room-2"])));
    let (status, _) = server.stop_with("TERM");
    assert!(status.success(), "{status:?}");
}

#[cfg(unix)]
#[test]
fn a_request_whose_body_trickles_in_is_answered_408_and_closed() {
    let server = Server::start(&["--max-connections", "1", "--request-timeout-secs", "1"]);
    let mut trickling = TcpStream::connect(&server.addr).expect("connect");
    trickling
        .write_all(mute_head_declaring("room-1", 100).as_bytes())
        .expect("write a head");
    // The body, a byte every 100 ms: the connection is never silent, and the whole body would take
    // ten times the timeout.
    let mut writer = trickling.try_clone().expect("a second handle");
    let trickle = std::thread::spawn(move || {
        for _ in 0..100 {
            if writer.write_all(b" ").is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    assert_answered_408_and_closed(&mut trickling, "a trickled body");
    let _ = trickling.shutdown(std::net::Shutdown::Both);
    trickle.join().expect("the trickle ends");
    // The only slot is free again.
    let (status, body) = server.as_demo_user("GET", "/me");
    assert_eq!((status, &body["result"]["mute"]), (200, &json!([])));
    let (status, _) = server.stop_with("TERM");
    assert!(status.success(), "{status:?}");
}

/// A connection whose receive buffer is as small as the kernel allows, set before it connects so
/// that the window it offers stays small: a server writing to it while it does not read soon has
/// every write pending.
fn connect_with_a_small_receive_buffer(addr: &str) -> TcpStream {
    let addr: std::net::SocketAddr = addr.parse().expect("a socket address");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("a small receive buffer");
        socket.connect(addr).await.expect("connect")
    });
    let stream = stream.into_std().expect("a std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream
}

#[cfg(unix)]
#[test]
fn a_client_that_stops_reading_its_responses_is_closed_and_frees_its_slot() {
    let server = Server::start(&["--max-connections", "1", "--write-timeout-secs", "1"]);
    assert!(
        server
            .startup_line
            .contains("or 1 s without write progress"),
        "{}",
        server.startup_line
    );
    // A hundred mutes make each answer to `GET /me` a kilobyte and more, so that fewer of them
    // fill the buffers.
    for room in 1..=100 {
        let (status, _) = server.as_demo_user("POST", &format!("/me/mute/room-{room}"));
        assert_eq!(status, 200);
    }
    // One round trip shows the connection holds the only slot; after it, the client never reads.
    let mut stalled = KeptAlive {
        stream: connect_with_a_small_receive_buffer(&server.addr),
    };
    assert_eq!(stalled.get_me(), 200);
    // Pipelined requests without end, from a thread: the server answers them until its writes
    // pend on the full buffers, then stops reading them, and the thread's writes block in turn
    // until the server closes the connection.
    let mut writer = stalled.stream.try_clone().expect("a second handle");
    let pipeline = std::thread::spawn(move || {
        let requests = GET_ME.repeat(100);
        let mut sent = 0usize;
        loop {
            if let Err(error) = writer.write_all(requests.as_bytes()) {
                return (sent, error);
            }
            sent += 100;
        }
    });

    // A whole request waits in the backlog behind it, and is answered once the stalled connection
    // is closed: at once with the write timeout, never without it.
    let mut waiting = KeptAlive::open(&server.addr);
    waiting.send_get_me();
    let limit = std::time::Duration::from_secs(15);
    waiting
        .stream
        .set_read_timeout(Some(limit))
        .expect("a read timeout");
    let mut first = [0u8; 1];
    let served = waiting.stream.peek(&mut first);
    assert!(
        matches!(served, Ok(1)),
        "the waiting connection got no answer within {limit:?}: {served:?}"
    );
    assert_eq!(waiting.read_status(), 200);
    assert_eq!(waiting.get_me(), 200);

    // The stalled connection was closed: the pipelining thread's writes fail.
    let started = std::time::Instant::now();
    while !pipeline.is_finished() {
        assert!(
            started.elapsed() < limit,
            "the stalled connection is still open"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (sent, error) = pipeline.join().expect("the pipelining thread ends");
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        "after {sent} requests: {error}"
    );
    drop(stalled);

    let logs = server.stop_and_read_logs();
    assert_eq!(
        logs.matches("connection closed: no write progress within 1 s")
            .count(),
        1,
        "{logs}"
    );
}

/// A second SIGTERM (or SIGINT) while the server waits for a connection to finish stops it at
/// once: a client that sent half a request head cannot hold the server up for the whole
/// `--header-timeout-secs`.
#[cfg(unix)]
#[test]
fn a_second_signal_stops_a_server_that_waits_on_a_half_sent_head() {
    let mut server = Server::start(&["--header-timeout-secs", "600"]);
    let mut slow = TcpStream::connect(&server.addr).expect("connect");
    slow.write_all(b"GET /me HTTP/1.1\r\nHost: x\r\n")
        .expect("half a head");
    // Time for the server to take the connection; if it has not, the first signal stops it and
    // the test shows nothing, but does not fail.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid = server.child.id();
    let signal = |name: &str| send_signal(pid, name);
    signal("TERM");
    // The second signal goes only once the first is seen, so the two cannot merge into one.
    let mut line = String::new();
    while !line.contains("received SIGTERM") {
        line.clear();
        if server.stdout.read_line(&mut line).expect("stdout") == 0 {
            break;
        }
    }
    signal("TERM");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running a minute after a second SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        !status.success(),
        "a stop that drops a connection is not a clean one"
    );
    drop(slow);
}

/// With stdout a pipe whose reader has gone (`server | head -1`, a log shipper restarted), SIGTERM
/// still stops the server cleanly, with no panic.
#[cfg(unix)]
#[test]
fn sigterm_with_stdout_gone_stops_cleanly_without_a_panic() {
    let mut child = Command::new(server_binary())
        .args(["--addr", "127.0.0.1:0", "--memory", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stderr = child.stderr.take().map(drain).expect("stderr");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a start-up line");
    assert!(line.contains("listening"), "{line}");
    drop(stdout); // the reader goes away
    send_signal(child.id(), "TERM");
    let status = child.wait().expect("the server ends");
    let stderr = stderr.join().expect("stderr");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status:?}: {stderr}");
}

/// With stdout a pipe whose reader is gone before the server starts (`server | true`, a log
/// shipper not yet up), the start-up line is lost, not a panic: the server serves, and stops
/// cleanly on SIGTERM.
#[cfg(unix)]
#[test]
fn a_server_whose_stdout_is_gone_from_the_start_still_serves() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader); // every write to stdout now fails
    // The start-up line cannot say where it listens: the test chooses the port.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .expect("a free port")
        .to_string();
    let mut child = Command::new(server_binary())
        .args(["--addr", &addr, "--memory", "--quiet"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stderr = child.stderr.take().map(drain).expect("stderr");
    // Either it comes up and takes the connection, or it has ended; the deadline only keeps a
    // broken server from hanging the test.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let connected = loop {
        if child.try_wait().expect("try_wait").is_some() {
            break false;
        }
        if TcpStream::connect(&addr).is_ok() {
            break true;
        }
        assert!(std::time::Instant::now() < deadline, "never listened");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    if connected {
        send_signal(child.id(), "TERM");
    }
    let status = child.wait().expect("the server ends");
    let stderr = stderr.join().expect("stderr");
    assert!(connected, "it ended before it served: {status:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status:?}: {stderr}");

    // The help text, likewise.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(server_binary())
        .arg("--help")
        .stdout(writer)
        .output()
        .expect("the server runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
}

#[cfg(unix)]
#[test]
fn a_server_whose_stderr_is_gone_still_answers_and_logs_nothing() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader); // every write to stderr now fails, so every request's log line does
    let server = Server::started(
        Command::new(server_binary())
            .args(["--addr", "127.0.0.1:0", "--memory"])
            .stdout(Stdio::piped())
            .stderr(writer)
            .spawn()
            .expect("the server starts"),
    );
    for _ in 0..2 {
        let (status, body) = server.as_demo_user("DELETE", "/me/mute/demo-room");
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = server.stop_with("TERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn errors_with_stderr_gone_keep_their_exit_status() {
    for (args, code) in [
        (&["--bogus"][..], 2),
        (&["--allow-origin", "https://a.example/"], 2),
        (&["--seed", "/nonexistent/seed.json"], 1),
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader); // every write to stderr now fails
        let output = Command::new(server_binary())
            .args(args)
            .stderr(writer)
            .output()
            .expect("the server runs");
        assert_eq!(output.status.code(), Some(code), "{args:?}");
    }
}

/// Files in the data directory that the store did not write are not its to delete, `*.tmp` ones
/// included: `--data .` or `--data ~` must not destroy the user's files.
#[cfg(unix)]
#[test]
fn opening_a_data_directory_keeps_files_the_store_did_not_write() {
    let dir = scratch_dir("foreign-files");
    std::fs::write(dir.join("notes.tmp"), "a user's draft").expect("a foreign file");
    std::fs::write(dir.join("notes.txt"), "kept").expect("a foreign file");
    let dir_arg = dir.to_str().expect("a UTF-8 path");
    let server = Server::start(&["--data", dir_arg]);
    let (status, _) = server.stop_with("TERM");
    assert!(status.success());
    assert!(dir.join("notes.txt").exists());
    assert!(
        dir.join("notes.tmp").exists(),
        "the server deleted {}",
        dir.join("notes.tmp").display()
    );
}

/// A `--data` that cannot be a directory stops start-up with the reason: before, a regular file
/// gave the operating system's "File exists", and an empty path put a `LOCK` file in the working
/// directory.
#[test]
fn a_data_path_that_cannot_be_a_directory_is_refused_with_the_reason() {
    let dir = scratch_dir("data-is-a-file");
    let file = dir.join("a-file");
    std::fs::write(&file, "kept").expect("a file");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let (status, _, stderr) = run_to_end(&["--data", file_arg]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(file_arg) && stderr.contains("not a directory"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&file).expect("the file"), b"kept");

    let output = Command::new(server_binary())
        .args(["--addr", "127.0.0.1:0", "--data", ""])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("the server runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the path is empty"), "{stderr}");
    assert!(
        !dir.join("LOCK").exists(),
        "a stray LOCK in the working directory"
    );
}

/// A `--max-connections` past what the listener can count is taken as its largest cap, and the
/// start-up line says the cap in force.
#[cfg(unix)]
#[test]
fn a_huge_connection_cap_is_shown_as_the_cap_in_force() {
    let server = Server::start(&["--max-connections", &usize::MAX.to_string()]);
    let in_force = format!(
        "at most {} connections open",
        tokio::sync::Semaphore::MAX_PERMITS
    );
    assert!(
        server.startup_line.contains(&in_force),
        "{}",
        server.startup_line
    );
    let (status, _) = server.as_demo_user("GET", "/me");
    assert_eq!(status, 200);
    let (status, _) = server.stop_with("TERM");
    assert!(status.success());
}

/// A value given to a flag that takes none (`--quiet=no`, `--memory=yes`) is refused as a usage
/// error, not silently dropped.
#[test]
fn a_value_given_to_a_flag_without_one_is_refused() {
    for args in [&["--quiet=no"][..], &["--memory=yes"], &["--help=please"]] {
        let mut child = Command::new(server_binary())
            .args(["--addr", "127.0.0.1:0", "--memory"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server runs");
        // A refused command line ends the process at once; one taken starts a server that runs
        // until killed, which the deadline catches.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if std::time::Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            status.and_then(|status| status.code()),
            Some(2),
            "{args:?} was accepted"
        );
    }
}

/// An address the server cannot listen on is refused before the store is opened: the data
/// directory is neither created nor locked nor replayed.
#[test]
fn an_address_in_use_is_refused_before_the_data_directory_is_touched() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to hold");
    let addr = holder.local_addr().expect("its address").to_string();
    let dir = scratch_dir("address-in-use").join("data");
    let output = Command::new(server_binary())
        .args([
            "--addr",
            &addr,
            "--data",
            dir.to_str().expect("a UTF-8 path"),
        ])
        .output()
        .expect("the server runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert!(
        !dir.exists(),
        "the data directory was made: {}",
        dir.display()
    );
}
