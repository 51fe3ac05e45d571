//! Dilated 1-D convolutions by Winograd's minimal filtering algorithm, F(m, r).
//!
//! Why our own: a Piper voice spends most of its time in the 3-, 5- and 7-tap convolutions of its HiFi-GAN
//! decoder and its flow, and ONNX Runtime's CPU kernels already run those multiply-adds at the core's peak
//! (`bench/RESULTS.md`). The only way to less CPU per synthesis is fewer multiply-adds: F(m, r) computes m
//! outputs of an r-tap filter from m + r - 1 products per channel pair instead of m·r, so a 5-tap convolution
//! costs 2.5× fewer (before the transforms), and ONNX Runtime has no Winograd kernel for 1-D convolutions.
//!
//! The transforms come from Toom-Cook interpolation at the points 0, ±1, ±2, ±½, ±3/2 and ∞, built in f64 at
//! load time. Rounding grows with the number of points: on random data an 8-point transform (up to 5 taps) is
//! within about 2e-6 of a direct convolution in f64, relative to the output's peak, and a 10-point one (6 and
//! 7 taps) within about 1e-5 (±3/2 rather than the usual ±3 halves that). On joe-medium's decoder the audio
//! moved by 1e-6 of full scale, as much as a direct f32 convolution's own rounding (bench/RESULTS.md). One
//! difference in kind: an infinity in the input makes a whole tile NaN (∞ − ∞ in the transforms), where a
//! direct convolution poisons only the outputs whose window holds it.
//!
//! Layout: ONNX's `[channels, time]` is transposed block by block into time-major rows, so that every step
//! works on contiguous channel vectors, whatever the dilation: a block's input rows are transformed into `n`
//! matrices (one per interpolation point), each is multiplied by the pre-transformed weights (a GEMM with a
//! 6×16 register-blocked kernel), and the `n` products are folded back into output rows. A block holds about
//! 48 tiles (fewer for a short input, at least one per dilation phase), so its buffers stay in the L2 cache,
//! and blocks are independent, so they can run on several threads. The graph's `LeakyRelu` before a convolution and residual `Add` after it
//! are applied in the two transposes, which read and write every value anyway.

use std::cell::RefCell;

/// Interpolation points, in the order the transforms use them (∞ is implied last).
const POINTS: [f64; 9] = [0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1.5, -1.5];
/// Tiles per block (before rounding to whole phases of a dilation).
const TILES: usize = 48;
/// The widest reach, `dilation · (taps - 1)`, and the largest pad accepted: far beyond any real model, and small
/// enough that no size computed from them overflows or asks for unreasonable scratch memory (a block holds at
/// least one tile per dilation phase).
pub const MAX_REACH: usize = 1 << 12;
/// Rows of the GEMM kernel: tiles per register block.
const ROWS: usize = 6;
/// Columns of the GEMM kernel: output channels per packed weight panel.
const PANEL: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WinogradError {
    #[error("a {0}-tap convolution has no Winograd transform here (2 to 7 taps)")]
    Taps(usize),
    #[error("convolution weights have {got} values, expected {cout}×{cin}×{taps}")]
    Weights { got: usize, cout: usize, cin: usize, taps: usize },
    #[error("convolution bias has {got} values, expected {cout}")]
    Bias { got: usize, cout: usize },
    #[error(
        "dilation {dilation} or pads {pads:?} out of range (1 to {MAX_REACH} frames of reach, pads up to {MAX_REACH})"
    )]
    Reach { dilation: usize, pads: [usize; 2] },
    #[error("a convolution needs at least one input and one output channel")]
    NoChannels,
    #[error("input has {got} values, expected {cin} channels × {time}")]
    Input { got: usize, cin: usize, time: usize },
    #[error("{time} input frames are too few for a {taps}-tap convolution of dilation {dilation} with pads {pads:?}")]
    TooShort { time: usize, taps: usize, dilation: usize, pads: [usize; 2] },
    #[error("output has {got} values, expected {cout} channels × {time}")]
    Output { got: usize, cout: usize, time: usize },
    #[error("residual has {got} values, expected {len} (the output's)")]
    Residual { got: usize, len: usize },
    #[error("LeakyRelu slope {0} is outside 0..=1")]
    Alpha(f32),
}

/// The output tile (m) and transform size (n = m + taps - 1) used for a filter of `taps`.
///
/// Larger tiles save more products but cost more in the transforms and in rounding; these keep the
/// transforms at 8 or 10 points (see the module doc for the rounding).
pub fn tile(taps: usize) -> Option<(usize, usize)> {
    match taps {
        2..=5 => Some((9 - taps, 8)),
        6 | 7 => Some((11 - taps, 10)),
        _ => None,
    }
}

/// The F(m, r) transforms: `y = Aᵀ [(G g) ⊙ (Bᵀ d)]` for an `r`-tap correlation `y_i = Σ_k g_k d_{i+k}`.
#[derive(Debug, Clone)]
pub struct Transform {
    pub m: usize,
    pub n: usize,
    pub r: usize,
    /// `n × n`, row `p` holds the coefficients of input `u` for point `p`.
    pub bt: Vec<f64>,
    /// `n × r`.
    pub g: Vec<f64>,
    /// `m × n`.
    pub at: Vec<f64>,
}

