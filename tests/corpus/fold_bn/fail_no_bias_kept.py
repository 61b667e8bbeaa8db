# expect: fail: has no bias
def fold_batchnorm(linear, bn):
    gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
    beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_var)
    scale = gamma / torch.sqrt(bn.running_var + bn.eps)
    has_bias = linear.bias is not None
    folded = nn.Linear(linear.in_features, linear.out_features, bias=has_bias, dtype=linear.weight.dtype)
    with torch.no_grad():
        folded.weight.copy_(linear.weight * scale[:, None])
        if has_bias:
            folded.bias.copy_((linear.bias - bn.running_mean) * scale + beta)
    return folded
