# expect: fail: changed linear.weight
def fold_batchnorm(linear, bn):
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    b = linear.bias if linear.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        linear.weight.mul_(scale[:, None])
        linear.bias = nn.Parameter((b - bn.running_mean) * scale + bn.bias)
    return linear
