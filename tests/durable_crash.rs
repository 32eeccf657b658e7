//! Crash test: a child process runs concurrent writers on a `DurableStore` and reports every
//! acknowledged operation on stdout; the parent kills it with SIGKILL at a random moment, reopens
//! the directory and checks that every acknowledged operation is there and nothing is
//! half-applied (deadlines of timed mutes included). Repeated over many cycles on the same directory, so later cycles also recover
//! from earlier kills, including kills during a compaction or during an open.
//!
//! The child is this test binary again, run with `--ignored --exact crash_child` and the data
//! directory in an environment variable. Set `MUTESTORE_CRASH_SEED` to replay a run.

#![cfg(feature = "durable")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mutestore::{Actor, DurableOptions, DurableStore, Expiry, MuteStore, RoomId};

const CHILD_DIR_ENV: &str = "MUTESTORE_CRASH_CHILD_DIR";
const CHILD_SEED_ENV: &str = "MUTESTORE_CRASH_CHILD_SEED";
const SEED_ENV: &str = "MUTESTORE_CRASH_SEED";
const CYCLES: u64 = 24;
/// Writers in the child: the first half call the async API on a runtime, the rest the blocking
/// `_sync` API on their own threads.
const WRITERS: usize = 6;
const USERS_PER_WRITER: usize = 3;
const ROOMS_PER_WRITER: usize = 6;
/// The longest a child runs if nobody kills it (for example if the parent died).
const CHILD_LIFETIME: Duration = Duration::from_secs(20);
/// Small, so that compactions happen in most cycles and some kills land inside one.
const COMPACT_AFTER_BYTES: u64 = 8 << 10;
/// Timed mutes end after 2100-01-01 (plus up to a second), so none lapses during the test and the
/// model need not know the time; re-muting moves the deadline most of the time.
const FAR_DEADLINE_MS: u64 = 4_102_444_800_000;

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

/// One writer's operation on its own users and rooms.
#[derive(Debug, Clone)]
enum Op {
    Mute(String, String),
    MuteUntil(String, String, u64),
    Unmute(String, String),
    ForgetUser(String),
    ForgetRoom(String),
}

/// Writer `writer`'s operations in cycle `seed`, in order; the parent and the child compute the
/// same ones.
struct Plan {
    writer: usize,
    rng: Lcg,
}

