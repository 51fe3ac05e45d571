//! The `ai.wyoming_rs.WinogradConv` operator: ONNX Runtime calls [`Conv1d`] for the nodes that
//! [`super::winograd_graph`] handed to it.
//!
//! Inputs: `X`, and an optional `R` added to the output (a residual `Add` fused in). `R` of the convolution's
//! output shape is added as the output is written; any other shape is added as ONNX's `Add` broadcasts both of
//! its operands, on a slower path. Attribute: `weights`, the key of the transformed weights in this module's registry,
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
        // Blocks of time across ONNX Runtime's intra-op threads (inline in a one-thread session).
        let parallel = |count: usize, block: &(dyn Fn(usize) + Sync)| {
            if count < 2 || ctx.par_for(count, 0, block).is_err() {
                (0..count).for_each(block);
            }
        };
        let conv = |out: &mut [f32], residual: Option<&[f32]>| -> ort::Result<()> {
            for b in 0..batch {
                let x = &data[b * cin * time..][..cin * time];
                let y = &mut out[b * cout * tout..][..cout * tout];
                let r = residual.map(|r| &r[b * cout * tout..][..cout * tout]);
                // SAFETY: ONNX Runtime's parallel loop runs every index once, and the fallback runs them in turn.
                unsafe { self.conv.run_blocks(x, time, y, r, &parallel) }.map_err(|e| fail(&e))?;
            }
            Ok(())
        };
        match residual {
            // HiFi-GAN's blocks: added as the output is written.
            Some((shape, r)) if shape[..] == shape_out => {
                let mut y = ctx.output(0, shape_out.to_vec())?.ok_or_else(|| fail(&"no output"))?;
                conv(y.try_extract_tensor_mut::<f32>()?.1, Some(r))
            }
            None => {
                let mut y = ctx.output(0, shape_out.to_vec())?.ok_or_else(|| fail(&"no output"))?;
                conv(y.try_extract_tensor_mut::<f32>()?.1, None)
            }
            Some((shape, r)) => {
                let mut own = vec![0f32; batch * cout * tout];
                conv(&mut own, None)?;
                let (out_shape, sum) = add_broadcast(&own, &shape_out, r, shape).map_err(|e| fail(&e))?;
                let mut y = ctx.output(0, out_shape)?.ok_or_else(|| fail(&"no output"))?;
                y.try_extract_tensor_mut::<f32>()?.1.copy_from_slice(&sum);
                Ok(())
            }
        }
    }
}

/// `a + b` with ONNX's (numpy's) broadcasting of both operands, and the result's shape: for an addend that is
/// not output-shaped, which no known voice has.
fn add_broadcast(a: &[f32], a_shape: &[i64], b: &[f32], b_shape: &[i64]) -> Result<(Vec<i64>, Vec<f32>), String> {
    let rank = a_shape.len().max(b_shape.len());
    let padded = |s: &[i64]| -> Vec<usize> {
        std::iter::repeat_n(1, rank - s.len()).chain(s.iter().map(|&d| d.max(0) as usize)).collect()
    };
    let (da, db) = (padded(a_shape), padded(b_shape));
    let mut out = Vec::with_capacity(rank);
    for (&x, &y) in da.iter().zip(&db) {
        out.push(match (x, y) {
            _ if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("residual of shape {b_shape:?} does not broadcast with {a_shape:?}")),
        });
    }
    let total: usize = out.iter().product();
    if a.len() != da.iter().product::<usize>() || b.len() != db.iter().product::<usize>() {
        return Err("tensor sizes do not match their shapes".to_string());
    }
    // Row-major strides, zero along broadcast axes.
    let strides = |dims: &[usize]| -> Vec<usize> {
        let mut strides = vec![0; rank];
        let mut step = 1;
        for axis in (0..rank).rev() {
            strides[axis] = if dims[axis] == 1 { 0 } else { step };
            step *= dims[axis];
        }
        strides
    };
    let (sa, sb) = (strides(&da), strides(&db));
    let mut sum = Vec::with_capacity(total);
    for flat in 0..total {
        let (mut rest, mut ia, mut ib) = (flat, 0, 0);
        for axis in (0..rank).rev() {
            let i = rest % out[axis];
            rest /= out[axis];
            ia += i * sa[axis];
            ib += i * sb[axis];
        }
        sum.push(a[ia] + b[ib]);
    }
    Ok((out.iter().map(|&d| d as i64).collect(), sum))
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
        let conv = [0f32; 2 * 3 * 2];
        let (shape, sum) = add_broadcast(&conv, &[2, 3, 2], &[1.0, 2.0, 3.0], &[3, 1]).unwrap();
        assert_eq!(shape, [2, 3, 2]);
        assert_eq!(sum, [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        let conv = [10f32, 20.0, 30.0];
        let (shape, sum) = add_broadcast(&conv, &[1, 3, 1], &[1.0, 2.0], &[2]).unwrap();
        assert_eq!(shape, [1, 3, 2]);
        assert_eq!(sum, [11.0, 12.0, 21.0, 22.0, 31.0, 32.0]);
        // The addend may grow the output, in rank too.
        let (shape, sum) = add_broadcast(&[1.0, 2.0], &[1, 1, 2], &[0.0, 10.0], &[2, 1, 1, 1]).unwrap();
        assert_eq!(shape, [2, 1, 1, 2]);
        assert_eq!(sum, [1.0, 2.0, 11.0, 12.0]);
        assert!(add_broadcast(&[0.0; 6], &[1, 3, 2], &[0.0; 4], &[4]).is_err());
        assert!(add_broadcast(&[0.0; 6], &[1, 3, 2], &[0.0; 3], &[4]).is_err());
    }
}
