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
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tokio_util::codec::{FramedRead, FramedWrite};

/// Reads frames and typed events from the peer.
pub struct EventReader {
    inner: FramedRead<BoxRead, WyomingCodec>,
}

impl EventReader {
    pub fn new(read: BoxRead, limits: Limits) -> Self {
        EventReader { inner: FramedRead::new(read, WyomingCodec::new(limits)) }
    }

    /// The next frame, or `None` at a clean end of stream.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, Error> {
        Ok(self.inner.next().await.transpose()?)
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
}

impl EventWriter {
    pub fn new(write: BoxWrite, limits: Limits) -> Self {
        EventWriter { inner: Arc::new(Mutex::new(FramedWrite::new(write, WyomingCodec::new(limits)))) }
    }

    /// Writes and flushes one event.
    pub async fn write_event(&self, event: &Event) -> Result<(), Error> {
        self.write_frame(&event.to_frame()).await
    }

    /// Writes and flushes one frame.
    pub async fn write_frame(&self, frame: &Frame) -> Result<(), Error> {
        Ok(self.inner.lock().await.send(frame).await?)
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
        Connection {
            reader: EventReader::new(stream.read, limits),
            writer: EventWriter::new(stream.write, limits),
            peer: stream.peer,
        }
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
