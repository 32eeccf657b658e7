//! Frames: the checksummed unit every data file is written in, and the rules that tell a torn
//! write at the end of a file from damage.
//!
//! A data file starts with a 16-byte file header (an 8-byte magic naming the kind of file, then its
//! generation as a little-endian u64), followed by frames. A frame is
//!
//! ```text
//! payload length: u32 LE | payload CRC-32: u32 LE | header CRC-32: u32 LE | payload
//! ```
//!
//! where the header CRC covers the frame's own file offset, the length and the payload CRC. So a
//! damaged length is caught before it is trusted, and a frame copied to another place does not
//! read as valid there. Logs are filled with zeros ahead of the writes (see `log_writer`), so the
//! end of the data is where a zeroed header starts.
//!
//! Reading stops at the first frame that does not check out. That is a torn write, the ordinary
//! result of a crash in the middle of a write, when nothing but zeros follows it: the frame runs
//! past the end of the file, or its header or payload checksum fails with only zeros after it. A
//! zeroed header followed by data is a torn write too when the data ends within the longest frame
//! a writer makes and no header that checks out starts in it: the write's first sectors never
//! reached the disk, later ones did. So is a header that a 512-byte boundary splits into zeros on
//! one side and data on the other, with the same kind of rest: the sector on the zero side never
//! reached the disk. Anything else (a bad frame with data after it, a valid frame after zeros,
//! data after zeros longer than a frame) is damage.

use std::hash::Hasher;

use super::frame_source::FrameSource;

/// Bytes of a file header.
pub(super) const FILE_HEADER_LEN: usize = 16;
/// Bytes of a frame header.
pub(super) const FRAME_HEADER_LEN: usize = 12;

/// The kinds of data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileKind {
    Log,
    Snapshot,
}

impl FileKind {
    fn magic(self) -> &'static [u8; 8] {
        match self {
            Self::Log => b"MUTELOG1",
            Self::Snapshot => b"MUTESNP1",
        }
    }
}

/// The header a data file of `kind` and `generation` starts with.
pub(super) fn file_header(kind: FileKind, generation: u64) -> [u8; FILE_HEADER_LEN] {
    let mut header = [0; FILE_HEADER_LEN];
    header[..8].copy_from_slice(kind.magic());
    header[8..].copy_from_slice(&generation.to_le_bytes());
    header
}

/// Checks that `bytes` start with the header of a `kind` file of `generation`.
pub(super) fn check_file_header(
    bytes: &[u8],
    kind: FileKind,
    generation: u64,
) -> Result<(), FrameError> {
    let damaged = |reason| FrameError {
        offset: 0,
        reason,
        torn: false,
    };
    let header = bytes
        .first_chunk::<FILE_HEADER_LEN>()
        .ok_or_else(|| damaged("the file is shorter than its header"))?;
    if header[..8] != *kind.magic() {
        return Err(damaged(
            "the file does not start with the expected magic bytes",
        ));
    }
    if header[8..] != generation.to_le_bytes() {
        return Err(damaged(
            "the generation in the header differs from the file name's",
        ));
    }
    Ok(())
}

fn header_crc(offset: u64, len: u32, payload_crc: u32) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.write(&offset.to_le_bytes());
    hasher.write(&len.to_le_bytes());
    hasher.write(&payload_crc.to_le_bytes());
    hasher.finalize()
}

/// The payload size past which a writer starts a new frame. Frames stay small enough to check
/// quickly and far below the 4 GiB a length field can express.
pub(super) const FRAME_TARGET_PAYLOAD: usize = 1 << 20;

/// Fills in the header of `frame`, whose first [`FRAME_HEADER_LEN`] bytes are reserved for it and
/// the rest is the payload, for a frame written at file offset `offset`. Payloads are kept near
/// [`FRAME_TARGET_PAYLOAD`], far below `u32::MAX`.
pub(super) fn seal_frame(frame: &mut [u8], offset: u64) {
    let (header, payload) = frame.split_at_mut(FRAME_HEADER_LEN);
    debug_assert!(u32::try_from(payload.len()).is_ok());
    let len = payload.len() as u32;
    let payload_crc = crc32fast::hash(payload);
    header[0..4].copy_from_slice(&len.to_le_bytes());
    header[4..8].copy_from_slice(&payload_crc.to_le_bytes());
    header[8..12].copy_from_slice(&header_crc(offset, len, payload_crc).to_le_bytes());
}

