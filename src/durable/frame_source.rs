//! [`FrameSource`]: where a [`FrameReader`](super::frame::FrameReader) reads a data file from. A
//! file held in memory (`&[u8]`) cannot fail to read; a [`Stream`] reads a file through a buffer, a
//! frame at a time, and adds I/O errors to the frame errors.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::file_error::{FileError, OnFile};
use super::frame::FrameError;
use super::open_error::OpenError;

/// Bytes a [`Stream`] over a file reads from it at a time.
const STREAM_BUFFER: usize = 256 << 10;

/// A source of the bytes of a data file, read in order.
pub(super) trait FrameSource {
    /// What reading fails with: a frame that does not check out, or whatever else can go wrong.
    type Error: From<FrameError>;

    /// Reads into `buf` and returns how many bytes it read; 0 only at the end of the file.
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;
}

impl FrameSource for &[u8] {
    type Error = FrameError;

    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, FrameError> {
        let (read, rest) = self.split_at(buf.len().min(self.len()));
        buf[..read.len()].copy_from_slice(read);
        *self = rest;
        Ok(read.len())
    }
}

/// A data file read from a reader, normally a file through a buffer ([`open_stream`]).
#[derive(Debug)]
pub(super) struct Stream<R>(pub(super) R);

/// Opens `path` to be read through a buffer.
pub(super) fn open_stream(path: &Path) -> Result<Stream<BufReader<File>>, FileError> {
    let file = File::open(path).on_file("reading", path)?;
    Ok(Stream(BufReader::with_capacity(STREAM_BUFFER, file)))
}

/// Why the frames of a [`Stream`] could not be read.
#[derive(Debug)]
pub(super) enum StreamError {
    /// A frame, or the file header, does not check out.
    Frame(FrameError),
    /// Reading the file failed.
    Io(io::Error),
}

impl From<FrameError> for StreamError {
    fn from(error: FrameError) -> Self {
        Self::Frame(error)
    }
}

impl StreamError {
    /// The error as opening the store reports it: damage at an offset of `path`, or an I/O error
    /// reading it.
    pub(super) fn on_file(self, path: &Path) -> OpenError {
        match self {
            Self::Frame(error) => OpenError::Damaged {
                path: path.to_path_buf(),
                offset: error.offset,
                reason: error.reason.to_string(),
            },
            Self::Io(source) => OpenError::Io {
                action: "reading",
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

impl<R: Read> FrameSource for Stream<R> {
    type Error = StreamError;

    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        loop {
            match self.0.read(buf) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => return result.map_err(StreamError::Io),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_and_a_stream_give_the_same_bytes() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut slice = &bytes[..];
        let mut stream = Stream(BufReader::with_capacity(7, &bytes[..]));
        let (mut from_slice, mut from_stream) = (Vec::new(), Vec::new());
        let mut buf = [0; 10];
        loop {
            let read = slice.read_some(&mut buf).unwrap();
            from_slice.extend_from_slice(&buf[..read]);
            if read == 0 {
                break;
            }
        }
        loop {
            let read = stream.read_some(&mut buf).unwrap();
            from_stream.extend_from_slice(&buf[..read]);
            if read == 0 {
                break;
            }
        }
        assert_eq!(from_slice, bytes);
        assert_eq!(from_stream, bytes);
    }
}