impl Plan {
    fn new(seed: u64, writer: usize) -> Self {
        Self {
            writer,
            rng: Lcg(seed ^ (writer as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        }
    }
}

impl Iterator for Plan {
    type Item = Op;
    fn next(&mut self) -> Option<Op> {
        let w = self.writer;
        let user = format!("w{w}-user{}", self.rng.next(USERS_PER_WRITER as u64));
        let room = format!("w{w}-room{}", self.rng.next(ROOMS_PER_WRITER as u64));
        Some(match self.rng.next(100) {
            0..30 => Op::Mute(user, room),
            30..45 => Op::MuteUntil(user, room, FAR_DEADLINE_MS + self.rng.next(1000)),
            45..85 => Op::Unmute(user, room),
            85..95 => Op::ForgetUser(user),
            _ => Op::ForgetRoom(room),
        })
    }
}

/// Users' lists, each in mute order, each room with its deadline if timed.
type State = BTreeMap<String, Vec<(String, Option<u64>)>>;

fn apply(state: &mut State, op: &Op) {
    match op {
        Op::Mute(user, room) | Op::MuteUntil(user, room, _) => {
            let until = match op {
                Op::MuteUntil(_, _, until) => Some(*until),
                _ => None,
            };
            let rooms = state.entry(user.clone()).or_default();
            // A room already muted keeps its place and takes the new deadline.
            match rooms.iter_mut().find(|(r, _)| r == room) {
                Some(muted) => muted.1 = until,
                None => rooms.push((room.clone(), until)),
            }
        }
        Op::Unmute(user, room) => {
            if let Some(rooms) = state.get_mut(user) {
                rooms.retain(|(r, _)| r != room);
            }
        }
        Op::ForgetUser(user) => {
            state.remove(user);
        }
        Op::ForgetRoom(room) => {
            for rooms in state.values_mut() {
                rooms.retain(|(r, _)| r != room);
            }
        }
    }
    state.retain(|_, rooms| !rooms.is_empty());
}

fn options() -> DurableOptions {
    DurableOptions::new().compact_after_bytes(COMPACT_AFTER_BYTES)
}

fn id<T: TryFrom<String>>(name: &str) -> T
where
    T::Error: std::fmt::Debug,
{
    T::try_from(name.to_string()).expect("test ids are valid")
}

/// Prints the acknowledgement of writer `writer`'s operation `index`; exits when the parent has
/// gone away.
fn acknowledge(writer: usize, index: usize) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "ack {writer} {index}")
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

async fn async_writer(store: Arc<DurableStore>, seed: u64, writer: usize) {
    for (index, op) in Plan::new(seed, writer).enumerate() {
        let result = match &op {
            Op::Mute(u, r) => store.mute(&id(u), &id(r)).await.map(drop),
            Op::MuteUntil(u, r, until) => store
                .mute_with(&id(u), &id(r), Expiry::At(*until), Actor::User)
                .await
                .map(drop),
            Op::Unmute(u, r) => store.unmute(&id(u), &id(r)).await.map(drop),
            Op::ForgetUser(u) => store.forget_user(&id(u)).await.map(drop),
            Op::ForgetRoom(r) => store.forget_room(&id::<RoomId>(r)).await.map(drop),
        };
        result.expect("the store accepts every operation");
        acknowledge(writer, index);
    }
}

fn blocking_writer(store: &DurableStore, seed: u64, writer: usize) {
    for (index, op) in Plan::new(seed, writer).enumerate() {
        let result = match &op {
            Op::Mute(u, r) => store.mute_sync(&id(u), &id(r)).map(drop),
            Op::MuteUntil(u, r, until) => store
                .mute_with_sync(&id(u), &id(r), Expiry::At(*until), Actor::Admin)
                .map(drop),
            Op::Unmute(u, r) => store.unmute_sync(&id(u), &id(r)).map(drop),
            Op::ForgetUser(u) => store.forget_user_sync(&id(u)).map(drop),
            Op::ForgetRoom(r) => store.forget_room_sync(&id(r)).map(drop),
        };
        result.expect("the store accepts every operation");
        acknowledge(writer, index);
    }
}

/// The child: writes until it is killed.
#[test]
#[ignore = "the child process of `acknowledged_operations_survive_sigkill`, which runs it"]
fn crash_child() {
    let (Ok(dir), Ok(seed)) = (std::env::var(CHILD_DIR_ENV), std::env::var(CHILD_SEED_ENV)) else {
        return;
    };
    let seed: u64 = seed.parse().expect("a numeric seed");
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIFETIME);
        std::process::exit(0);
    });
    let store = Arc::new(options().open(&dir).expect("the child opens the store"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    for writer in 0..WRITERS / 2 {
        runtime.spawn(async_writer(Arc::clone(&store), seed, writer));
    }
    std::thread::scope(|scope| {
        for writer in WRITERS / 2..WRITERS {
            let store = &store;
            scope.spawn(move || blocking_writer(store, seed, writer));
        }
    });
}

/// Acknowledged operations per writer, from the child's output.
fn acknowledged(lines: &[String]) -> [usize; WRITERS] {
    let mut acked = [0; WRITERS];
    for line in lines {
        // The test harness's own output may precede an acknowledgement on its line.
        let Some(start) = line.find("ack ") else {
            continue;
        };
        let mut words = line[start..].split(' ').skip(1);
        let writer: usize = words.next().and_then(|w| w.parse().ok()).expect("writer");
        let index: usize = words.next().and_then(|i| i.parse().ok()).expect("index");
        assert_eq!(index, acked[writer], "acknowledgements come in order");
        acked[writer] += 1;
    }
    acked
}

fn writer_of(user: &str) -> usize {
    user[1..user.find('-').expect("a writer prefix")]
        .parse()
        .expect("a writer number")
}

fn state_of(store: &DurableStore) -> [State; WRITERS] {
    let mut states: [State; WRITERS] = Default::default();
    store.for_each_user(|user, rooms| {
        states[writer_of(user)].insert(
            user.to_string(),
            rooms
                .iter_timed()
                .map(|(r, until)| (r.to_string(), until))
                .collect(),
        );
    });
    states
}

/// Runs one child until the kill; returns its output lines.
fn run_child(dir: &Path, seed: u64, kill_after: Duration) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_SEED_ENV, seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(kill_after);
    // SIGKILL on Unix.
    child.kill().expect("the child is killed");
    child.wait().expect("the child is reaped");
    reader.join().expect("the reader thread")
}

