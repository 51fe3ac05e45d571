//! ONNX Runtime for the TTS engines: the process's one environment, the device choice, and a pool of sessions
//! per model.
//!
//! Why a pool: `ort`'s `Session::run` takes `&mut self`, so one session serves one synthesis at a time. Each
//! model gets up to `--max-concurrent` sessions, created on first need (the first at start-up, so a missing or
//! corrupt model fails there), and reused. A session's thread count is fixed when it is opened, so the pool
//! keeps wide sessions (`--threads`) and narrow ones (one thread) apart; [`crate::scheduler`] picks the width.
//! The sessions of one model share their pre-packed weights (and our Winograd kernels' transformed ones); each
//! still holds its own copy of the rest (about 60 MB for a medium Piper voice), which is why narrow sessions are opened only when needed.
//! CPU sessions of a Piper voice load its graph with most of its 1-D convolutions on our Winograd kernels
//! ([`winograd_graph`], [`winograd`]); one-thread ones run the rest as 2-D ones ([`conv2d`]). Every run of a request can be
//! stopped part-way ([`cancel`]). The text frontend's own models are loaded when first needed ([`optional`]).

pub mod cancel;
pub mod conv2d;
mod model_proto;
pub mod optional;
pub mod winograd;
pub mod winograd_graph;
mod winograd_op;

pub use cancel::{Cancel, CancelOnDrop};

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider as _};
use ort::session::Session;
use ort::session::builder::PrepackedWeights;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Loads ONNX Runtime from `path` (1.24 or newer), once per process.
pub fn runtime(path: &Path) -> anyhow::Result<Arc<Environment>> {
    Ok(wyoming_proto::onnx::runtime(path)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
}

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot open ONNX model {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error(
        "--device cuda: this ONNX Runtime has no CUDA execution provider (is it the GPU build, and are CUDA and cuDNN installed?)"
    )]
    NoCuda,
    #[error("unknown --device {0:?}: expected auto, cpu or cuda")]
    BadDevice(String),
    #[error("{model}: {message}")]
    Run { model: String, message: String },
}

/// `auto` picks CUDA when ONNX Runtime offers it, else the CPU, and says which in one log line.
pub fn choose_device(requested: &str) -> Result<Device, OnnxError> {
    let cuda = || ep::CUDA::is_available().unwrap_or(false);
    let device = match requested {
        "cpu" => Device::Cpu,
        "cuda" | "gpu" => {
            if !cuda() {
                return Err(OnnxError::NoCuda);
            }
            Device::Cuda
        }
        "auto" => {
            if cuda() {
                Device::Cuda
            } else {
                tracing::info!("no CUDA execution provider in this ONNX Runtime; synthesising on the CPU");
                Device::Cpu
            }
        }
        other => return Err(OnnxError::BadDevice(other.to_string())),
    };
    Ok(device)
}

/// How many intra-op threads a synthesis runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Width {
    /// `--threads`: the synthesis runs alone.
    Wide,
    /// One thread: others run beside it.
    Narrow,
}

/// What the pool does to a model's graph before ONNX Runtime loads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Graph {
    AsIs,
    /// For Piper voices on the CPU: the 1-D convolutions that [`winograd_graph`] takes run on our Winograd
    /// kernels ([`winograd`]; about half the multiply-adds, and 22% less CPU per synthesis on one thread), on
    /// every session. In one-thread sessions (narrow ones, and wide ones under `--threads 1`) the rest run as
    /// 2-D ones ([`conv2d`]), for ONNX Runtime's faster x86 kernels, which help one thread but not two.
    FastConvolutions,
    /// Only the 2-D rewrite of [`Graph::FastConvolutions`], as the server ran one-thread sessions before our
    /// kernels: for benchmarks.
    Conv2dOnly,
}

/// How sessions of one model are opened.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub device: Device,
    pub intra_threads: usize,
}

