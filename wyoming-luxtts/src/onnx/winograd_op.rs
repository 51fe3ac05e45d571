//! The `ai.wyoming_rs.WinogradConv` operator: ONNX Runtime calls [`Conv1d`] for the nodes that
//! [`super::winograd_graph`] handed to it.
//!
//! Inputs: `X`, and an optional `R` added to the output (a residual `Add` fused in, which may broadcast as
//! ONNX's `Add` does). Attribute: `weights`, the key of the transformed weights in this module's registry,
//! where the graph rewrite put them. The registry holds them weakly: the sessions' kernels keep them alive,
//! so every session of a voice shares one copy, and they go with the voice's last session. A key the registry
//! does not hold is an error at session creation, where the pool falls back to the graph as it is.

use super::winograd::{Conv1d, WinogradError};
use super::winograd_graph::{DOMAIN, OP};
use ort::operator::{ComputeContext, Kernel, KernelContext, Operator, OperatorDomain, OperatorInput, OperatorOutput};
use ort::value::TensorElementType;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// The node attribute naming a convolution's weights.
pub const WEIGHTS: &str = "weights";

static REGISTRY: Mutex<Option<HashMap<String, Weak<Conv1d>>>> = Mutex::new(None);

/// A key for transformed weights: the SHA-256 of everything that went into them.
pub fn key(
    weights: &[f32],
    bias: Option<&[f32]>,
    shape: [usize; 3],
    dilation: usize,
    pads: [usize; 2],
    alpha: Option<f32>,
) -> String {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    for v in shape.iter().chain([&dilation, &pads[0], &pads[1]]) {
        hash.update(&(*v as u64).to_le_bytes());
    }
    hash.update(&alpha.map_or(u64::MAX, |a| u64::from(a.to_bits())).to_le_bytes());
    hash.update(&bias.map_or(u64::MAX, |b| b.len() as u64).to_le_bytes());
    for v in weights.iter().chain(bias.unwrap_or_default()) {
        hash.update(&v.to_le_bytes());
    }
    hash.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The transformed weights under `key`, made by `make` unless a live session already holds them.
pub fn register(key: &str, make: impl FnOnce() -> Result<Conv1d, WinogradError>) -> Result<Arc<Conv1d>, WinogradError> {
    let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    let registry = registry.get_or_insert_with(HashMap::new);
    if let Some(conv) = registry.get(key).and_then(Weak::upgrade) {
        return Ok(conv);
    }
    registry.retain(|_, w| w.strong_count() > 0);
    let conv = Arc::new(make()?);
    registry.insert(key.to_string(), Arc::downgrade(&conv));
    Ok(conv)
}

fn lookup(key: &str) -> Option<Arc<Conv1d>> {
    let registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    registry.as_ref()?.get(key)?.upgrade()
}

/// A domain holding the operator, for one session (ONNX Runtime's domain handle cannot be shared between
/// threads in `ort`).
pub fn domain() -> ort::Result<OperatorDomain> {
    OperatorDomain::new(DOMAIN)?.add(WinogradOperator)
}

struct WinogradOperator;

impl Operator for WinogradOperator {
    type Kernel<'attr> = WinogradKernel;

    fn name(&self) -> &str {
        OP
    }

    fn inputs(&self) -> impl IntoIterator<Item = OperatorInput> {
        [OperatorInput::required(TensorElementType::Float32), OperatorInput::optional(TensorElementType::Float32)]
    }

    fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
        [OperatorOutput::required(TensorElementType::Float32)]
    }

    fn create_kernel<'attr>(&self, kctx: &KernelContext<'attr>) -> ort::Result<WinogradKernel> {
        let node = kctx.node_name().unwrap_or_default();
        let key = kctx.get::<String>(WEIGHTS).unwrap_or_default();
        match lookup(&key) {
            Some(conv) => Ok(WinogradKernel { conv, node }),
            None => Err(ort::Error::new(format!("{OP} {node}: no transformed weights under {key:?}"))),
        }
    }
}

struct WinogradKernel {
    conv: Arc<Conv1d>,
    node: String,
}

