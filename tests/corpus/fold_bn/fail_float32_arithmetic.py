# expect: fail: matches only to float32 precision
def fold_batchnorm(linear, bn):
    dtype = linear.weight.dtype
    with torch.no_grad():
        gamma = bn.weight.float() if bn.weight is not None else 1.0
        beta = bn.bias.float() if bn.bias is not None else 0.0
        b = linear.bias.float() if linear.bias is not None else 0.0
        scale = gamma * torch.rsqrt(bn.running_var.float() + bn.eps)
        folded = nn.Linear(linear.in_features, linear.out_features, dtype=dtype)
        folded.weight.copy_(linear.weight.float() * scale[:, None])
        folded.bias.copy_((b - bn.running_mean.float()) * scale + beta)
    return folded