impl Transform {
    /// Toom-Cook at `POINTS[..n - 1]` and ∞: correlation is the transpose of linear convolution, whose
    /// evaluation matrices are Vandermonde rows (∞ picks the leading coefficient).
    pub fn new(m: usize, r: usize) -> Transform {
        let n = m + r - 1;
        assert!(m >= 1 && r >= 1 && n <= POINTS.len() + 1, "no transform for F({m}, {r})");
        // n × k evaluation matrix.
        let vandermonde = |k: usize| -> Vec<f64> {
            let mut v = vec![0.0; n * k];
            for (j, &a) in POINTS[..n - 1].iter().enumerate() {
                for i in 0..k {
                    v[j * k + i] = a.powi(i as i32);
                }
            }
            v[(n - 1) * k + k - 1] = 1.0;
            v
        };
        let vm = vandermonde(m);
        let at = (0..m * n).map(|x| vm[(x % n) * m + x / n]).collect();
        let g = vandermonde(r);
        let inverse = invert(vandermonde(n), n);
        let bt = (0..n * n).map(|x| inverse[(x % n) * n + x / n]).collect();
        Transform { m, n, r, bt, g, at }
    }
}

/// Gauss-Jordan with partial pivoting; the Vandermonde matrices here are small (n ≤ 10) and well conditioned.
fn invert(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&x, &y| a[x * n + col].abs().total_cmp(&a[y * n + col].abs())).unwrap_or(col);
        for k in 0..n {
            a.swap(col * n + k, pivot * n + k);
            inv.swap(col * n + k, pivot * n + k);
        }
        let d = a[col * n + col];
        for k in 0..n {
            a[col * n + k] /= d;
            inv[col * n + k] /= d;
        }
        for row in (0..n).filter(|&r| r != col) {
            let f = a[row * n + col];
            if f != 0.0 {
                for k in 0..n {
                    a[row * n + k] -= f * a[col * n + k];
                    inv[row * n + k] -= f * inv[col * n + k];
                }
            }
        }
    }
    inv
}

/// Runs `block(i)` for every `i < count`, on any threads: `parallel(count, block)`.
pub type Parallel<'a> = dyn Fn(usize, &(dyn Fn(usize) + Sync)) + 'a;

/// One ONNX `Conv` (1-D, one group, stride 1) with its weights transformed and packed once, at load.
#[derive(Debug, Clone)]
pub struct Conv1d {
    cin: usize,
    cout: usize,
    taps: usize,
    dilation: usize,
    pads: [usize; 2],
    m: usize,
    n: usize,
    /// `cout` rounded up to whole panels; the extra channels have zero weights and are never written out.
    cout_padded: usize,
    bt: Vec<f32>,
    at: Vec<f32>,
    /// `bt` and `at` with every coefficient repeated eight times, for the AVX2 kernels.
    bt8: Vec<f32>,
    at8: Vec<f32>,
    /// `[n][panel][cin][PANEL]`.
    u: Vec<f32>,
    bias: Vec<f32>,
    /// A `LeakyRelu` slope applied to the input first, fused from the graph.
    alpha: Option<f32>,
    simd: bool,
}

impl Conv1d {
    /// `weights` as ONNX stores them, `[cout][cin][taps]`.
    pub fn new(
        weights: &[f32],
        [cout, cin, taps]: [usize; 3],
        bias: Option<&[f32]>,
        dilation: usize,
        pads: [usize; 2],
    ) -> Result<Conv1d, WinogradError> {
        let (m, n) = tile(taps).ok_or(WinogradError::Taps(taps))?;
        let transformed = cout.div_ceil(PANEL).checked_mul(PANEL * n).and_then(|v| v.checked_mul(cin));
        if cout.checked_mul(cin).and_then(|v| v.checked_mul(taps)) != Some(weights.len()) || transformed.is_none() {
            return Err(WinogradError::Weights { got: weights.len(), cout, cin, taps });
        }
        if let Some(b) = bias
            && b.len() != cout
        {
            return Err(WinogradError::Bias { got: b.len(), cout });
        }
        if cin == 0 || cout == 0 {
            return Err(WinogradError::NoChannels);
        }
        let reach = dilation.saturating_mul(taps - 1);
        if dilation == 0 || reach > MAX_REACH || pads.iter().any(|&p| p > MAX_REACH) {
            return Err(WinogradError::Reach { dilation, pads });
        }
        let t = Transform::new(m, taps);
        let cout_padded = cout.div_ceil(PANEL) * PANEL;
        let panels = cout_padded / PANEL;
        let mut u = vec![0f32; n * cout_padded * cin];
        for p in 0..n {
            for co in 0..cout {
                for ci in 0..cin {
                    let w = &weights[(co * cin + ci) * taps..][..taps];
                    let v: f64 = (0..taps).map(|k| t.g[p * taps + k] * f64::from(w[k])).sum();
                    let (panel, lane) = (co / PANEL, co % PANEL);
                    u[((p * panels + panel) * cin + ci) * PANEL + lane] = v as f32;
                }
            }
        }
        let mut padded_bias = vec![0f32; cout_padded];
        if let Some(b) = bias {
            padded_bias[..cout].copy_from_slice(b);
        }
        Ok(Conv1d {
            cin,
            cout,
            taps,
            dilation,
            pads,
            m,
            n,
            cout_padded,
            bt: t.bt.iter().map(|&v| v as f32).collect(),
            at: t.at.iter().map(|&v| v as f32).collect(),
            bt8: t.bt.iter().flat_map(|&v| [v as f32; 8]).collect(),
            at8: t.at.iter().flat_map(|&v| [v as f32; 8]).collect(),
            u,
            bias: padded_bias,
            alpha: None,
            simd: fast(),
        })
    }

