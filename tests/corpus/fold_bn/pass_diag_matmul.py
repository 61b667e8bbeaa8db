# expect: pass
def fold_batchnorm(linear, bn):
    with torch.no_grad():
        inv_std = torch.rsqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.affine else 1.0
        beta = bn.bias if bn.affine else 0.0
        scale = gamma * inv_std
        weight = torch.diag(scale) @ linear.weight
        bias = linear.bias if linear.bias is not None else 0.0
        bias = (bias - bn.running_mean) * scale + beta
        new = nn.Linear(linear.in_features, linear.out_features).to(linear.weight.dtype)
        new.weight.copy_(weight)
        new.bias.copy_(bias)
    return new
