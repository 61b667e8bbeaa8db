# expect: fail: returned a Conv2d with
def fold_conv_bn(conv, bn):
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size).to(conv.weight.dtype)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        folded.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        b = conv.bias if conv.bias is not None else torch.zeros_like(scale)
        folded.bias.copy_((b - bn.running_mean) * scale + bn.bias)
    return folded