pub fn open(
    env: &Environment,
    model: &Path,
    options: &SessionOptions,
    graph: Graph,
    width: Width,
    prepacked: &PrepackedWeights,
) -> Result<Session, OnnxError> {
    let fail = |e: &dyn std::fmt::Display| OnnxError::Open { path: model.to_path_buf(), message: e.to_string() };
    let mut builder = Session::builder(env).map_err(|e| fail(&e))?;
    builder = builder.with_prepacked_weights(prepacked).map_err(|e| fail(&e))?;
    let threads = if width == Width::Narrow { 1 } else { options.intra_threads.max(1) };
    builder = builder.with_intra_threads(threads).map_err(|e| fail(&e))?;
    // A wide synthesis's worker threads spin between operators instead of sleeping: a Piper run is hundreds of
    // short parallel sections, and waking a sleeping thread for each cost 6-12% of the real-time factor
    // (bench/RESULTS.md). It is what ONNX Runtime does by default and what piper-tts gets. After a run the
    // worker spins for a few milliseconds more before it sleeps; narrow sessions have no workers at all.
    let spin = width == Width::Wide && threads > 1;
    builder = builder.with_intra_op_spinning(spin).map_err(|e| fail(&e))?;
    if options.device == Device::Cuda {
        builder =
            builder.with_execution_providers([ep::CUDA::default().build().error_on_failure()]).map_err(|e| fail(&e))?;
    }
    // The rewrites pay off on x86's CPU kernels (see `Graph`).
    let rewritten = match (graph, options.device) {
        (Graph::FastConvolutions | Graph::Conv2dOnly, Device::Cpu) if cfg!(target_arch = "x86_64") => {
            let bytes = std::fs::read(model).map_err(|e| fail(&e))?;
            cpu_rewrite(&bytes, threads, graph == Graph::FastConvolutions)
        }
        _ => None,
    };
    // Our operator must be registered for a graph that uses it; if that fails, the graph as it is loads.
    let rewritten = match rewritten {
        Some(r) if r.winograd > 0 => {
            let registered = match winograd_op::domain() {
                Ok(domain) => builder.with_operators(domain).map_err(|e| (e.to_string(), e.recover())),
                Err(e) => Err((e.to_string(), builder)),
            };
            match registered {
                Ok(b) => {
                    builder = b;
                    Some(r)
                }
                Err((error, b)) => {
                    tracing::warn!(model = %model.display(), %error, "cannot register the Winograd operator; using the graph as it is");
                    builder = b;
                    None
                }
            }
        }
        other => other,
    };
    let session = match rewritten {
        Some(rewritten) => {
            match builder.commit_from_memory(&rewritten.model) {
                Ok(session) => {
                    tracing::debug!(
                        model = %model.display(),
                        winograd = rewritten.winograd,
                        conv2d = rewritten.conv2d,
                        "convolutions rewritten for the CPU"
                    );
                    Ok(session)
                }
                Err(e) => {
                    // Not expected (the rewrites refuse what they are unsure of), but a faster graph is not worth
                    // a failed request: the graph as it is loads instead (and fails if the file itself is bad).
                    tracing::warn!(model = %model.display(), error = %e, "the convolution rewrite did not load; using the graph as it is");
                    drop(rewritten);
                    builder.commit_from_file(model).map_err(|e| fail(&e))
                }
            }
        }
        None => builder.commit_from_file(model).map_err(|e| fail(&e)),
    };
    // ONNX Runtime copies and transforms every weight while it optimises a graph (for NCHWc kernels, into a
    // new layout) and frees the originals, but glibc keeps those many mid-sized blocks: without this, a Piper
    // session with its convolutions rewritten held 70 MiB more.
    wyoming_proto::heap::release_freed_memory();
    session
}

