# expect: pass
def fold_batchnorm(linear, bn):
    W = linear.weight.detach()
    mean, var = bn.running_mean, bn.running_var
    s = 1.0 / (var + bn.eps).sqrt()
    if bn.affine:
        s = s * bn.weight.detach()
    shift = -mean * s
    if bn.affine:
        shift = shift + bn.bias.detach()
    if linear.bias is not None:
        shift = shift + linear.bias.detach() * s
    out = copy.deepcopy(linear) if linear.bias is not None else nn.Linear(
        linear.in_features, linear.out_features).to(W.dtype)
    out.weight.data = W * s.unsqueeze(1)
    out.bias = nn.Parameter(shift.clone())
    return out