/// Appends a whole frame holding `payload` to `out`, where `out[0]` sits at file offset `base`.
pub(super) fn put_frame(out: &mut Vec<u8>, base: u64, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    out.extend_from_slice(payload);
    seal_frame(&mut out[start..], base + start as u64);
}

/// A frame that failed to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FrameError {
    /// Where the frame starts in the file.
    pub(super) offset: u64,
    /// What is wrong with it.
    pub(super) reason: &'static str,
    /// Whether it has the shape of a torn write: nothing but zeros after it.
    pub(super) torn: bool,
}

/// A frame read back; its payload belongs to the reader until the next frame is read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame<'a> {
    pub(super) offset: u64,
    pub(super) payload: &'a [u8],
}

/// Reads the frames of a data file after its file header, in order, from a [`FrameSource`]: a file
/// held in memory, or a file streamed through a buffer. It holds one frame's payload at a time.
/// Finding where the data ends, or telling a torn write from damage, reads the rest of the file,
/// keeping at most the longest frame a writer makes of it.
#[derive(Debug)]
pub(super) struct FrameReader<S> {
    source: S,
    /// Bytes of the file read so far.
    read: u64,
    /// Where the next frame starts.
    at: u64,
    /// The payload of the last frame read.
    payload: Vec<u8>,
}

/// Bytes read at a time when the rest of a file is scanned.
const SCAN_CHUNK: usize = 64 << 10;

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// The longest log frame a writer makes, header included: it starts a new frame once a payload
/// reaches [`FRAME_TARGET_PAYLOAD`], and one log record (one change: at most two ids of
/// [`MAX_ID_BYTES`](crate::ids::MAX_ID_BYTES) each) is far smaller than that. A snapshot frame
/// holds whole users, so with a raised mute limit it can be longer; that does not matter here,
/// since only a log can end in a torn write (a snapshot is synced before it is renamed into place,
/// and any bad frame in one is damage).
const MAX_FRAME_LEN: usize = 2 * FRAME_TARGET_PAYLOAD;

/// Whether the data after a zeroed frame header at file offset `offset` has the shape of one torn
/// write whose first sectors never reached the disk (they still hold the zeros the log was filled
/// with) while later ones did: the data ends, with only zeros after it, within the longest frame a
/// writer makes, and no frame header that checks out starts anywhere in it, so no later write
/// reached the disk either. A damaged frame with a valid one after it stays damage.
fn is_rest_of_one_write(offset: u64, after_header: &[u8]) -> bool {
    let Some(last) = after_header.iter().rposition(|&b| b != 0) else {
        return false;
    };
    FRAME_HEADER_LEN + last < MAX_FRAME_LEN
        && !(0..=last).any(|at| {
            let start = offset + (FRAME_HEADER_LEN + at) as u64;
            after_header[at..]
                .first_chunk::<FRAME_HEADER_LEN>()
                .is_some_and(|header| header_checks_out(start, header))
        })
}

/// The smallest unit a disk writes whole. A write torn by a power cut leaves each of its sectors
/// either written or as it was; larger sectors' boundaries are multiples of this one too.
const SECTOR_LEN: u64 = 512;

/// Whether `header`, read at file offset `offset`, straddles a sector boundary and is all zeros on
/// one side of it: the header of a write one of whose sectors never reached the disk (it still
/// holds the zeros the log was filled with), while the sector on the other side did.
fn is_split_by_lost_sector(offset: u64, header: &[u8; FRAME_HEADER_LEN]) -> bool {
    let before_boundary = (SECTOR_LEN - offset % SECTOR_LEN) as usize;
    before_boundary < FRAME_HEADER_LEN && {
        let (before, after) = header.split_at(before_boundary);
        all_zero(before) || all_zero(after)
    }
}

