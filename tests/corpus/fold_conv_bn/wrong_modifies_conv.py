# expect: fail: returned conv itself
def fold_conv_bn(conv, bn):
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        b = conv.bias if conv.bias is not None else torch.zeros_like(scale)
        conv.bias = nn.Parameter((b - bn.running_mean) * scale + bn.bias)
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
    return conv