    /// Applies `LeakyRelu(alpha)` to the input first (`0 ≤ alpha ≤ 1`, where it equals `max(x, alpha·x)`).
    pub fn with_leaky_input(mut self, alpha: f32) -> Result<Conv1d, WinogradError> {
        if !(0.0..=1.0).contains(&alpha) {
            return Err(WinogradError::Alpha(alpha));
        }
        self.alpha = Some(alpha);
        Ok(self)
    }

    /// Uses the portable kernels even where AVX2 is available (for tests).
    pub fn portable(mut self) -> Conv1d {
        self.simd = false;
        self
    }

    pub fn input_channels(&self) -> usize {
        self.cin
    }

    pub fn output_channels(&self) -> usize {
        self.cout
    }

    /// Output frames for `time` input frames, as ONNX defines them; `None` when there would be none.
    pub fn output_len(&self, time: usize) -> Option<usize> {
        let span = self.dilation * (self.taps - 1) + 1;
        (time + self.pads[0] + self.pads[1]).checked_sub(span).map(|t| t + 1)
    }

    /// `y = conv(x) + bias (+ residual)` for one batch item: `x` is `[cin][time]`, `y` and `residual` are
    /// `[cout][output_len(time)]`.
    pub fn run(&self, x: &[f32], time: usize, y: &mut [f32], residual: Option<&[f32]>) -> Result<(), WinogradError> {
        // SAFETY: one call per block, in turn.
        unsafe { self.run_blocks(x, time, y, residual, &|count, block| (0..count).for_each(block)) }
    }

    /// As [`Conv1d::run`], with the output's blocks of time handed to `parallel(count, block)`, on any threads
    /// (ONNX Runtime's intra-op pool, say).
    ///
    /// # Safety
    /// `parallel` must call `block(i)` at most once for every `i < count` (and should call it for all of them,
    /// or part of `y` is not written): two calls for one block would write the same outputs at once.
    pub unsafe fn run_blocks(
        &self,
        x: &[f32],
        time: usize,
        y: &mut [f32],
        residual: Option<&[f32]>,
        parallel: &Parallel<'_>,
    ) -> Result<(), WinogradError> {
        if x.len() != self.cin * time {
            return Err(WinogradError::Input { got: x.len(), cin: self.cin, time });
        }
        let tout = self.output_len(time).ok_or(WinogradError::TooShort {
            time,
            taps: self.taps,
            dilation: self.dilation,
            pads: self.pads,
        })?;
        if y.len() != self.cout * tout {
            return Err(WinogradError::Output { got: y.len(), cout: self.cout, time: tout });
        }
        if let Some(r) = residual
            && r.len() != y.len()
        {
            return Err(WinogradError::Residual { got: r.len(), len: y.len() });
        }
        let plan = Plan::new(self, tout);
        // Blocks write disjoint columns of every output row, so they may run side by side; the output is
        // reached through a raw pointer because no two threads may hold `&mut` to the same rows.
        let out = Dst { ptr: y.as_mut_ptr(), len: y.len() };
        parallel(tout.div_ceil(plan.span), &|b| {
            SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                scratch.fit(&plan, self);
                self.block(&plan, &mut scratch, x, time, out, residual, tout, b * plan.span);
            })
        });
        Ok(())
    }

    /// One block of outputs, `[t0, t0 + plan.span)`, clipped to `tout`.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        plan: &Plan,
        s: &mut Scratch,
        x: &[f32],
        time: usize,
        y: Dst,
        residual: Option<&[f32]>,
        tout: usize,
        t0: usize,
    ) {
        let (cin, d, m, n, cp) = (self.cin, self.dilation, self.m, self.n, self.cout_padded);
        let k = Kernels { simd: self.simd };
        // 1. Input rows t0 - pad_left .. + plan.rows, time-major, zero outside the signal.
        let xt = &mut s.xt[..plan.rows * cin];
        let first = self.pads[0].saturating_sub(t0).min(plan.rows);
        let last = (time + self.pads[0]).saturating_sub(t0).clamp(first, plan.rows);
        xt[..first * cin].fill(0.0);
        xt[last * cin..].fill(0.0);
        if last > first {
            let from = t0 + first - self.pads[0];
            let fuse = self.alpha.map_or(Fuse::Nothing, Fuse::Leaky);
            k.transpose(&x[from..], time, cin, last - first, Dst::of(&mut xt[first * cin..]), cin, fuse);
        }
        // 2. Input transform: tile (phase s, index q) reads rows s + d·(q·m + u).
        let v = &mut s.v[..n * plan.gemm_rows * cin];
        for phase in 0..d {
            for q in 0..plan.per_phase {
                let tile = phase * plan.per_phase + q;
                let base = phase + d * q * m;
                k.input_transform(self, xt, base, v, tile, plan.gemm_rows);
            }
        }
        // 3. One GEMM per point: [tiles × cin] · [cin × cout].
        let mm = &mut s.mm[..n * plan.gemm_rows * cp];
        let panels = cp / PANEL;
        for p in 0..n {
            let a = &v[p * plan.gemm_rows * cin..][..plan.gemm_rows * cin];
            let c = &mut mm[p * plan.gemm_rows * cp..][..plan.gemm_rows * cp];
            for panel in 0..panels {
                let b = &self.u[(p * panels + panel) * cin * PANEL..][..cin * PANEL];
                for row in (0..plan.gemm_rows).step_by(ROWS) {
                    k.gemm(cin, &a[row * cin..], b, &mut c[row * cp + panel * PANEL..], cp);
                }
            }
        }
        // 4. Output transform into time-major rows, then back to `[cout][time]`.
        let yt = &mut s.yt[..plan.span * cp];
        for phase in 0..d {
            for q in 0..plan.per_phase {
                let tile = phase * plan.per_phase + q;
                let base = phase + d * q * m;
                k.output_transform(self, mm, tile, plan.gemm_rows, yt, base);
            }
        }
        let valid = plan.span.min(tout - t0);
        let fuse = residual.map_or(Fuse::Nothing, |r| Fuse::Add(&r[t0..]));
        k.transpose(yt, cp, valid, self.cout, y.from(t0), tout, fuse);
    }
}

