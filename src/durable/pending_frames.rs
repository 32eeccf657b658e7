//! [`PendingFrames`]: records waiting to be written, already laid out as frames.
//!
//! Writers append records under the journal's lock; the flusher takes the whole buffer, fills in
//! each frame's header for the offset it lands at, and writes it with one call.

use super::frame::{self, FRAME_HEADER_LEN, FRAME_TARGET_PAYLOAD};

/// The most capacity an empty buffer keeps: far more than a batch of a healthy store (a flusher
/// round of a few milliseconds at millions of records a second), far less than a backlog.
const KEPT_CAPACITY: usize = 4 << 20;

/// Frames whose headers are filled in when their place in the file is known.
#[derive(Debug, Default)]
pub(super) struct PendingFrames {
    bytes: Vec<u8>,
    /// Where each frame starts in `bytes`.
    starts: Vec<usize>,
}

impl PendingFrames {
    /// Appends one record, written by `encode`, starting a new frame when the current one is full.
    pub(super) fn push_record(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let frame_full = self.starts.last().is_none_or(|&start| {
            self.bytes.len() - start - FRAME_HEADER_LEN >= FRAME_TARGET_PAYLOAD
        });
        if frame_full {
            self.starts.push(self.bytes.len());
            self.bytes.extend_from_slice(&[0; FRAME_HEADER_LEN]);
        }
        encode(&mut self.bytes);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Bytes of all the frames.
    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Fills in every header for frames written from file offset `offset` on, and returns the bytes
    /// to write there.
    pub(super) fn seal_at(&mut self, offset: u64) -> &[u8] {
        for (n, &start) in self.starts.iter().enumerate() {
            let end = self.starts.get(n + 1).copied().unwrap_or(self.bytes.len());
            frame::seal_frame(&mut self.bytes[start..end], offset + start as u64);
        }
        &self.bytes
    }

    /// Empties the buffer, keeping up to [`KEPT_CAPACITY`] bytes of its capacity: the batches of a
    /// busy store reuse it, and the buffer of a large backlog, once written, is given back.
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.bytes.shrink_to(KEPT_CAPACITY);
        self.starts.clear();
        self.starts
            .shrink_to(KEPT_CAPACITY / FRAME_TARGET_PAYLOAD + 1);
    }

    /// Bytes the buffer has room for without allocating.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::{FILE_HEADER_LEN, FileKind, FrameReader, file_header};
    use super::*;

    #[test]
    fn large_batches_split_into_frames_that_read_back() {
        let mut pending = PendingFrames::default();
        let record = [7u8; 1000];
        let records = 3 * FRAME_TARGET_PAYLOAD / record.len();
        for _ in 0..records {
            pending.push_record(|out| out.extend_from_slice(&record));
        }
        let mut file = file_header(FileKind::Log, 0).to_vec();
        file.extend_from_slice(pending.seal_at(FILE_HEADER_LEN as u64));
        let mut reader = FrameReader::new(&file);
        let (mut frames, mut bytes) = (0, 0);
        while let Some(frame) = reader.next_frame().unwrap() {
            frames += 1;
            bytes += frame.payload.len();
        }
        assert_eq!(bytes, records * record.len());
        assert!(frames >= 3, "{frames} frames");
        pending.clear();
        assert!(pending.is_empty());
        assert_eq!(pending.len(), 0);
        assert!(
            pending.capacity() >= records * record.len(),
            "small batches keep the buffer"
        );
    }

    #[test]
    fn an_emptied_large_buffer_gives_its_memory_back() {
        let mut pending = PendingFrames::default();
        let record = [7u8; 1000];
        for _ in 0..2 * KEPT_CAPACITY / record.len() {
            pending.push_record(|out| out.extend_from_slice(&record));
        }
        assert!(pending.capacity() > KEPT_CAPACITY);
        pending.clear();
        assert!(pending.is_empty());
        assert!(
            pending.capacity() <= KEPT_CAPACITY,
            "{}",
            pending.capacity()
        );
    }
}
