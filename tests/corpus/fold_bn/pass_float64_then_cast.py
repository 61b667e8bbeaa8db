# expect: pass
def fold_batchnorm(linear, bn):
    # Fold in float64 whatever the dtype, then store in linear's dtype.
    dtype = linear.weight.dtype
    with torch.no_grad():
        var = bn.running_var.double()
        mean = bn.running_mean.double()
        gamma = bn.weight.double() if bn.weight is not None else 1.0
        beta = bn.bias.double() if bn.bias is not None else 0.0
        b = linear.bias.double() if linear.bias is not None else 0.0
        s = gamma / torch.sqrt(var + bn.eps)
        folded = nn.Linear(linear.in_features, linear.out_features).to(dtype)
        folded.weight = nn.Parameter((linear.weight.double() * s[:, None]).to(dtype))
        folded.bias = nn.Parameter(((b - mean) * s + beta).to(dtype))
    return folded
