//! Compares storage engines on mutestore's write and reopen workload (see docs/DURABILITY.md).
//!
//! The workload: 1M users with 3 muted rooms each (13-digit user ids, 10-byte room ids); then
//! single-key changes, each one durable before it is acknowledged (`sync`), or acknowledged at once
//! and made durable later (`periodic`). Every engine gets the same group commit a store would give
//! it: 50 concurrent writers become one commit of 50 changes.
//!
//! - `append-log`: a checksummed frame per commit appended to a file, `fdatasync` per commit; a
//!   snapshot file of every user's list is what a reopen reads.
//! - `redb`: one table `user -> encoded list`; one write transaction per commit.
//! - `fjall`: one keyspace `user -> encoded list`; one write batch per commit.
//!
//! Usage: `cargo run --release -- [DIR] [USERS] [ENGINES]` (defaults: a directory under the system
//! temp directory, 1000000, `append-log,log-prealloc,redb,fjall`).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOMS_PER_USER: usize = 3;
const SYNC_SINGLE_OPS: usize = 2_000;
const GROUP: usize = 50;
const SYNC_GROUP_OPS: usize = 50_000;
const PERIODIC_BATCH: usize = 1_000;
const PERIODIC_OPS: usize = 500_000;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn user(n: usize) -> String {
    format!("{:013}", 1_485_248_560_558u64 + n as u64)
}

fn room(n: usize) -> String {
    format!("room-{:05}", n % 100_000)
}

/// A user's list as the stores would keep it: each room as a length byte and its bytes.
fn encode_rooms(n: usize, extra: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(40);
    for k in 0..ROOMS_PER_USER {
        let r = room(n * 7 + k + extra);
        out.push(r.len() as u8);
        out.extend_from_slice(r.as_bytes());
    }
    out
}

fn count_rooms(mut value: &[u8]) -> usize {
    let mut rooms = 0;
    while let Some((&len, rest)) = value.split_first() {
        value = &rest[len as usize..];
        rooms += 1;
    }
    rooms
}

/// A small deterministic generator, so every engine sees the same users.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound
    }
}

/// What each engine must do.
trait Engine {
    fn name(&self) -> &'static str;
    /// Writes `changes` (user, encoded list) as one commit; durable on return when `durable`.
    fn commit(&mut self, changes: &[(String, Vec<u8>)], durable: bool) -> Fallible<()>;
    /// Makes every earlier commit durable.
    fn sync(&mut self) -> Fallible<()>;
    /// Prepares what a reopen reads (a snapshot for the log; nothing for the others).
    fn checkpoint(&mut self, users: usize) -> Fallible<()>;
    /// Closes, reopens and reads every user's list; returns the number of rooms read.
    fn reopen_and_scan(&mut self) -> Fallible<usize>;
}

struct AppendLog {
    dir: PathBuf,
    log: File,
    frame: Vec<u8>,
    /// Where the next frame goes, when the file was filled with zeros ahead of the writes.
    preallocated_end: Option<u64>,
}

impl AppendLog {
    fn open(dir: &Path) -> Fallible<Self> {
        fs::create_dir_all(dir)?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            log,
            frame: Vec::new(),
            preallocated_end: None,
        })
    }

    /// The same log, its file filled with zeros ahead of the writes, so that an `fdatasync` after
    /// a write has no file size to record.
    fn open_preallocated(dir: &Path) -> Fallible<Self> {
        fs::create_dir_all(dir)?;
        let log = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.join("log"))?;
        let zeros = vec![0u8; 1 << 20];
        let mut writer = &log;
        for _ in 0..256 {
            writer.write_all(&zeros)?;
        }
        log.sync_all()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            log,
            frame: Vec::new(),
            preallocated_end: Some(0),
        })
    }
}

fn put_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

