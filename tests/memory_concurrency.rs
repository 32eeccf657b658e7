//! MemoryStore under concurrency and at scale: a reader never sees a change's event before the
//! change, never reads a present user as absent while other users of the shard churn, a long
//! random run agrees with a simple model, and forget_room judges each shard's timed mutes at the
//! time it gets there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use mutestore::{
    Actor, ChangeCause, Clock, EventScope, Expiry, ManualClock, MemoryStore, RoomId, UserId,
};

/// An event for a forget_room unmute must not be observable before the unmute itself.
#[test]
fn forget_room_event_is_not_ahead_of_the_change() {
    let store = Arc::new(MemoryStore::new());
    let user = UserId::new("u1").unwrap();
    // Many subscribers, so publish spends a while pushing to the later queues after the first.
    let extra: Vec<_> = (0..2000)
        .map(|_| store.subscribe(EventScope::All))
        .collect();
    let mut stale = 0;
    for round in 0..200 {
        let room = RoomId::new(&format!("room-{round}")).unwrap();
        store.mute_sync(&user, &room).unwrap();
        let mut sub = store.subscribe(EventScope::User(user.clone()));
        let s2 = Arc::clone(&store);
        let r2 = room.clone();
        let u2 = user.clone();
        let watcher = std::thread::spawn(move || {
            loop {
                if let Ok(Some(event)) = sub.try_recv() {
                    assert!(!event.muted);
                    return s2.is_muted_sync(&u2, &r2);
                }
                std::hint::spin_loop();
            }
        });
        std::thread::sleep(Duration::from_millis(1));
        store.forget_room_sync(&room);
        if watcher.join().unwrap() {
            stale += 1;
        }
    }
    drop(extra);
    assert_eq!(
        stale, 0,
        "{stale} rounds read the room as muted after its unmute event"
    );
}

