# expect: fail: linear.bias passes through BatchNorm too
def fold_batchnorm(linear, bn):
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded = nn.Linear(linear.in_features, linear.out_features, dtype=linear.weight.dtype)
    with torch.no_grad():
        folded.weight.copy_(linear.weight * scale[:, None])
        folded.bias.copy_(bn.bias - bn.running_mean * scale)
    return folded