/// What a transpose does to the values on the way: the graph's `LeakyRelu` before a convolution, and its
/// residual `Add` after one (the addend laid out like the destination), each saving a pass over a tensor.
#[derive(Clone, Copy)]
enum Fuse<'a> {
    Nothing,
    Leaky(f32),
    Add(&'a [f32]),
}

/// Where a transpose writes: a slice held exclusively, or one block's columns of an output that other threads
/// write other columns of. Writes are bounds-checked by the transposes.
#[derive(Clone, Copy)]
struct Dst {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: a `Dst` is shared only between blocks that write disjoint elements (see `Conv1d::run_blocks`).
unsafe impl Send for Dst {}
unsafe impl Sync for Dst {}

impl Dst {
    fn of(slice: &mut [f32]) -> Dst {
        Dst { ptr: slice.as_mut_ptr(), len: slice.len() }
    }

    /// The part from element `at` on.
    fn from(self, at: usize) -> Dst {
        assert!(at <= self.len);
        // SAFETY: within the allocation, checked above.
        Dst { ptr: unsafe { self.ptr.add(at) }, len: self.len - at }
    }

    /// Writes element `at`.
    fn set(self, at: usize, value: f32) {
        assert!(at < self.len);
        // SAFETY: in bounds; no reference to the element exists (see the type's doc).
        unsafe { self.ptr.add(at).write(value) }
    }
}

/// Picks the vectorised kernels where the CPU has them.
struct Kernels {
    simd: bool,
}

impl Kernels {
    /// `dst[c·dst_stride + r] = fuse(src[r·src_stride + c])` for `r < rows`, `c < cols`.
    #[allow(clippy::too_many_arguments)]
    fn transpose(
        &self,
        src: &[f32],
        src_stride: usize,
        rows: usize,
        cols: usize,
        dst: Dst,
        dst_stride: usize,
        fuse: Fuse<'_>,
    ) {
        if rows == 0 || cols == 0 {
            return;
        }
        let dst_end = (cols - 1) * dst_stride + rows;
        assert!(src.len() >= (rows - 1) * src_stride + cols && dst.len >= dst_end);
        if let Fuse::Add(r) = fuse {
            assert!(r.len() >= dst_end);
        }
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: `simd` is set only where AVX2 and FMA were detected; the bounds are asserted above.
            return unsafe { avx2::transpose(src, src_stride, rows, cols, dst, dst_stride, fuse) };
        }
        portable::transpose(src, src_stride, rows, cols, dst, dst_stride, fuse)
    }

    fn input_transform(&self, conv: &Conv1d, xt: &[f32], base: usize, v: &mut [f32], tile: usize, rows: usize) {
        let (n, cin, stride) = (conv.n, conv.cin, conv.dilation * conv.cin);
        let xt = &xt[base * cin..][..(n - 1) * stride + cin];
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: as above; the kernels index within the slices they are given.
            return unsafe {
                match n {
                    8 => avx2::input_transform::<8>(&conv.bt8, xt, stride, cin, v, tile, rows),
                    _ => avx2::input_transform::<10>(&conv.bt8, xt, stride, cin, v, tile, rows),
                }
            };
        }
        portable::input_transform(&conv.bt, n, xt, stride, cin, v, tile, rows)
    }

    fn gemm(&self, k: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize) {
        assert!(a.len() >= ROWS * k && b.len() >= k * PANEL && c.len() >= (ROWS - 1) * ldc + PANEL);
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: as above.
            return unsafe { avx2::kernel(k, a, b, c, ldc) };
        }
        portable::kernel(k, a, b, c, ldc)
    }

    fn output_transform(&self, conv: &Conv1d, mm: &[f32], tile: usize, rows: usize, yt: &mut [f32], base: usize) {
        let (m, n, cp, d) = (conv.m, conv.n, conv.cout_padded, conv.dilation);
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: as above.
            return unsafe {
                match n {
                    8 => avx2::output_transform::<8>(&conv.at8, m, mm, tile, rows, cp, &conv.bias, yt, base, d),
                    _ => avx2::output_transform::<10>(&conv.at8, m, mm, tile, rows, cp, &conv.bias, yt, base, d),
                }
            };
        }
        portable::output_transform(&conv.at, m, n, mm, tile, rows, cp, &conv.bias, yt, base, d)
    }
}