/// A graph after the CPU rewrites, and how many convolutions each took.
struct CpuGraph {
    model: Vec<u8>,
    winograd: usize,
    conv2d: usize,
    /// The transformed weights the graph names, alive until the session's kernels hold them.
    _weights: Vec<std::sync::Arc<winograd::Conv1d>>,
}

/// Winograd first ([`winograd_graph`], where this CPU runs its kernels), then, on one thread, the 2-D form
/// ([`conv2d`]) for the convolutions it left; `None` when neither changed anything.
fn cpu_rewrite(bytes: &[u8], threads: usize, ours: bool) -> Option<CpuGraph> {
    let winograd = if ours && winograd::fast() { winograd_graph::rewrite(bytes) } else { None };
    let (model, winograd, weights) = match winograd {
        Some(r) => (std::borrow::Cow::Owned(r.model), r.convolutions, r.weights),
        None => (std::borrow::Cow::Borrowed(bytes), 0, Vec::new()),
    };
    match conv2d::rewrite(&model).filter(|_| threads == 1) {
        Some(r) => Some(CpuGraph { model: r.model, winograd, conv2d: r.convolutions, _weights: weights }),
        None if winograd > 0 => Some(CpuGraph { model: model.into_owned(), winograd, conv2d: 0, _weights: weights }),
        None => None,
    }
}

/// Sessions of one model, handed out one per synthesis.
pub struct SessionPool {
    env: Arc<Environment>,
    model: PathBuf,
    options: SessionOptions,
    graph: Graph,
    /// Idle sessions by width.
    idle: Mutex<Vec<(Width, Session)>>,
    prepacked: PrepackedWeights,
}

impl SessionPool {
    /// Opens the first (wide) session now, so a bad model is a start-up error.
    pub fn open(
        env: Arc<Environment>,
        model: &Path,
        options: SessionOptions,
        graph: Graph,
    ) -> Result<(Self, Session), OnnxError> {
        let prepacked = PrepackedWeights::new();
        let first = open(&env, model, &options, graph, Width::Wide, &prepacked)?;
        let idle = Mutex::new(Vec::new());
        Ok((SessionPool { env, model: model.to_path_buf(), options, graph, idle, prepacked }, first))
    }

    /// Opens sessions of `width` until `count` are idle, so that the first concurrent requests do not wait
    /// seconds for one (blocking).
    pub fn prewarm(&self, width: Width, count: usize) -> Result<(), OnnxError> {
        let width = self.lane(width);
        let idle = |pool: &Self| {
            pool.idle.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|(w, _)| *w == width).count()
        };
        for _ in idle(self)..count {
            let session = open(&self.env, &self.model, &self.options, self.graph, width, &self.prepacked)?;
            self.put_width(width, session);
        }
        Ok(())
    }

    /// Widths mean nothing on a GPU: every session there is opened the same way.
    fn lane(&self, width: Width) -> Width {
        if self.options.device == Device::Cuda { Width::Wide } else { width }
    }

    /// Puts the first session (from [`SessionPool::open`]) into the pool.
    pub fn put(&self, session: Session) {
        self.put_width(Width::Wide, session);
    }

    fn put_width(&self, width: Width, session: Session) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push((width, session));
    }

    /// Runs `f` with an idle session of `width`, opening another one if all are busy. The caller bounds
    /// concurrency.
    pub fn with<R>(&self, width: Width, f: impl FnOnce(&mut Session) -> R) -> Result<R, OnnxError> {
        let width = self.lane(width);
        let idle = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.iter().rposition(|(w, _)| *w == width).map(|i| idle.swap_remove(i).1)
        };
        let mut session = match idle {
            Some(session) => session,
            None => {
                tracing::debug!(model = %self.model.display(), ?width, "opening another session");
                open(&self.env, &self.model, &self.options, self.graph, width, &self.prepacked)?
            }
        };
        let result = f(&mut session);
        self.put_width(width, session);
        Ok(result)
    }

    pub fn model(&self) -> &Path {
        &self.model
    }
}
