# expect: fail: instead of this BatchNorm's own eps
def fold_batchnorm(linear, bn):
    scale = bn.weight / torch.sqrt(bn.running_var + 1e-5)
    folded = nn.Linear(linear.in_features, linear.out_features, dtype=linear.weight.dtype)
    b = linear.bias if linear.bias is not None else 0
    with torch.no_grad():
        folded.weight.copy_(linear.weight * scale[:, None])
        folded.bias.copy_((b - bn.running_mean) * scale + bn.bias)
    return folded
