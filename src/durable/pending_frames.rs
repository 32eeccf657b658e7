//! [`PendingFrames`]: records waiting to be written, already laid out as frames.
//!
//! Writers append records under the journal's lock; the flusher takes the whole buffer, fills in
//! each frame's header for the offset it lands at, and writes it with one call.

use super::frame::{self, FRAME_HEADER_LEN, FRAME_TARGET_PAYLOAD};

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

    /// Empties the buffer, keeping its capacity.
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
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
    }
}
