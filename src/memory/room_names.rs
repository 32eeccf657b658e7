//! An append-only array of room names that readers index without taking any lock.
//!
//! Storage grows in segments of doubling size, each allocated once and never moved, so a name's
//! place never changes. Every slot is a `OnceLock`: written once, then read with a single acquire
//! load. Reads cost no atomic read-modify-write, so threads reading names never contend for a cache
//! line.

use std::sync::OnceLock;

use crate::ids::RoomId;

/// log2 of the first segment's length.
const FIRST_SEGMENT_BITS: u32 = 10;
/// Enough segments for every `u32` index.
const SEGMENTS: usize = 32 - FIRST_SEGMENT_BITS as usize + 1;

type Segment = Box<[OnceLock<RoomId>]>;

/// See the module documentation.
pub(crate) struct RoomNames {
    segments: [OnceLock<Segment>; SEGMENTS],
}

/// The segment holding `index`, and the position within it.
fn locate(index: u32) -> (usize, usize) {
    let shifted = u64::from(index) + (1 << FIRST_SEGMENT_BITS);
    let segment = (63 - shifted.leading_zeros() - FIRST_SEGMENT_BITS) as usize;
    let offset = shifted - (1u64 << (segment as u32 + FIRST_SEGMENT_BITS));
    (segment, offset as usize)
}

impl RoomNames {
    pub(crate) fn new() -> Self {
        Self {
            segments: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The name at `index`, if one was stored there.
    #[inline]
    pub(crate) fn get(&self, index: u32) -> Option<&RoomId> {
        let (segment, offset) = locate(index);
        self.segments[segment].get()?.get(offset)?.get()
    }

    /// Stores `name` at `index`. Each index is given out once by the caller, so the slot is empty.
    pub(crate) fn set(&self, index: u32, name: RoomId) {
        let (segment, offset) = locate(index);
        let slots = self.segments[segment].get_or_init(|| {
            let len = 1usize << (segment as u32 + FIRST_SEGMENT_BITS);
            (0..len).map(|_| OnceLock::new()).collect()
        });
        if let Some(slot) = slots.get(offset) {
            let _ = slot.set(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_every_index_once() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(1023), (0, 1023));
        assert_eq!(locate(1024), (1, 0));
        assert_eq!(locate(3071), (1, 2047));
        assert_eq!(locate(3072), (2, 0));
        let (segment, offset) = locate(u32::MAX);
        assert!(segment < SEGMENTS);
        assert!(offset < 1 << (segment as u32 + FIRST_SEGMENT_BITS));
    }

    #[test]
    fn names_read_back() {
        let names = RoomNames::new();
        for i in [0u32, 5, 1023, 1024, 5000] {
            names.set(i, RoomId::new(&format!("room-{i}")).unwrap());
        }
        assert_eq!(names.get(5000).map(RoomId::as_str), Some("room-5000"));
        assert_eq!(names.get(1024).map(RoomId::as_str), Some("room-1024"));
        assert!(names.get(6).is_none());
        assert!(names.get(u32::MAX).is_none());
    }
}