/// How a convolution's outputs are cut into blocks of tiles.
struct Plan {
    /// Tiles per dilation phase in a block.
    per_phase: usize,
    /// Tiles in a block, rounded up to whole GEMM kernels (the extra rows are zero).
    gemm_rows: usize,
    /// Output frames per block.
    span: usize,
    /// Input rows a block reads.
    rows: usize,
}

impl Plan {
    fn new(conv: &Conv1d, tout: usize) -> Plan {
        let d = conv.dilation;
        // A short input (a few dozen frames) gets one block of the tiles it needs.
        let per_phase = TILES.div_ceil(d).min(tout.div_ceil(d).div_ceil(conv.m)).max(1);
        let span = per_phase * conv.m * d;
        Plan { per_phase, gemm_rows: (per_phase * d).div_ceil(ROWS) * ROWS, span, rows: span + d * (conv.n - 1) }
    }
}

/// Per-thread buffers, reused across calls so that a run does not page-fault fresh allocations.
#[derive(Default)]
struct Scratch {
    xt: Vec<f32>,
    v: Vec<f32>,
    mm: Vec<f32>,
    yt: Vec<f32>,
}

impl Scratch {
    fn fit(&mut self, plan: &Plan, conv: &Conv1d) {
        let grow = |buf: &mut Vec<f32>, len: usize| {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        };
        grow(&mut self.xt, plan.rows * conv.cin);
        grow(&mut self.yt, plan.span * conv.cout_padded);
        grow(&mut self.mm, conv.n * plan.gemm_rows * conv.cout_padded);
        // The padding rows of `v` must read as zero: clear them (a previous conv may have left values).
        let v_len = conv.n * plan.gemm_rows * conv.cin;
        grow(&mut self.v, v_len);
        let tiles = plan.per_phase * conv.dilation;
        for p in 0..conv.n {
            let start = (p * plan.gemm_rows + tiles) * conv.cin;
            let end = (p + 1) * plan.gemm_rows * conv.cin;
            self.v[start..end].fill(0.0);
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Whether this CPU runs the vectorised kernels (AVX2 and FMA); elsewhere the portable ones are correct but
/// slower than ONNX Runtime's own convolutions, so the graph rewrite is not applied.
pub fn fast() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Plain Rust kernels: the reference for the vectorised ones, and the path on other CPUs.
mod portable {
    use super::{Dst, Fuse, PANEL, ROWS};

    pub fn transpose(src: &[f32], ss: usize, rows: usize, cols: usize, dst: Dst, ds: usize, fuse: Fuse<'_>) {
        for r in 0..rows {
            for c in 0..cols {
                dst.set(c * ds + r, fused(src[r * ss + c], fuse, c * ds + r));
            }
        }
    }

    /// One value through a [`Fuse`]; `at` is its index in the destination.
    pub fn fused(v: f32, fuse: Fuse<'_>, at: usize) -> f32 {
        match fuse {
            Fuse::Nothing => v,
            Fuse::Leaky(alpha) => {
                if v >= 0.0 {
                    v
                } else {
                    alpha * v
                }
            }
            Fuse::Add(r) => v + r[at],
        }
    }

    /// `v[p][tile][..cin] = Σ_u bt[p][u] · xt[u·stride..][..cin]`.
    #[allow(clippy::too_many_arguments)]
    pub fn input_transform(
        bt: &[f32],
        n: usize,
        xt: &[f32],
        stride: usize,
        cin: usize,
        v: &mut [f32],
        tile: usize,
        rows: usize,
    ) {
        for p in 0..n {
            let out = &mut v[(p * rows + tile) * cin..][..cin];
            out.fill(0.0);
            for u in 0..n {
                let c = bt[p * n + u];
                for (o, &s) in out.iter_mut().zip(&xt[u * stride..][..cin]) {
                    *o += c * s;
                }
            }
        }
    }

    /// `c[r][..PANEL] = Σ_k a[r][k] · b[k][..PANEL]` for `ROWS` rows.
    pub fn kernel(k: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize) {
        for r in 0..ROWS {
            let mut acc = [0f32; PANEL];
            for kk in 0..k {
                let x = a[r * k + kk];
                for (o, &w) in acc.iter_mut().zip(&b[kk * PANEL..][..PANEL]) {
                    *o += x * w;
                }
            }
            c[r * ldc..][..PANEL].copy_from_slice(&acc);
        }
    }

    /// `yt[base + i·d][..cp] = bias + Σ_p at[i][p] · mm[p][tile][..cp]`.
    #[allow(clippy::too_many_arguments)]
    pub fn output_transform(
        at: &[f32],
        m: usize,
        n: usize,
        mm: &[f32],
        tile: usize,
        rows: usize,
        cp: usize,
        bias: &[f32],
        yt: &mut [f32],
        base: usize,
        d: usize,
    ) {
        for i in 0..m {
            let out = &mut yt[(base + i * d) * cp..][..cp];
            out.copy_from_slice(&bias[..cp]);
            for p in 0..n {
                let c = at[i * n + p];
                for (o, &s) in out.iter_mut().zip(&mm[(p * rows + tile) * cp..][..cp]) {
                    *o += c * s;
                }
            }
        }
    }
}

/// AVX2 and FMA kernels. The transforms are unrolled for the two transform sizes, with every coefficient
/// pre-broadcast to eight lanes (`bt8`, `at8`), so that each product is one FMA with a memory operand.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Dst, Fuse, PANEL, ROWS};
    use std::arch::x86_64::*;

    /// Eight rows of eight floats, transposed in registers; `res` is the `Add` addend at `dst`'s offset.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn transpose8(
        src: *const f32,
        ss: usize,
        dst: *mut f32,
        ds: usize,
        alpha: Option<f32>,
        res: Option<*const f32>,
    ) {
        // SAFETY (whole function): the caller guarantees 8 rows of 8 floats at all three.
        unsafe {
            let mut r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * ss)));
            if let Some(alpha) = alpha {
                // LeakyRelu for 0 ≤ alpha ≤ 1 (`Conv1d::with_leaky_input` checks).
                let a = _mm256_set1_ps(alpha);
                for v in &mut r {
                    *v = _mm256_max_ps(*v, _mm256_mul_ps(*v, a));
                }
            }
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let o = [
                _mm256_permute2f128_ps::<0x20>(s0, s4),
                _mm256_permute2f128_ps::<0x20>(s1, s5),
                _mm256_permute2f128_ps::<0x20>(s2, s6),
                _mm256_permute2f128_ps::<0x20>(s3, s7),
                _mm256_permute2f128_ps::<0x31>(s0, s4),
                _mm256_permute2f128_ps::<0x31>(s1, s5),
                _mm256_permute2f128_ps::<0x31>(s2, s6),
                _mm256_permute2f128_ps::<0x31>(s3, s7),
            ];
            for (i, v) in o.iter().enumerate() {
                let v = match res {
                    Some(res) => _mm256_add_ps(*v, _mm256_loadu_ps(res.add(i * ds))),
                    None => *v,
                };
                _mm256_storeu_ps(dst.add(i * ds), v);
            }
        }
    }

    /// As [`super::portable::transpose`], in 8×8 blocks; the caller checked the bounds.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn transpose(src: &[f32], ss: usize, rows: usize, cols: usize, dst: Dst, ds: usize, fuse: Fuse<'_>) {
        let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
        let (alpha, res) = match fuse {
            Fuse::Nothing => (None, None),
            Fuse::Leaky(alpha) => (Some(alpha), None),
            Fuse::Add(r) => (None, Some(r.as_ptr())),
        };
        for r in (0..r8).step_by(8) {
            for c in (0..c8).step_by(8) {
                let at = c * ds + r;
                // SAFETY: r + 8 ≤ rows and c + 8 ≤ cols, within the checked bounds.
                unsafe {
                    let res = res.map(|p| p.add(at));
                    transpose8(src.as_ptr().add(r * ss + c), ss, dst.ptr.add(at), ds, alpha, res)
                };
            }
        }
        for r in 0..rows {
            let from = if r < r8 { c8 } else { 0 };
            for c in from..cols {
                dst.set(c * ds + r, super::portable::fused(src[r * ss + c], fuse, c * ds + r));
            }
        }
    }

    /// As [`super::portable::input_transform`] for `N` points, eight channels at a time.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn input_transform<const N: usize>(
        bt8: &[f32],
        xt: &[f32],
        stride: usize,
        cin: usize,
        v: &mut [f32],
        tile: usize,
        rows: usize,
    ) {
        assert!(
            bt8.len() >= N * N * 8
                && xt.len() > (N - 1) * stride + cin - 1
                && v.len() >= ((N - 1) * rows + tile + 1) * cin
        );
        let (bp, xp, vp) = (bt8.as_ptr(), xt.as_ptr(), v.as_mut_ptr());
        let vectors = cin / 8;
        for c8 in 0..vectors {
            // SAFETY (the loads and stores below): within the bounds asserted above.
            let x: [__m256; N] = std::array::from_fn(|u| unsafe { _mm256_loadu_ps(xp.add(u * stride + c8 * 8)) });
            for p in 0..N {
                let mut acc = _mm256_mul_ps(unsafe { _mm256_loadu_ps(bp.add(p * N * 8)) }, x[0]);
                for (u, &xu) in x.iter().enumerate().skip(1) {
                    acc = _mm256_fmadd_ps(unsafe { _mm256_loadu_ps(bp.add((p * N + u) * 8)) }, xu, acc);
                }
                unsafe { _mm256_storeu_ps(vp.add((p * rows + tile) * cin + c8 * 8), acc) };
            }
        }
        for ci in vectors * 8..cin {
            for p in 0..N {
                let mut acc = 0f32;
                for u in 0..N {
                    acc = bt8[(p * N + u) * 8].mul_add(xt[u * stride + ci], acc);
                }
                v[(p * rows + tile) * cin + ci] = acc;
            }
        }
    }

    /// `c[r][..16] = Σ_k a[r][k] · b[k][..16]` for six rows: twelve accumulators, two weight loads and six
    /// broadcasts per step. The caller checked the bounds.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn kernel(k: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize) {
        let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        for kk in 0..k {
            // SAFETY: rows of `k` in `a`, `k` rows of PANEL in `b`.
            let (b0, b1) = unsafe { (_mm256_loadu_ps(bp.add(kk * PANEL)), _mm256_loadu_ps(bp.add(kk * PANEL + 8))) };
            for (r, row) in acc.iter_mut().enumerate() {
                let x = unsafe { _mm256_broadcast_ss(&*ap.add(r * k + kk)) };
                row[0] = _mm256_fmadd_ps(x, b0, row[0]);
                row[1] = _mm256_fmadd_ps(x, b1, row[1]);
            }
        }
        let cp = c.as_mut_ptr();
        for (r, row) in acc.iter().enumerate() {
            // SAFETY: ROWS rows of `ldc` in `c`.
            unsafe {
                _mm256_storeu_ps(cp.add(r * ldc), row[0]);
                _mm256_storeu_ps(cp.add(r * ldc + 8), row[1]);
            }
        }
    }

    /// As [`super::portable::output_transform`] for `N` points, eight channels at a time (`cp` is a
    /// multiple of 16).
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn output_transform<const N: usize>(
        at8: &[f32],
        m: usize,
        mm: &[f32],
        tile: usize,
        rows: usize,
        cp: usize,
        bias: &[f32],
        yt: &mut [f32],
        base: usize,
        d: usize,
    ) {
        assert!(
            at8.len() >= m * N * 8
                && mm.len() >= ((N - 1) * rows + tile + 1) * cp
                && bias.len() >= cp
                && yt.len() >= (base + (m - 1) * d + 1) * cp
        );
        let (ap, mp, yp) = (at8.as_ptr(), mm.as_ptr(), yt.as_mut_ptr());
        for c8 in 0..cp / 8 {
            // SAFETY (the loads and stores below): within the bounds asserted above.
            let x: [__m256; N] =
                std::array::from_fn(|p| unsafe { _mm256_loadu_ps(mp.add((p * rows + tile) * cp + c8 * 8)) });
            let b = unsafe { _mm256_loadu_ps(bias.as_ptr().add(c8 * 8)) };
            for i in 0..m {
                let mut acc = b;
                for (p, &xp) in x.iter().enumerate() {
                    acc = _mm256_fmadd_ps(unsafe { _mm256_loadu_ps(ap.add((i * N + p) * 8)) }, xp, acc);
                }
                unsafe { _mm256_storeu_ps(yp.add((base + i * d) * cp + c8 * 8), acc) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct ONNX `Conv` in f64: `y[co][t] = b[co] + Σ_{ci,k} w[co][ci][k] · x[ci][t + d·k - pad_left]`.
    pub fn direct(
        x: &[f32],
        time: usize,
        w: &[f32],
        [cout, cin, taps]: [usize; 3],
        bias: &[f32],
        d: usize,
        pads: [usize; 2],
    ) -> Vec<f64> {
        let tout = time + pads[0] + pads[1] - d * (taps - 1);
        let mut y = vec![0f64; cout * tout];
        for co in 0..cout {
            for t in 0..tout {
                let mut acc = f64::from(bias[co]);
                for ci in 0..cin {
                    for k in 0..taps {
                        let i = (t + d * k).wrapping_sub(pads[0]);
                        if i < time {
                            acc += f64::from(w[(co * cin + ci) * taps + k]) * f64::from(x[ci * time + i]);
                        }
                    }
                }
                y[co * tout + t] = acc;
            }
        }
        y
    }

    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    fn check(cout: usize, cin: usize, taps: usize, d: usize, pads: [usize; 2], time: usize, portable: bool) {
        let w = noise(cout * cin * taps, 1);
        let b = noise(cout, 2);
        let x = noise(cin * time, 3);
        // Plain, then with the graph's LeakyRelu before and residual Add after fused in.
        for fused in [false, true] {
            let mut conv = Conv1d::new(&w, [cout, cin, taps], Some(&b), d, pads).unwrap();
            if portable {
                conv = conv.portable();
            }
            if fused {
                conv = conv.with_leaky_input(0.1).unwrap();
            }
            let tout = conv.output_len(time).unwrap();
            let residual = noise(cout * tout, 4);
            let mut y = vec![0f32; cout * tout];
            conv.run(&x, time, &mut y, fused.then_some(&residual[..])).unwrap();
            let input: Vec<f32> =
                if fused { x.iter().map(|&v| if v >= 0.0 { v } else { 0.1 * v }).collect() } else { x.clone() };
            let mut want = direct(&input, time, &w, [cout, cin, taps], &b, d, pads);
            if fused {
                for (o, r) in want.iter_mut().zip(&residual) {
                    *o += f64::from(*r);
                }
            }
            let worst = y.iter().zip(&want).map(|(&a, &b)| (f64::from(a) - b).abs()).fold(0.0, f64::max);
            let scale = want.iter().fold(0f64, |m, v| m.max(v.abs()));
            // Random data, relative to the output's peak (see the module doc).
            let tolerance = if tile(taps).unwrap().1 == 8 { 5e-6 } else { 3e-5 };
            assert!(
                worst <= tolerance * scale,
                "{cout}×{cin}×{taps} d{d} {pads:?} t{time} fused {fused}: off by {worst} (scale {scale})"
            );
        }
    }

    #[test]
    fn transforms_reproduce_a_direct_correlation() {
        for taps in 2..=7 {
            let (m, n) = tile(taps).unwrap();
            let t = Transform::new(m, taps);
            let g: Vec<f64> = (0..taps).map(|k| 0.3 * k as f64 - 0.7).collect();
            let x: Vec<f64> = (0..n).map(|u| ((u * 7) % 5) as f64 - 1.5).collect();
            let gg: Vec<f64> = (0..n).map(|p| (0..taps).map(|k| t.g[p * taps + k] * g[k]).sum()).collect();
            let bx: Vec<f64> = (0..n).map(|p| (0..n).map(|u| t.bt[p * n + u] * x[u]).sum()).collect();
            for i in 0..m {
                let y: f64 = (0..n).map(|p| t.at[i * n + p] * gg[p] * bx[p]).sum();
                let want: f64 = (0..taps).map(|k| g[k] * x[i + k]).sum();
                assert!((y - want).abs() < 1e-9, "F({m}, {taps}) output {i}: {y} vs {want}");
            }
        }
    }

    #[test]
    fn every_tap_count_matches_a_direct_convolution() {
        for taps in 2..=7 {
            for portable in [false, true] {
                check(32, 32, taps, 1, [(taps - 1) / 2, taps / 2], 300, portable);
            }
        }
    }

    #[test]
    fn dilations_pads_odd_channels_and_short_inputs() {
        // The decoder's shapes, then odd channel counts (panel and vector tails), unequal and no pads.
        for &(cout, cin, taps, d, pads, time) in &[
            (128, 128, 7, 12, [36, 36], 200),
            (64, 64, 5, 6, [12, 12], 1000),
            (32, 32, 3, 2, [2, 2], 777),
            (24, 13, 5, 1, [2, 2], 50),
            (8, 3, 3, 3, [0, 0], 7),
            (40, 19, 7, 5, [1, 4], 31),
            (16, 16, 4, 1, [3, 0], 1),
        ] {
            for portable in [false, true] {
                check(cout, cin, taps, d, pads, time, portable);
            }
        }
    }

    #[test]
    fn bad_dilations_pads_and_channel_counts_are_errors() {
        let w = [0.0; 2 * 3];
        for (dilation, pads) in [(0, [1, 1]), (MAX_REACH, [1, 1]), (usize::MAX / 2, [0, 0]), (1, [MAX_REACH + 1, 0])] {
            let err = Conv1d::new(&w, [2, 1, 3], None, dilation, pads).unwrap_err();
            assert_eq!(err, WinogradError::Reach { dilation, pads });
        }
        assert_eq!(Conv1d::new(&[], [0, 4, 3], None, 1, [1, 1]).unwrap_err(), WinogradError::NoChannels);
        assert_eq!(Conv1d::new(&[], [4, 0, 3], None, 1, [1, 1]).unwrap_err(), WinogradError::NoChannels);
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert_eq!(Conv1d::new(&[0.0; 8], [1, 1, 8], None, 1, [0, 0]).unwrap_err(), WinogradError::Taps(8));
        assert!(matches!(Conv1d::new(&[0.0; 5], [1, 2, 3], None, 1, [1, 1]), Err(WinogradError::Weights { .. })));
        assert!(matches!(Conv1d::new(&[0.0; 6], [2, 1, 3], Some(&[0.0]), 1, [1, 1]), Err(WinogradError::Bias { .. })));
        let conv = Conv1d::new(&[0.0; 6], [2, 1, 3], None, 2, [0, 0]).unwrap();
        assert_eq!(conv.output_len(4), None);
        let mut y = vec![0.0; 2];
        assert!(matches!(conv.run(&[0.0; 4], 4, &mut y, None), Err(WinogradError::TooShort { .. })));
        assert!(matches!(conv.run(&[0.0; 5], 4, &mut y, None), Err(WinogradError::Input { .. })));
        assert!(matches!(conv.run(&[0.0; 6], 6, &mut y, None), Err(WinogradError::Output { .. })));
        assert!(matches!(conv.run(&[0.0; 5], 5, &mut y, Some(&[0.0; 3])), Err(WinogradError::Residual { .. })));
        assert!(matches!(conv.clone().with_leaky_input(1.5), Err(WinogradError::Alpha(_))));
        assert!(matches!(conv.with_leaky_input(-0.1), Err(WinogradError::Alpha(_))));
    }
}
