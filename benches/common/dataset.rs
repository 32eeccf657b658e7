//! The data sets: users with 13-digit ids, rooms with 24-hex ids (like the platform's), each user
//! muting three distinct rooms drawn uniformly from the rooms.

use mutestore::{RoomId, UserId};

use super::BenchStore;

/// A small, seeded generator, so every store gets the same data.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}

/// Mutes per user in every data set.
pub const MUTES_PER_USER: usize = 3;

/// Users, rooms and who muted what.
pub struct Dataset {
    pub users: Vec<UserId>,
    pub rooms: Vec<RoomId>,
    /// For each user, the indices of its muted rooms, in mute order.
    pub mutes: Vec<[u32; MUTES_PER_USER]>,
}

impl Dataset {
    /// `users` users over `rooms` rooms.
    pub fn new(users: usize, rooms: usize) -> Self {
        let mut rng = SplitMix(0x5EED_0000 ^ users as u64);
        let user_ids = (0..users)
            .map(|n| UserId::new(&format!("{}", 1_485_248_560_558u64 + n as u64)).unwrap())
            .collect();
        let room_ids = (0..rooms)
            .map(|_| {
                RoomId::new(&format!(
                    "{:024x}",
                    u128::from(rng.next_u64()) << 32 | u128::from(rng.next_u64() >> 32)
                ))
                .unwrap()
            })
            .collect();
        let mutes = (0..users)
            .map(|_| {
                let mut picked = [u32::MAX; MUTES_PER_USER];
                let mut n = 0;
                while n < MUTES_PER_USER {
                    let room = rng.below(rooms) as u32;
                    if !picked[..n].contains(&room) {
                        picked[n] = room;
                        n += 1;
                    }
                }
                picked
            })
            .collect();
        Self {
            users: user_ids,
            rooms: room_ids,
            mutes,
        }
    }

    /// The 1M users x 3 mutes over 100k rooms set; 20k users over 2k rooms under
    /// `MUTESTORE_BENCH_QUICK=1`, which CI sets to check that the benchmarks run.
    pub fn large() -> Self {
        if quick() {
            Self::new(20_000, 2_000)
        } else {
            Self::new(1_000_000, 100_000)
        }
    }

    /// The 1k users set that fits in cache.
    pub fn small() -> Self {
        Self::new(1_000, 1_000)
    }

    /// Loads every mute into `store`.
    pub fn load<S: BenchStore>(&self, store: &S) {
        for (user, rooms) in self.users.iter().zip(&self.mutes) {
            for &room in rooms {
                store.mute(user, &self.rooms[room as usize]);
            }
        }
    }

    /// A random sequence of `len` (user, room) pairs where the user has muted the room, laid out
    /// in the order they will be used so reading the sequence itself is sequential.
    pub fn present_pairs(&self, len: usize, seed: u64) -> Vec<(UserId, RoomId)> {
        let mut rng = SplitMix(seed);
        (0..len)
            .map(|_| {
                let user = rng.below(self.users.len());
                let room = self.mutes[user][rng.below(MUTES_PER_USER)] as usize;
                (self.users[user].clone(), self.rooms[room].clone())
            })
            .collect()
    }

    /// A random sequence of `len` (user, room) pairs where the user has not muted the room.
    pub fn absent_pairs(&self, len: usize, seed: u64) -> Vec<(UserId, RoomId)> {
        let mut rng = SplitMix(seed);
        (0..len)
            .map(|_| {
                let user = rng.below(self.users.len());
                let room = loop {
                    let room = rng.below(self.rooms.len());
                    if !self.mutes[user].contains(&(room as u32)) {
                        break room;
                    }
                };
                (self.users[user].clone(), self.rooms[room].clone())
            })
            .collect()
    }

    /// `len` pairs, each user at most once, where the user has muted the room: a batch that can be
    /// unmuted and then muted again to restore the data set.
    pub fn distinct_present_pairs(&self, len: usize, seed: u64) -> Vec<(UserId, RoomId)> {
        let mut rng = SplitMix(seed);
        let mut order: Vec<usize> = (0..self.users.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        order
            .into_iter()
            .cycle()
            .take(len.min(self.users.len()))
            .map(|user| {
                let room = self.mutes[user][rng.below(MUTES_PER_USER)] as usize;
                (self.users[user].clone(), self.rooms[room].clone())
            })
            .collect()
    }
}

/// Whether `MUTESTORE_BENCH_QUICK=1` asks for small data (a smoke run, not a measurement).
pub fn quick() -> bool {
    std::env::var_os("MUTESTORE_BENCH_QUICK").is_some_and(|v| v == "1")
}