/// muted_among must not answer "not muted" for a user who held the room muted all along.
#[test]
fn muted_among_sees_a_room_interned_during_the_call() {
    let store = Arc::new(MemoryStore::new());
    let user = UserId::new("target").unwrap();
    let others: Vec<UserId> = (0..200_000)
        .map(|i| UserId::new(&format!("o{i}")).unwrap())
        .collect();
    let mut wrong = 0;
    for round in 0..20 {
        let room = RoomId::new(&format!("fresh-room-{round}")).unwrap();
        // A timed mute keeps the room by name: not interned.
        store
            .mute_with_sync(
                &user,
                &room,
                Expiry::After(Duration::from_secs(3600)),
                Actor::User,
            )
            .unwrap();
        let mut users = others.clone();
        users.push(user.clone());
        let go = Arc::new(AtomicBool::new(false));
        let (s2, r2, g2) = (Arc::clone(&store), room.clone(), Arc::clone(&go));
        let reader = std::thread::spawn(move || {
            g2.store(true, Ordering::SeqCst);
            s2.muted_among_sync(&r2, &users)
        });
        while !go.load(Ordering::SeqCst) {}
        std::thread::sleep(Duration::from_micros(200));
        // Permanent now: the set settles inline and the room is interned; muted throughout.
        store
            .mute_with_sync(&user, &room, Expiry::Never, Actor::User)
            .unwrap();
        let found = reader.join().unwrap();
        if !found.contains(&user) {
            wrong += 1;
        }
        store.unmute_sync(&user, &room);
    }
    assert_eq!(
        wrong, 0,
        "{wrong} rounds missed a user muted throughout the call"
    );
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn uname(i: u64) -> String {
    if i.is_multiple_of(7) {
        format!("a-long-user-id-beyond-fifteen-{i}")
    } else {
        format!("u{i}")
    }
}

/// The user's rooms in the store, as a set.
fn stored_rooms(store: &MemoryStore, user: &UserId) -> BTreeSet<String> {
    store
        .muted_rooms_sync(user)
        .iter()
        .map(|room| room.to_string())
        .collect()
}

/// The user's rooms in the model, as a set.
fn model_rooms(model: &BTreeMap<String, Vec<String>>, user: &str) -> BTreeSet<String> {
    model.get(user).into_iter().flatten().cloned().collect()
}

#[test]
fn random_ops_match_a_model() {
    let store = MemoryStore::with_mute_limit(6);
    let mut model: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let nusers = 6000;
    let nrooms = 9;
    for step in 0..100_000u64 {
        let u = uname(rng.below(nusers));
        let user = UserId::new(&u).unwrap();
        let r = format!("room-{}", rng.below(nrooms));
        let room = RoomId::new(&r).unwrap();
        match rng.below(100) {
            0..=44 => {
                let timed = rng.below(10) == 0;
                let res = if timed {
                    store
                        .mute_with_sync(
                            &user,
                            &room,
                            Expiry::After(Duration::from_secs(3600 * 24)),
                            Actor::User,
                        )
                        .map_err(|_| ())
                } else {
                    store.mute_sync(&user, &room).map_err(|_| ())
                };
                let set = model.entry(u.clone()).or_default();
                if set.contains(&r) {
                    assert!(res.is_ok());
                } else if set.len() >= 6 {
                    assert!(res.is_err(), "step {step}");
                } else {
                    assert!(res.unwrap().changed);
                    set.push(r.clone());
                }
                if set.is_empty() {
                    model.remove(&u);
                }
            }
            45..=84 => {
                let out = store.unmute_sync(&user, &room);
                let had = model.get_mut(&u).is_some_and(|s| {
                    let before = s.len();
                    s.retain(|x| *x != r);
                    before != s.len()
                });
                assert_eq!(out.changed, had, "step {step}");
                if model.get(&u).is_some_and(Vec::is_empty) {
                    model.remove(&u);
                }
            }
            85..=94 => {
                let got = stored_rooms(&store, &user);
                let want = model_rooms(&model, &u);
                assert_eq!(got, want, "step {step} {u}");
                assert_eq!(
                    store.is_muted_sync(&user, &room),
                    want.contains(&r),
                    "step {step}"
                );
            }
            95..=97 => {
                store.forget_user_sync(&user);
                model.remove(&u);
            }
            _ => {
                if rng.below(20) == 0 {
                    store.forget_room_sync(&room);
                    for s in model.values_mut() {
                        s.retain(|x| *x != r);
                    }
                    model.retain(|_, s| !s.is_empty());
                }
            }
        }
        if step % 10_000 == 0 {
            assert_eq!(store.user_count(), model.len(), "step {step}");
        }
    }
    assert_eq!(store.user_count(), model.len());
    for i in 0..nusers {
        let u = uname(i);
        let user = UserId::new(&u).unwrap();
        assert_eq!(stored_rooms(&store, &user), model_rooms(&model, &u), "{u}");
    }
}

/// Stable users must always read as muted while other users of the same shards churn.
#[test]
fn stable_users_never_read_absent_under_churn() {
    let store = Arc::new(MemoryStore::new());
    let room = RoomId::new("stable-room").unwrap();
    let stable: Vec<UserId> = (0..3000)
        .map(|i| UserId::new(&format!("s{i}")).unwrap())
        .collect();
    for u in &stable {
        store.mute_sync(u, &room).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for t in 0..3 {
        let (store, stable, room, stop) = (
            Arc::clone(&store),
            stable.clone(),
            room.clone(),
            Arc::clone(&stop),
        );
        readers.push(std::thread::spawn(move || {
            let mut misses = 0u64;
            let mut reads = 0u64;
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                let u = &stable[i % stable.len()];
                if !store.is_muted_sync(u, &room) {
                    misses += 1;
                }
                if store.muted_rooms_sync(u).is_empty() {
                    misses += 1;
                }
                reads += 1;
                i += 7;
            }
            (misses, reads)
        }));
    }
    let mut writers = Vec::new();
    for t in 0..2u64 {
        let store = Arc::clone(&store);
        writers.push(std::thread::spawn(move || {
            let mut rng = Rng(0x1234_5678 + t);
            for round in 0..10u64 {
                let users: Vec<UserId> = (0..4000)
                    .map(|i| UserId::new(&format!("c{t}-{round}-{i}")).unwrap())
                    .collect();
                for u in &users {
                    let r = RoomId::new(&format!("churn-{}", rng.below(5))).unwrap();
                    store.mute_sync(u, &r).unwrap();
                }
                for u in &users {
                    if rng.below(2) == 0 {
                        store.forget_user_sync(u);
                    }
                }
                store.forget_room_sync(&RoomId::new(&format!("churn-{}", rng.below(5))).unwrap());
                for u in &users {
                    store.forget_user_sync(u);
                }
            }
        }));
    }
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let (misses, reads) = r.join().unwrap();
        assert!(reads > 0);
        assert_eq!(misses, 0, "of {reads}");
    }
}

/// A mute refused at a limit of 0, by a user whose timed mutes have all lapsed, leaves no empty
/// user behind.
#[test]
fn a_refused_mute_after_a_purge_leaves_no_empty_user() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut store = MemoryStore::with_clock(clock.clone());
    let user = UserId::new("u1").unwrap();
    let room = RoomId::new("room-a").unwrap();
    store
        .mute_with_sync(
            &user,
            &room,
            Expiry::After(Duration::from_secs(1)),
            Actor::User,
        )
        .unwrap();
    assert_eq!(store.user_count(), 1);
    clock.advance(Duration::from_secs(2));
    store.set_mute_limit(0);
    let other = RoomId::new("room-b").unwrap();
    assert!(store.mute_sync(&user, &other).is_err());
    assert_eq!(store.user_count(), 0);
    assert!(store.muted_rooms_sync(&user).is_empty());
}