impl Engine for AppendLog {
    fn name(&self) -> &'static str {
        if self.preallocated_end.is_some() {
            "log-prealloc"
        } else {
            "append-log"
        }
    }

    fn commit(&mut self, changes: &[(String, Vec<u8>)], durable: bool) -> Fallible<()> {
        // A change is logged as the operation (tag, user, room), not the whole list.
        let mut payload = Vec::with_capacity(changes.len() * 28);
        for (user, list) in changes {
            payload.push(1);
            payload.push(user.len() as u8);
            payload.extend_from_slice(user.as_bytes());
            payload.extend_from_slice(&list[..11]);
        }
        self.frame.clear();
        put_frame(&mut self.frame, &payload);
        match &mut self.preallocated_end {
            Some(end) => {
                use std::os::unix::fs::FileExt;
                self.log.write_all_at(&self.frame, *end)?;
                *end += self.frame.len() as u64;
            }
            None => self.log.write_all(&self.frame)?,
        }
        if durable {
            self.log.sync_data()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Fallible<()> {
        Ok(self.log.sync_data()?)
    }

    fn checkpoint(&mut self, users: usize) -> Fallible<()> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(self.dir.join("snapshot"))?);
        let mut chunk = Vec::with_capacity(1 << 20);
        let mut frame = Vec::with_capacity(1 << 20);
        for n in 0..users {
            let u = user(n);
            chunk.push(u.len() as u8);
            chunk.extend_from_slice(u.as_bytes());
            chunk.push(ROOMS_PER_USER as u8);
            chunk.extend_from_slice(&encode_rooms(n, 0));
            if chunk.len() >= (1 << 20) - 600 || n + 1 == users {
                frame.clear();
                put_frame(&mut frame, &chunk);
                out.write_all(&frame)?;
                chunk.clear();
            }
        }
        let file = out.into_inner()?;
        file.sync_all()?;
        Ok(())
    }

    fn reopen_and_scan(&mut self) -> Fallible<usize> {
        let mut bytes = Vec::new();
        File::open(self.dir.join("snapshot"))?.read_to_end(&mut bytes)?;
        let mut rooms = 0;
        let mut at = 0;
        while at < bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into()?) as usize;
            let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into()?);
            let payload = &bytes[at + 8..at + 8 + len];
            if crc32fast::hash(payload) != crc {
                return Err("bad checksum".into());
            }
            let mut p = 0;
            while p < payload.len() {
                let ulen = payload[p] as usize;
                let _user = std::str::from_utf8(&payload[p + 1..p + 1 + ulen])?;
                p += 1 + ulen;
                let count = payload[p] as usize;
                p += 1;
                for _ in 0..count {
                    let rlen = payload[p] as usize;
                    let _room = std::str::from_utf8(&payload[p + 1..p + 1 + rlen])?;
                    p += 1 + rlen;
                    rooms += 1;
                }
            }
            at += 8 + len;
        }
        Ok(rooms)
    }
}

const TABLE: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("mutes");

struct Redb {
    path: PathBuf,
    db: Option<redb::Database>,
}

impl Redb {
    fn open(dir: &Path) -> Fallible<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join("mutes.redb");
        let db = redb::Database::create(&path)?;
        Ok(Self { path, db: Some(db) })
    }
}

