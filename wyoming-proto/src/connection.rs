//! Typed events over one byte stream.
//!
//! The read half and the write half are separate values so that a handler can read the next request
//! while a worker streams audio out (streaming TTS, early STT results). The writer is cloneable and
//! serialises whole events behind one lock: each event is encoded into one buffer and written by one
//! owner at a time, so events never interleave.

use crate::codec::{Limits, WyomingCodec};
use crate::error::Error;
use crate::event::Event;
use crate::frame::Frame;
use crate::transport::{BoxRead, BoxWrite, Stream};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

/// When a connection last carried a whole frame, either way, and the server's means of closing it while it
/// waits for the next one (to make room for a new client when every slot is taken: see
/// [`crate::server::ServerConfig::evict_idle_after`]).
#[derive(Debug)]
pub struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
    /// Requests in flight ([`Activity::busy`]).
    busy: AtomicUsize,
    evict: CancellationToken,
}

/// A request in flight on a connection, until dropped.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Activity {
    fn new() -> Self {
        Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            evict: CancellationToken::new(),
        }
    }

    /// Marks a request in flight until the guard is dropped: a connection waiting for a long decode sends and
    /// receives nothing, but is not idle, and is never evicted.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed) > 0
    }

    fn touch(&self) {
        self.last_ms.store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long since the last frame in or out.
    pub fn idle_for(&self) -> Duration {
        self.origin.elapsed().saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Ends the connection's wait for its next frame, now or when it next waits: the read fails with a
    /// `ConnectionEvicted` request error, which the server reports to the client before closing.
    pub fn evict(&self) {
        self.evict.cancel();
    }

    pub fn is_evicted(&self) -> bool {
        self.evict.is_cancelled()
    }
}

/// Reads frames and typed events from the peer.
pub struct EventReader {
    inner: FramedRead<BoxRead, WyomingCodec>,
    activity: Arc<Activity>,
}

impl EventReader {
    /// The connection's activity, shared with its writer.
    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }

    pub fn new(read: BoxRead, limits: Limits) -> Self {
        Self::with_activity(read, limits, Arc::new(Activity::new()))
    }

    fn with_activity(read: BoxRead, limits: Limits, activity: Arc<Activity>) -> Self {
        EventReader { inner: FramedRead::new(read, WyomingCodec::new(limits)), activity }
    }

    /// The next frame, or `None` at a clean end of stream.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, Error> {
        let frame = tokio::select! {
            biased;
            frame = self.inner.next() => frame.transpose()?,
            () = self.activity.evict.cancelled() => {
                let idle = self.activity.idle_for().as_secs();
                let message = format!("closed after {idle} s without a request, to make room for a new connection");
                return Err(Error::request(message, "ConnectionEvicted"));
            }
        };
        self.activity.touch();
        Ok(frame)
    }

    /// The next typed event, or `None` at a clean end of stream. Unknown types come back as
    /// [`Event::Unknown`]; a known type with bad data is an [`Error::Event`].
    pub async fn read_event(&mut self) -> Result<Option<Event>, Error> {
        match self.read_frame().await? {
            Some(frame) => Ok(Some(Event::from_frame(frame)?)),
            None => Ok(None),
        }
    }
}

/// Writes events to the peer. Clones share the same stream.
#[derive(Clone)]
pub struct EventWriter {
    inner: Arc<Mutex<FramedWrite<BoxWrite, WyomingCodec>>>,
    activity: Arc<Activity>,
}

impl EventWriter {
    pub fn new(write: BoxWrite, limits: Limits) -> Self {
        Self::with_activity(write, limits, Arc::new(Activity::new()))
    }

    fn with_activity(write: BoxWrite, limits: Limits, activity: Arc<Activity>) -> Self {
        EventWriter { inner: Arc::new(Mutex::new(FramedWrite::new(write, WyomingCodec::new(limits)))), activity }
    }

    /// The connection's activity, shared with its reader.
    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }

    /// Writes and flushes one event.
    pub async fn write_event(&self, event: &Event) -> Result<(), Error> {
        self.write_frame(&event.to_frame()).await
    }

    /// Writes and flushes one frame.
    pub async fn write_frame(&self, frame: &Frame) -> Result<(), Error> {
        self.inner.lock().await.send(frame).await?;
        self.activity.touch();
        Ok(())
    }

    /// Closes the write half, so the peer sees end of stream.
    pub async fn close(&self) -> Result<(), Error> {
        let mut inner = self.inner.lock().await;
        SinkExt::<&Frame>::flush(&mut *inner).await?;
        Ok(inner.get_mut().shutdown().await?)
    }
}

/// Both halves of one connection, and who is on the other end.
pub struct Connection {
    pub reader: EventReader,
    pub writer: EventWriter,
    peer: String,
}

impl Connection {
    pub fn new(stream: Stream, limits: Limits) -> Self {
        let activity = Arc::new(Activity::new());
        Connection {
            reader: EventReader::with_activity(stream.read, limits, activity.clone()),
            writer: EventWriter::with_activity(stream.write, limits, activity),
            peer: stream.peer,
        }
    }

    /// The connection's activity, shared by both halves.
    pub fn activity(&self) -> Arc<Activity> {
        self.reader.activity.clone()
    }

    /// The peer, for logs.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    pub async fn read_event(&mut self) -> Result<Option<Event>, Error> {
        self.reader.read_event().await
    }

    pub async fn write_event(&mut self, event: &Event) -> Result<(), Error> {
        self.writer.write_event(event).await
    }

    pub fn into_split(self) -> (EventReader, EventWriter) {
        (self.reader, self.writer)
    }
}