/// A clock a test can stop in the middle of a reading: the first reading by the thread named
/// `gated` takes the time, tells the test, and returns it only when the test lets it go (as if the
/// thread were descheduled right after reading), while the test moves the time on. Readings by the
/// store's expiry thread wait while `hold_timer` is set, so that the timer purges nothing meanwhile.
#[derive(Debug)]
struct GateClock {
    now: AtomicU64,
    gated: &'static str,
    armed: AtomicBool,
    read: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<Option<mpsc::Receiver<()>>>,
    hold_timer: Mutex<bool>,
    timer_free: Condvar,
}

impl GateClock {
    fn new(now: u64, gated: &'static str) -> (Arc<Self>, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (read_tx, read_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let clock = Arc::new(Self {
            now: AtomicU64::new(now),
            gated,
            armed: AtomicBool::new(false),
            read: Mutex::new(Some(read_tx)),
            release: Mutex::new(Some(release_rx)),
            hold_timer: Mutex::new(false),
            timer_free: Condvar::new(),
        });
        (clock, read_rx, release_tx)
    }

    fn hold_timer(&self, hold: bool) {
        *self.hold_timer.lock().unwrap() = hold;
        self.timer_free.notify_all();
    }
}

impl Clock for GateClock {
    fn now_ms(&self) -> u64 {
        let thread = std::thread::current();
        if thread.name() == Some("mutestore-expiry") {
            let mut held = self.hold_timer.lock().unwrap();
            while *held {
                held = self.timer_free.wait(held).unwrap();
            }
        }
        let now = self.now.load(Ordering::SeqCst);
        if thread.name() == Some(self.gated) && self.armed.swap(false, Ordering::SeqCst) {
            let read = self.read.lock().unwrap().take();
            read.expect("one gated reading").send(()).unwrap();
            let release = self.release.lock().unwrap().take();
            release.expect("one gated reading").recv().unwrap();
        }
        now
    }
}

/// forget_room visits the shards one after another. A timed mute of the room that lapses while it
/// does is, from its deadline on, unmuted to every read; when forget_room reaches that user it must
/// purge it as lapsed (an expiry event, not counted among the users who had the room), not remove
/// it as a live mute at a time read before its deadline, in another shard.
#[test]
fn forget_room_treats_mutes_that_lapse_during_its_walk_as_lapsed() {
    const START: u64 = 1_795_564_800_000;
    const HOUR: u64 = 3_600_000;
    let (clock, read, release) = GateClock::new(START, "forget-room");
    let store = Arc::new(MemoryStore::with_clock(clock.clone()));
    let room = RoomId::new("deleted-room").unwrap();
    let users: Vec<UserId> = (0..64)
        .map(|n| UserId::new(&format!("user-{n}")).unwrap())
        .collect();
    for user in &users {
        store
            .mute_with_sync(user, &room, Expiry::At(START + HOUR), Actor::User)
            .unwrap();
    }
    let mut feed = store.subscribe(EventScope::All);
    clock.hold_timer(true);
    clock.armed.store(true, Ordering::SeqCst);
    let forget = {
        let (store, room) = (Arc::clone(&store), room.clone());
        std::thread::Builder::new()
            .name("forget-room".into())
            .spawn(move || store.forget_room_sync(&room))
            .unwrap()
    };
    // forget_room has read the time at its first user with a timed mute, in the first shard it
    // visits, and holds that shard's lock; every mute lapses before it goes on.
    read.recv().unwrap();
    clock.now.store(START + HOUR, Ordering::SeqCst);
    release.send(()).unwrap();
    let count = forget.join().unwrap();

    let mut causes: BTreeMap<String, Vec<ChangeCause>> = BTreeMap::new();
    while let Ok(Some(event)) = feed.try_recv() {
        assert_eq!((&event.room, event.muted), (&room, false), "{event:?}");
        causes
            .entry(event.user.to_string())
            .or_default()
            .push(event.cause);
    }
    clock.hold_timer(false);
    assert_eq!(
        causes.len(),
        users.len(),
        "one event for every user: {causes:?}"
    );
    assert!(
        causes.values().all(|causes| causes.len() == 1),
        "{causes:?}"
    );
    let forgotten = causes
        .values()
        .filter(|causes| causes[0] == ChangeCause::Forget)
        .count();
    assert_eq!(
        count, forgotten,
        "the count is the users sent a forget event"
    );
    // Only the users of the shard forget_room was in when it read the time may count as having had
    // the room; in every other shard the mutes had lapsed when it got there.
    assert!(
        forgotten < users.len(),
        "all {forgotten} users counted as having the room, though their mutes had lapsed"
    );
    assert_eq!(store.timed_mute_count(), 0);
    assert_eq!(store.user_count(), 0);
}