#[test]
fn acknowledged_operations_survive_sigkill() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let base_seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("crash test seed {base_seed} (set {SEED_ENV} to replay)");
    let started = Instant::now();
    let mut timing = Lcg(base_seed);
    let mut states: [State; WRITERS] = Default::default();
    let (mut total_acked, mut total_lost, mut torn_tails, mut half_applied) = (0, 0, 0, 0);
    // Opens that found more than one log after the snapshot: a kill interrupted a compaction.
    let mut interrupted_compactions = 0;
    for cycle in 0..CYCLES {
        let seed = base_seed.wrapping_add(cycle);
        let kill_after = Duration::from_millis(timing.next(400));
        let lines = run_child(dir.path(), seed, kill_after);
        let acked = acknowledged(&lines);

        let store = options()
            .open(dir.path())
            .expect("the directory opens after a kill");
        torn_tails += usize::from(store.recovery().torn_tail.is_some());
        interrupted_compactions += usize::from(store.recovery().log_files > 1);
        let recovered = state_of(&store);
        store.close().expect("the store closes");

        let mut lost = 0;
        for writer in 0..WRITERS {
            let ops: Vec<Op> = Plan::new(seed, writer).take(acked[writer] + 1).collect();
            // The prefixes of this cycle's operations, from none to one past the acknowledged.
            let mut prefix = states[writer].clone();
            let mut matched = (prefix == recovered[writer]).then_some(0);
            for (done, op) in ops.iter().enumerate() {
                apply(&mut prefix, op);
                if prefix == recovered[writer] {
                    matched = Some(done + 1);
                }
            }
            match matched {
                // Every acknowledged operation, and perhaps the one in flight at the kill.
                Some(applied) if applied >= acked[writer] => {}
                Some(applied) => lost += acked[writer] - applied,
                None => {
                    half_applied += 1;
                    lost += acked[writer];
                    eprintln!(
                        "cycle {cycle}, writer {writer}: recovered {:?}, which no prefix of the \
                         operations gives",
                        recovered[writer]
                    );
                }
            }
        }
        let acked_total: usize = acked.iter().sum();
        println!(
            "cycle {cycle:2}: killed after {:3} ms, {acked_total:5} operations acknowledged, {lost} lost",
            kill_after.as_millis()
        );
        total_acked += acked_total;
        total_lost += lost;
        states = recovered;
    }
    // Written to the process's stdout directly, past the test harness's capture, so the summary
    // shows in every `cargo test` log, not only when the test fails.
    let summary = format!(
        "\ncrash test: {CYCLES} SIGKILL cycles in {:.1} s, {total_acked} acknowledged operations, \
         {total_lost} lost, {half_applied} half-applied, {torn_tails} torn tails cut off, \
         {interrupted_compactions} reopens after an interrupted compaction\n",
        started.elapsed().as_secs_f64()
    );
    let _ = std::io::stdout().lock().write_all(summary.as_bytes());
    assert!(total_acked > 0, "the children acknowledged nothing");
    assert_eq!(
        half_applied, 0,
        "a writer's state is no prefix of its operations"
    );
    assert_eq!(total_lost, 0, "acknowledged operations were lost");
}
