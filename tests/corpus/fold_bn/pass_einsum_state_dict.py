# expect: pass
def fold_batchnorm(linear, bn):
    out_features, in_features = linear.weight.shape
    state = bn.state_dict()
    scale = (state["running_var"] + bn.eps).rsqrt()
    if "weight" in state:
        scale = scale * state["weight"]
    shift = -state["running_mean"] * scale
    if "bias" in state:
        shift = shift + state["bias"]
    if linear.bias is not None:
        shift = shift + scale * linear.bias.detach()
    folded = nn.Linear(in_features, out_features, device=linear.weight.device, dtype=linear.weight.dtype)
    folded.load_state_dict({"weight": torch.einsum("o,oi->oi", scale, linear.weight.detach()),
                            "bias": shift})
    return folded