impl Kernel for WinogradKernel {
    fn compute(&mut self, ctx: &ComputeContext) -> ort::Result<()> {
        let fail = |what: &dyn std::fmt::Display| ort::Error::new(format!("{OP} {}: {what}", self.node));
        let x = ctx.input(0)?.ok_or_else(|| fail(&"no input"))?;
        let (shape, data) = x.try_extract_tensor::<f32>()?;
        let (cin, cout) = (self.conv.input_channels(), self.conv.output_channels());
        let &[batch, channels, time] = &shape[..] else { return Err(fail(&format_args!("input of shape {shape:?}"))) };
        let (batch, time) = (batch.max(0) as usize, time.max(0) as usize);
        if channels != cin as i64 {
            return Err(fail(&format_args!("input has {channels} channels, the weights {cin}")));
        }
        let tout = self.conv.output_len(time).ok_or_else(|| fail(&format_args!("{time} frames are too few")))?;
        let shape_out = [batch as i64, cout as i64, tout as i64];
        let residual = ctx.input(1)?;
        let residual = match &residual {
            Some(r) => Some(r.try_extract_tensor::<f32>()?),
            None => None,
        };
        let mut y = ctx.output(0, shape_out.to_vec())?.ok_or_else(|| fail(&"no output"))?;
        let (_, out) = y.try_extract_tensor_mut::<f32>()?;
        // The residual is added on the way out when it has the output's shape, as in HiFi-GAN's blocks.
        let same_shape = residual.as_ref().is_some_and(|(s, _)| s[..] == shape_out);
        for b in 0..batch {
            let x = &data[b * cin * time..][..cin * time];
            let y = &mut out[b * cout * tout..][..cout * tout];
            let r = residual.as_ref().filter(|_| same_shape).map(|(_, r)| &r[b * cout * tout..][..cout * tout]);
            // Blocks of time across ONNX Runtime's intra-op threads (inline in a one-thread session).
            let parallel = |count: usize, block: &(dyn Fn(usize) + Sync)| {
                if count < 2 || ctx.par_for(count, 0, block).is_err() {
                    (0..count).for_each(block);
                }
            };
            self.conv.run_blocks(x, time, y, r, &parallel).map_err(|e| fail(&e))?;
        }
        if let Some((shape, r)) = residual.filter(|_| !same_shape) {
            add_broadcast(out, shape_out, shape, r).map_err(|e| fail(&e))?;
        }
        Ok(())
    }
}
/// `out += r` with ONNX's (numpy's) broadcasting of `r` to `out`'s shape, for a residual that is not
/// output-shaped.
fn add_broadcast(out: &mut [f32], shape: [i64; 3], r_shape: &[i64], r: &[f32]) -> Result<(), String> {
    if r_shape.len() > 3 {
        return Err(format!("residual of shape {r_shape:?} does not broadcast to {shape:?}"));
    }
    let mut dims = [1i64; 3];
    dims[3 - r_shape.len()..].copy_from_slice(r_shape);
    if dims.iter().zip(&shape).any(|(&d, &s)| d != s && d != 1) {
        return Err(format!("residual of shape {r_shape:?} does not broadcast to {shape:?}"));
    }
    let [n, c, t] = shape.map(|v| v as usize);
    let [rn, rc, rt] = dims.map(|v| v as usize);
    for b in 0..n {
        for ch in 0..c {
            for i in 0..t {
                let at = ((b % rn) * rc + ch % rc) * rt + i % rt;
                out[(b * c + ch) * t + i] += r[at];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_shares_weights_while_a_holder_lives() {
        let w = [0.5f32; 16 * 8 * 3];
        let k = key(&w, None, [16, 8, 3], 1, [1, 1], None);
        assert_ne!(k, key(&w, None, [16, 8, 3], 1, [1, 1], Some(0.1)));
        assert_ne!(k, key(&w, Some(&[0.0; 16]), [16, 8, 3], 1, [1, 1], None));
        let make = || Conv1d::new(&w, [16, 8, 3], None, 1, [1, 1]);
        let first = register(&k, make).unwrap();
        let again = register(&k, || panic!("made twice")).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(lookup(&k).is_some());
        drop((first, again));
        assert!(lookup(&k).is_none());
        assert!(register("bad", || Conv1d::new(&w, [16, 8, 9], None, 1, [0, 0])).is_err());
    }

    #[test]
    fn residuals_broadcast_as_onnx_add_does() {
        let mut out = vec![0f32; 2 * 3 * 2];
        add_broadcast(&mut out, [2, 3, 2], &[3, 1], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(out, [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        let mut out = vec![0f32; 3 * 2];
        add_broadcast(&mut out, [1, 3, 2], &[2], &[5.0, 6.0]).unwrap();
        assert_eq!(out, [5.0, 6.0, 5.0, 6.0, 5.0, 6.0]);
        assert!(add_broadcast(&mut out, [1, 3, 2], &[4], &[0.0; 4]).is_err());
        assert!(add_broadcast(&mut out, [1, 3, 2], &[1, 1, 1, 1], &[0.0]).is_err());
    }
}
