//! MemoryStore under concurrency and at scale: a reader never sees a change's event before the
//! change, never reads a present user as absent while other users of the shard churn, and a long
//! random run agrees with a simple model.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mutestore::{Actor, EventScope, Expiry, ManualClock, MemoryStore, RoomId, UserId};

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
