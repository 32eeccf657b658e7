//! A cap on the connections the server holds open at once.
//!
//! The listener takes a connection off the kernel's listen backlog only while fewer than the cap
//! are open. Past the cap, new connections wait in the backlog (the client's connect succeeds, its
//! request is read once another connection closes); when the backlog is full too, the kernel
//! refuses or drops them. Nothing is accepted and then thrown away.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The default cap: well under the usual limit of 1024 open files per process.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// The largest cap the listener can count to (tokio's semaphore maximum, about 2^61); a larger
/// `--max-connections` is taken as this one, which no process reaches.
pub const MOST_CONNECTIONS: usize = Semaphore::MAX_PERMITS;

/// A [`TcpListener`] that holds at most `max` connections open.
#[derive(Debug)]
pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

impl LimitedListener {
    /// Caps `inner` at `max` open connections (at least one).
    pub fn new(inner: TcpListener, max: usize) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(max.clamp(1, MOST_CONNECTIONS))),
        }
    }
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // A free slot first: until one frees, the next connection stays in the backlog.
        let Ok(slot) = Arc::clone(&self.slots).acquire_owned().await else {
            // The semaphore is never closed; should it be, accept nothing more.
            return std::future::pending().await;
        };
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        (
            LimitedStream {
                stream,
                _slot: slot,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted connection; its slot frees when the server drops it.
#[derive(Debug)]
pub struct LimitedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(context, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(context, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(context, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(context)
    }
}
