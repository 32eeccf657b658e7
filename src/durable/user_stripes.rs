//! [`UserStripes`]: the locks that give each user's changes one order, in memory and in the log.
//!
//! A change takes its user's stripe, applies itself to the memory store and appends its record
//! before releasing it, so two changes to one user reach the log in the order in which they
//! changed the memory store, and so in the order of the lists they returned. `forget_room`, which
//! changes every user, takes every stripe. The syncs are waited for after the stripe is released.

use std::hash::BuildHasher;

use parking_lot::{Mutex, MutexGuard};

use crate::ids::UserId;

const STRIPES: usize = 256;

/// Keeps each stripe on its own cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(Mutex<()>);

/// Per-user write locks, 256 stripes chosen by hash.
#[derive(Debug)]
pub(super) struct UserStripes {
    stripes: Box<[Padded]>,
    hasher: foldhash::fast::RandomState,
}

impl UserStripes {
    pub(super) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Padded::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Locks `user`'s stripe.
    pub(super) fn lock(&self, user: &UserId) -> MutexGuard<'_, ()> {
        let stripe = self.hasher.hash_one(user.as_bytes()) as usize % STRIPES;
        self.stripes[stripe].0.lock()
    }

    /// Locks every stripe, in order, so that no other change runs meanwhile.
    pub(super) fn lock_all(&self) -> Vec<MutexGuard<'_, ()>> {
        self.stripes.iter().map(|stripe| stripe.0.lock()).collect()
    }
}
