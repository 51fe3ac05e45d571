//! An async Wyoming server: accept loop, one task per connection, a connection cap (with eviction of the
//! idlest connection when it is reached), and graceful shutdown.
//!
//! On shutdown the listener closes at once, handlers see the [`Shutdown`] signal (and are expected to
//! finish the request they are serving, then return), and the server waits up to a grace period before
//! aborting what is left. A handler's error closes only its own connection, after telling the client
//! why with an `error` event; the server keeps serving everyone else.

use crate::codec::Limits;
use crate::connection::{Activity, Connection};
use crate::error::Error;
use crate::event::{ErrorEvent, Event};
use crate::shutdown::Shutdown;
use crate::transport::Listener;
use crate::uri::WyomingUri;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info, info_span, warn};

/// Serves one connection.
pub trait Handler: Send + Sync + 'static {
    /// Handles events until the client leaves or the request is done. Await `shutdown` only while idle.
    fn handle(&self, conn: Connection, shutdown: Shutdown) -> impl Future<Output = Result<(), Error>> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Connection, Shutdown) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send,
{
    fn handle(&self, conn: Connection, shutdown: Shutdown) -> impl Future<Output = Result<(), Error>> + Send {
        self(conn, shutdown)
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Connections served at once; more are told the server is busy and closed, unless one can be evicted.
    pub max_connections: usize,
    pub limits: Limits,
    /// How long running requests may take to finish after shutdown is triggered.
    pub grace_period: Duration,
    /// When every slot is taken, a new client gets the slot of the connection that has carried no frame for
    /// the longest, if that is at least this long and it has no request in flight
    /// ([`crate::connection::Activity::busy`]; `None`: never). Connections left open by clients that
    /// forgot them (a leaky script, a stuck health check) must not lock Home Assistant out. Idle connections
    /// are otherwise kept, as the Python servers keep them.
    pub evict_idle_after: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 256,
            limits: Limits::default(),
            grace_period: Duration::from_secs(30),
            evict_idle_after: Some(Duration::from_secs(30)),
        }
    }
}

/// The connections being served, for eviction.
#[derive(Default)]
struct Registry {
    next: u64,
    open: HashMap<u64, Arc<Activity>>,
}

impl Registry {
    fn add(&mut self, activity: Arc<Activity>) -> u64 {
        self.next += 1;
        self.open.insert(self.next, activity);
        self.next
    }

    /// Evicts the connection idle the longest, if it has been idle at least `after`; returns how long.
    fn evict_idlest(&self, after: Duration) -> Option<Duration> {
        let (idle, activity) = self
            .open
            .values()
            .filter(|a| !a.is_evicted() && !a.is_busy())
            .map(|a| (a.idle_for(), a))
            .max_by_key(|(idle, _)| *idle)
            .filter(|(idle, _)| *idle >= after)?;
        activity.evict();
        Some(idle)
    }
}

pub struct Server {
    listener: Listener,
    config: ServerConfig,
}

impl Server {
    /// Binds the endpoint. Load models before calling this, so the port opens only when ready.
    pub async fn bind(uri: &WyomingUri, config: ServerConfig) -> Result<Server, Error> {
        let listener = Listener::bind(uri).await?;
        Ok(Server { listener, config })
    }

    /// The endpoint actually bound (the real port when 0 was asked for).
    pub fn local_uri(&self) -> WyomingUri {
        self.listener.local_uri()
    }

    /// Serves until `shutdown` is triggered (or, for stdio, until the one connection ends), then waits
    /// for running connections up to the grace period.
    pub async fn serve<H: Handler>(mut self, handler: H, shutdown: Shutdown) -> Result<(), Error> {
        let handler = Arc::new(handler);
        let permits = Arc::new(Semaphore::new(self.config.max_connections));
        let registry = Arc::new(Mutex::new(Registry::default()));
        let mut tasks = JoinSet::new();
        info!(uri = %self.local_uri(), "ready");
        let mut backoff = Duration::from_millis(10);
        loop {
            let accepted = tokio::select! {
                _ = shutdown.triggered() => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
                accepted = self.listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok(Some(stream)) => stream,
                // stdio has served its one connection: let it run to its end (or to shutdown), not just the
                // grace period.
                Ok(None) => {
                    tokio::select! {
                        _ = shutdown.triggered() => {}
                        _ = async { while tasks.join_next().await.is_some() {} } => {}
                    }
                    break;
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning or dying.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            backoff = Duration::from_millis(10);
            let conn = Connection::new(stream, self.config.limits);
            let span = info_span!("conn", peer = %conn.peer());
            let max = self.config.max_connections;
            let permit = match permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let evicted = self.config.evict_idle_after.and_then(|after| lock(&registry).evict_idlest(after));
                    match evicted {
                        Some(idle) => info!(parent: &span, max, ?idle, "connection cap reached; closing the idlest"),
                        None => {
                            warn!(parent: &span, max, "connection cap reached, refusing");
                            tasks.spawn(refuse_busy(conn, max).instrument(span));
                            continue;
                        }
                    }
                    None
                }
            };
            let (handler, shutdown, permits, registry) =
                (handler.clone(), shutdown.clone(), permits.clone(), registry.clone());
            tasks.spawn(
                async move {
                    // An evicted connection's slot frees up once its handler has said why and closed.
                    let permit = match permit {
                        Some(permit) => permit,
                        None => match tokio::time::timeout(EVICTION_WAIT, permits.acquire_owned()).await {
                            Ok(Ok(permit)) => permit,
                            _ => return refuse_busy(conn, max).await,
                        },
                    };
                    debug!("connected");
                    let id = lock(&registry).add(conn.activity());
                    run_handler(&*handler, conn, shutdown).await;
                    lock(&registry).open.remove(&id);
                    debug!("disconnected");
                    drop(permit);
                }
                .instrument(span),
            );
        }
        let grace_period = self.config.grace_period;
        drop(self.listener);
        drain(tasks, grace_period).await;
        Ok(())
    }
}

/// How long a new client waits for the slot of the connection evicted for it.
const EVICTION_WAIT: Duration = Duration::from_secs(2);

fn lock(registry: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits for running connections to finish, then aborts whatever is left after the grace period.
async fn drain(mut tasks: JoinSet<()>, grace_period: Duration) {
    if tasks.is_empty() {
        return;
    }
    info!(connections = tasks.len(), grace = ?grace_period, "waiting for running requests");
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(grace_period, all_done).await.is_err() {
        warn!(connections = tasks.len(), "grace period over, closing remaining connections");
        tasks.shutdown().await;
    }
}

async fn run_handler<H: Handler>(handler: &H, conn: Connection, shutdown: Shutdown) {
    let writer = conn.writer.clone();
    if let Err(e) = handler.handle(conn, shutdown).await {
        match e.to_error_event() {
            Some(event) => {
                warn!(error = %e, "closing connection");
                let event = Event::Error(event);
                let _ = tokio::time::timeout(Duration::from_secs(1), writer.write_event(&event)).await;
            }
            None => debug!(error = %e, "connection ended"),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.close()).await;
}

async fn refuse_busy(conn: Connection, max: usize) {
    let (_, writer) = conn.into_split();
    let event = Event::Error(ErrorEvent::new(format!("server busy: {max} connections already open"), "ServerBusy"));
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.write_event(&event)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.close()).await;
}