impl Engine for Redb {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn commit(&mut self, changes: &[(String, Vec<u8>)], durable: bool) -> Fallible<()> {
        let db = self.db.as_ref().ok_or("closed")?;
        let mut txn = db.begin_write()?;
        txn.set_durability(if durable {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        })?;
        {
            let mut table = txn.open_table(TABLE)?;
            for (user, list) in changes {
                table.insert(user.as_str(), list.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Fallible<()> {
        self.commit(&[], true)
    }

    fn checkpoint(&mut self, _users: usize) -> Fallible<()> {
        Ok(())
    }

    fn reopen_and_scan(&mut self) -> Fallible<usize> {
        use redb::{ReadableDatabase, ReadableTable};
        drop(self.db.take());
        let db = redb::Database::create(&self.path)?;
        let mut rooms = 0;
        {
            let txn = db.begin_read()?;
            let table = txn.open_table(TABLE)?;
            for entry in table.iter()? {
                let (key, value) = entry?;
                let _user = key.value();
                rooms += count_rooms(value.value());
            }
        }
        self.db = Some(db);
        Ok(rooms)
    }
}

struct Fjall {
    dir: PathBuf,
    db: Option<(fjall::Database, fjall::Keyspace)>,
}

impl Fjall {
    fn open(dir: &Path) -> Fallible<Self> {
        let mut engine = Self {
            dir: dir.to_path_buf(),
            db: None,
        };
        engine.db = Some(engine.open_db()?);
        Ok(engine)
    }

    fn open_db(&self) -> Fallible<(fjall::Database, fjall::Keyspace)> {
        let db = fjall::Database::builder(&self.dir).open()?;
        let keyspace = db.keyspace("mutes", fjall::KeyspaceCreateOptions::default)?;
        Ok((db, keyspace))
    }
}

impl Engine for Fjall {
    fn name(&self) -> &'static str {
        "fjall"
    }

    fn commit(&mut self, changes: &[(String, Vec<u8>)], durable: bool) -> Fallible<()> {
        let (db, keyspace) = self.db.as_ref().ok_or("closed")?;
        let mut batch = db
            .batch()
            .durability(durable.then_some(fjall::PersistMode::SyncData));
        for (user, list) in changes {
            batch.insert(keyspace, user.as_str(), list.as_slice());
        }
        batch.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Fallible<()> {
        let (db, _) = self.db.as_ref().ok_or("closed")?;
        db.persist(fjall::PersistMode::SyncData)?;
        Ok(())
    }

    fn checkpoint(&mut self, _users: usize) -> Fallible<()> {
        Ok(())
    }

    fn reopen_and_scan(&mut self) -> Fallible<usize> {
        drop(self.db.take());
        let (db, keyspace) = self.open_db()?;
        let mut rooms = 0;
        for guard in keyspace.iter() {
            let (_key, value) = guard.into_inner()?;
            rooms += count_rooms(&value);
        }
        self.db = Some((db, keyspace));
        Ok(rooms)
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            total += if path.is_dir() {
                dir_bytes(&path)
            } else {
                entry.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

fn per_second(ops: usize, elapsed: Duration) -> f64 {
    ops as f64 / elapsed.as_secs_f64()
}

fn run(engine: &mut dyn Engine, dir: &Path, users: usize) -> Fallible<()> {
    let name = engine.name();
    // Preload in commits of 10k users, durable at the end.
    let start = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for n in 0..users {
        batch.push((user(n), encode_rooms(n, 0)));
        if batch.len() == 10_000 || n + 1 == users {
            engine.commit(&batch, false)?;
            batch.clear();
        }
    }
    engine.sync()?;
    let preload = start.elapsed();

    let mut rng = Lcg(7);
    let change = |rng: &mut Lcg| {
        let n = rng.next(users);
        (user(n), encode_rooms(n, rng.next(1000)))
    };

    let start = Instant::now();
    for _ in 0..SYNC_SINGLE_OPS {
        engine.commit(&[change(&mut rng)], true)?;
    }
    let sync_single = per_second(SYNC_SINGLE_OPS, start.elapsed());

    let start = Instant::now();
    for _ in 0..SYNC_GROUP_OPS / GROUP {
        let group: Vec<_> = (0..GROUP).map(|_| change(&mut rng)).collect();
        engine.commit(&group, true)?;
    }
    let sync_group = per_second(SYNC_GROUP_OPS, start.elapsed());

    let start = Instant::now();
    for _ in 0..PERIODIC_OPS / PERIODIC_BATCH {
        let group: Vec<_> = (0..PERIODIC_BATCH).map(|_| change(&mut rng)).collect();
        engine.commit(&group, false)?;
    }
    engine.sync()?;
    let periodic = per_second(PERIODIC_OPS, start.elapsed());

    engine.checkpoint(users)?;
    let start = Instant::now();
    let rooms = engine.reopen_and_scan()?;
    let reopen = start.elapsed();
    if rooms != users * ROOMS_PER_USER {
        return Err(format!(
            "{name}: read {rooms} rooms, expected {}",
            users * ROOMS_PER_USER
        )
        .into());
    }
    let bytes = dir_bytes(dir);
    println!(
        "{name:<11} preload {:>6.2} s | sync 1 writer {:>8.0} ops/s | sync groups of {GROUP} {:>9.0} ops/s | \
         no fsync, batches of {PERIODIC_BATCH} {:>9.0} ops/s | reopen+scan {:>6.3} s | {:>5.1} MiB on disk",
        preload.as_secs_f64(),
        sync_single,
        sync_group,
        periodic,
        reopen.as_secs_f64(),
        bytes as f64 / (1 << 20) as f64,
    );
    Ok(())
}

fn main() -> Fallible<()> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mutestore-engine-comparison"));
    let users: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let _ = fs::remove_dir_all(&base);
    let which_engines: Vec<String> = match args.next() {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => ["append-log", "log-prealloc", "redb", "fjall"]
            .map(String::from)
            .to_vec(),
    };
    for which in which_engines.iter().map(String::as_str) {
        let dir = base.join(which);
        let mut engine: Box<dyn Engine> = match which {
            "append-log" => Box::new(AppendLog::open(&dir)?),
            "log-prealloc" => Box::new(AppendLog::open_preallocated(&dir)?),
            "redb" => Box::new(Redb::open(&dir)?),
            "fjall" => Box::new(Fjall::open(&dir)?),
            other => return Err(format!("unknown engine {other}").into()),
        };
        run(engine.as_mut(), &dir, users)?;
        drop(engine);
        fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