/// Whether `header`, read at file offset `offset`, is a frame header whose checksum matches.
fn header_checks_out(offset: u64, header: &[u8; FRAME_HEADER_LEN]) -> bool {
    let (len, payload_crc, stored_header_crc) = header_fields(header);
    !all_zero(header) && header_crc(offset, len, payload_crc) == stored_header_crc
}

/// A frame header's payload length, payload CRC and header CRC.
fn header_fields(header: &[u8; FRAME_HEADER_LEN]) -> (u32, u32, u32) {
    let field = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    (field(0), field(4), field(8))
}

#[cfg(test)]
impl<'a> FrameReader<&'a [u8]> {
    /// A reader of `file`, built in memory by a test, whose header has been checked.
    pub(super) fn new(file: &'a [u8]) -> Self {
        let at = FILE_HEADER_LEN.min(file.len());
        Self::after_header(&file[at..], at as u64)
    }
}

/// Reads into `buf` until it is full or the file ends; returns how many bytes it read and adds
/// them to `read`.
fn fill<S: FrameSource>(source: &mut S, read: &mut u64, buf: &mut [u8]) -> Result<usize, S::Error> {
    let mut got = 0;
    while got < buf.len() {
        match source.read_some(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    *read += got as u64;
    Ok(got)
}

impl<S: FrameSource> FrameReader<S> {
    /// Reads the file header from `source` and checks that it is that of a `kind` file of
    /// `generation`; the reader then reads the frames after it.
    pub(super) fn open(mut source: S, kind: FileKind, generation: u64) -> Result<Self, S::Error> {
        let mut header = [0; FILE_HEADER_LEN];
        let got = fill(&mut source, &mut 0, &mut header)?;
        check_file_header(&header[..got], kind, generation)?;
        Ok(Self::after_header(source, FILE_HEADER_LEN as u64))
    }

    fn after_header(source: S, at: u64) -> Self {
        Self {
            source,
            read: at,
            at,
            payload: Vec::new(),
        }
    }

    /// Where the data read so far ends: the next frame's offset.
    pub(super) fn end(&self) -> u64 {
        self.at
    }

    /// Bytes of the file read so far: its length, once [`Self::next_frame`] has returned `None`.
    pub(super) fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Whether the rest of the file is zeros; reads it up to its first other byte.
    fn rest_is_zero(&mut self) -> Result<bool, S::Error> {
        let mut chunk = vec![0; SCAN_CHUNK];
        loop {
            let got = fill(&mut self.source, &mut self.read, &mut chunk)?;
            if !all_zero(&chunk[..got]) {
                return Ok(false);
            }
            if got < chunk.len() {
                return Ok(true);
            }
        }
    }

    /// Reads the rest of the file and returns its first [`MAX_FRAME_LEN`] bytes (all of it, if it
    /// is shorter) and the position in it of its last byte that is not zero. It stops at the first
    /// such byte at or past `MAX_FRAME_LEN - FRAME_HEADER_LEN`, where the rest can no longer be one
    /// torn write (see [`is_rest_of_one_write`]), and returns that position instead. When the rest
    /// is all zeros, as at the end of every log, it keeps nothing.
    fn scan_rest(&mut self) -> Result<(Vec<u8>, Option<usize>), S::Error> {
        let mut kept = Vec::new();
        let mut last = None;
        let mut chunk = vec![0; SCAN_CHUNK];
        let mut position = 0;
        loop {
            let got = fill(&mut self.source, &mut self.read, &mut chunk)?;
            let read = &chunk[..got];
            if let Some(at) = read.iter().rposition(|&b| b != 0) {
                if last.is_none() {
                    // Only zeros came before.
                    kept.resize(position.min(MAX_FRAME_LEN), 0);
                }
                last = Some(position + at);
            }
            if last.is_some() {
                let keep = got.min(MAX_FRAME_LEN - kept.len());
                kept.extend_from_slice(&read[..keep]);
            }
            if last.is_some_and(|last| last >= MAX_FRAME_LEN - FRAME_HEADER_LEN) {
                return Ok((kept, last));
            }
            position += got;
            if got < chunk.len() {
                return Ok((kept, last));
            }
        }
    }

    /// Reads a payload of `len` bytes into `self.payload`; `false` when the file ends first. The
    /// buffer grows with what is read, so a length past the end of the file costs no more memory
    /// than the file.
    fn read_payload(&mut self, len: usize) -> Result<bool, S::Error> {
        self.payload.clear();
        while self.payload.len() < len {
            let start = self.payload.len();
            let step = (len - start).min(FRAME_TARGET_PAYLOAD);
            self.payload.resize(start + step, 0);
            let got = fill(&mut self.source, &mut self.read, &mut self.payload[start..])?;
            if got < step {
                self.payload.truncate(start + got);
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The next frame; `None` at the end of the data (the end of the file, or zeros to the end).
    pub(super) fn next_frame(&mut self) -> Result<Option<Frame<'_>>, S::Error> {
        let offset = self.at;
        let fail = |reason, torn| FrameError {
            offset,
            reason,
            torn,
        };
        let mut header = [0; FRAME_HEADER_LEN];
        let got = fill(&mut self.source, &mut self.read, &mut header)?;
        if got < FRAME_HEADER_LEN {
            // The file ended.
            return if all_zero(&header[..got]) {
                Ok(None)
            } else {
                Err(fail("the file ends inside a frame header", true).into())
            };
        }
        if all_zero(&header) {
            let (after_header, last) = self.scan_rest()?;
            return match last {
                None => Ok(None),
                // Every byte that is not zero is in `after_header`, so it reads as the whole rest.
                Some(last)
                    if FRAME_HEADER_LEN + last < MAX_FRAME_LEN
                        && is_rest_of_one_write(offset, &after_header) =>
                {
                    Err(fail(
                        "a frame's first bytes never reached the disk, only later ones",
                        true,
                    )
                    .into())
                }
                Some(_) => Err(fail("data follows a zeroed frame header", false).into()),
            };
        }
        let (len, payload_crc, stored_header_crc) = header_fields(&header);
        if header_crc(offset, len, payload_crc) != stored_header_crc {
            let torn = if is_split_by_lost_sector(offset, &header) {
                // As after a zeroed header: the rest must be the rest of that one write.
                let (after_header, last) = self.scan_rest()?;
                last.is_none_or(|last| {
                    FRAME_HEADER_LEN + last < MAX_FRAME_LEN
                        && is_rest_of_one_write(offset, &after_header)
                })
            } else {
                self.rest_is_zero()?
            };
            return Err(if torn {
                fail("a frame header is incomplete", true)
            } else {
                fail("a frame header's checksum does not match", false)
            }
            .into());
        }
        let len = len as usize;
        if !self.read_payload(len)? {
            return Err(fail("the file ends inside a frame", true).into());
        }
        if crc32fast::hash(&self.payload) != payload_crc {
            return Err(if self.rest_is_zero()? {
                fail("the last frame's checksum does not match", true)
            } else {
                fail("a frame's checksum does not match", false)
            }
            .into());
        }
        self.at += (FRAME_HEADER_LEN + len) as u64;
        Ok(Some(Frame {
            offset,
            payload: &self.payload,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(payloads: &[&[u8]]) -> Vec<u8> {
        let mut file = file_header(FileKind::Log, 7).to_vec();
        for payload in payloads {
            put_frame(&mut file, 0, payload);
        }
        file
    }

    fn read_all(file: &[u8]) -> (Vec<Vec<u8>>, Result<u64, FrameError>) {
        let mut reader = FrameReader::new(file);
        let mut payloads = Vec::new();
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => payloads.push(frame.payload.to_vec()),
                Ok(None) => return (payloads, Ok(reader.end())),
                Err(e) => return (payloads, Err(e)),
            }
        }
    }

    #[test]
    fn frames_round_trip_and_zeros_end_the_data() {
        let mut file = file_with(&[b"one", b"", b"three"]);
        let end = file.len() as u64;
        assert!(check_file_header(&file, FileKind::Log, 7).is_ok());
        assert!(check_file_header(&file, FileKind::Log, 8).is_err());
        assert!(check_file_header(&file, FileKind::Snapshot, 7).is_err());
        file.extend_from_slice(&[0; 100]);
        let (payloads, result) = read_all(&file);
        assert_eq!(payloads, [&b"one"[..], b"", b"three"]);
        assert_eq!(result, Ok(end));
    }

    #[test]
    fn a_cut_or_scrambled_last_frame_is_torn() {
        let whole = file_with(&[b"first", b"second frame"]);
        let second = FILE_HEADER_LEN as u64 + FRAME_HEADER_LEN as u64 + 5;
        for cut in second as usize + 1..whole.len() {
            let (payloads, result) = read_all(&whole[..cut]);
            assert_eq!(payloads, [b"first"]);
            let error = result.unwrap_err();
            assert!(error.torn, "cut at {cut}: {error:?}");
            assert_eq!(error.offset, second);
        }
        // The last frame's payload garbled, zeros after it (a preallocated log).
        let mut garbled = whole.clone();
        let last = garbled.len() - 1;
        garbled[last] ^= 1;
        garbled.extend_from_slice(&[0; 64]);
        let error = read_all(&garbled).1.unwrap_err();
        assert!(error.torn && error.offset == second);
    }

    #[test]
    fn damage_before_more_data_is_not_torn() {
        let whole = file_with(&[b"first", b"second", b"third"]);
        for at in FILE_HEADER_LEN..FILE_HEADER_LEN + FRAME_HEADER_LEN + 5 {
            let mut damaged = whole.clone();
            damaged[at] ^= 0x40;
            let error = read_all(&damaged).1.unwrap_err();
            assert!(!error.torn, "flip at {at}: {error:?}");
            assert_eq!(error.offset, FILE_HEADER_LEN as u64);
        }
        // Zeros where a frame should start, then a frame that checks out: a write reached the disk
        // after one that did not, which is damage, never a torn write.
        let mut after_zeros = whole.clone();
        let gap = whole.len() as u64;
        after_zeros.extend_from_slice(&[0; 20]);
        put_frame(&mut after_zeros, 0, b"later");
        let error = read_all(&after_zeros).1.unwrap_err();
        assert!(!error.torn && error.offset == gap, "{error:?}");
        // The same past the longest frame a writer makes, even without a frame that checks out.
        let mut far = whole.clone();
        far.extend_from_slice(&vec![0; MAX_FRAME_LEN]);
        far.push(1);
        assert!(!read_all(&far).1.unwrap_err().torn);
    }

    #[test]
    fn a_last_frame_whose_header_never_reached_the_disk_is_torn() {
        let whole = file_with(&[b"first", b"second frame, the write in flight"]);
        let second = FILE_HEADER_LEN + FRAME_HEADER_LEN + 5;
        // The write's first sector lost (still the zeros the log was filled with), later ones
        // written: the header and the start of the payload are zeros, the rest is there.
        for lost in [FRAME_HEADER_LEN, FRAME_HEADER_LEN + 10] {
            let mut file = whole.clone();
            file[second..second + lost].fill(0);
            file.extend_from_slice(&[0; 64]);
            let (payloads, result) = read_all(&file);
            assert_eq!(payloads, [b"first"]);
            let error = result.unwrap_err();
            assert!(error.torn, "{lost} bytes lost: {error:?}");
            assert_eq!(error.offset, second as u64);
        }
    }

    #[test]
    fn a_frame_read_at_another_offset_fails() {
        let mut file = file_header(FileKind::Log, 1).to_vec();
        let mut moved = Vec::new();
        put_frame(&mut moved, 100, b"payload");
        file.extend_from_slice(&moved);
        assert!(read_all(&file).1.is_err());
    }
}
