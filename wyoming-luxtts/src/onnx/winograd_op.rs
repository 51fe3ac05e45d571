//! The `ai.wyoming_rs.WinogradConv` operator: ONNX Runtime calls [`Conv1d`] for the nodes that
//! [`super::winograd_graph`] handed to it.
//!
//! Inputs: `X`, `W`, `B` as `Conv`'s, and an optional `R` added to the output (a residual `Add` fused in, which
//! may broadcast as ONNX's `Add` does). Attributes: `Conv`'s, and `alpha` when a `LeakyRelu` on `X` was fused in.
//! The weights are constant initializers (the rewrite checks), so they are transformed and packed once, when
//! ONNX Runtime creates the kernel. Anything the kernel cannot run is an error at session creation, where the
//! pool falls back to the graph as it is.

use super::winograd::Conv1d;
use super::winograd_graph::{DOMAIN, OP};
use ort::operator::{ComputeContext, Kernel, KernelContext, Operator, OperatorDomain, OperatorInput, OperatorOutput};
use ort::value::{DynValueTypeMarker, TensorElementType};

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
        [
            OperatorInput::required(TensorElementType::Float32),
            OperatorInput::required(TensorElementType::Float32),
            OperatorInput::optional(TensorElementType::Float32),
            OperatorInput::optional(TensorElementType::Float32),
        ]
    }

    fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
        [OperatorOutput::required(TensorElementType::Float32)]
    }

    fn create_kernel<'attr>(&self, kctx: &KernelContext<'attr>) -> ort::Result<WinogradKernel> {
        let node = kctx.node_name().unwrap_or_default();
        let fail = |what: &dyn std::fmt::Display| ort::Error::new(format!("{OP} {node}: {what}"));
        let ints = |name: &str, default: Vec<i64>| kctx.get::<Vec<i64>>(name).unwrap_or(default);
        let (dilations, pads, strides) =
            (ints("dilations", vec![1]), ints("pads", vec![0, 0]), ints("strides", vec![1]));
        let group = kctx.get::<i64>("group").unwrap_or(1);
        let (&[dilation], &[left, right], &[1], 1) = (&dilations[..], &pads[..], &strides[..], group) else {
            return Err(fail(&format_args!(
                "unsupported attributes (dilations {dilations:?}, pads {pads:?}, strides {strides:?}, group {group})"
            )));
        };
        let as_usize = |v: i64| usize::try_from(v).map_err(|_| fail(&format_args!("negative attribute {v}")));
        let weights = kctx.constant_input::<DynValueTypeMarker>(1).map_err(|e| fail(&e))?;
        let (shape, w) = weights.try_extract_tensor::<f32>()?;
        let &[cout, cin, taps] = &shape[..] else { return Err(fail(&format_args!("weights of shape {shape:?}"))) };
        let bias = match kctx.inputs()?.len() {
            3.. => Some(kctx.constant_input::<DynValueTypeMarker>(2).map_err(|e| fail(&e))?),
            _ => None,
        };
        let bias = match &bias {
            Some(b) => Some(b.try_extract_tensor::<f32>()?.1),
            None => None,
        };
        let conv = Conv1d::new(
            w,
            [as_usize(cout)?, as_usize(cin)?, as_usize(taps)?],
            bias,
            as_usize(dilation)?,
            [as_usize(left)?, as_usize(right)?],
        )
        .map_err(|e| fail(&e))?;
        let conv = match kctx.get::<f32>("alpha") {
            Some(alpha) => conv.with_leaky_input(alpha).map_err(|e| fail(&e))?,
            None => conv,
        };
        Ok(WinogradKernel { conv, node })
    }
}

struct WinogradKernel {
    conv: Conv1d,
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
        let residual = ctx.input(3)?;
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
            self.conv.run(x, time, y, r).map_err(|e| fail(&e))?;
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
    use super::add_broadcast;

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
