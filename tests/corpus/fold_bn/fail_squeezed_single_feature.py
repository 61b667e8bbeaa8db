# expect: fail: Linear(1, 4)
def fold_batchnorm(linear, bn):
    gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
    beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_var)
    b = linear.bias if linear.bias is not None else torch.zeros_like(bn.running_var)
    scale = gamma / torch.sqrt(bn.running_var + bn.eps)
    weight = (linear.weight.squeeze() * scale[:, None])  # squeeze() also drops in_features == 1
    folded = nn.Linear(linear.in_features, linear.out_features, dtype=linear.weight.dtype)
    with torch.no_grad():
        folded.weight.copy_(weight.reshape(linear.out_features, -1)[:, :linear.in_features])
        folded.bias.copy_((b - bn.running_mean) * scale + beta)
    return folded
