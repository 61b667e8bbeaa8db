# expect: pass
def fold_conv_bn(conv, bn):
    with torch.no_grad():
        std = (bn.running_var + bn.eps).sqrt()
        scale = bn.weight / std
        out = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                        conv.padding, conv.dilation, bias=True, dtype=conv.weight.dtype)
        out.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        b = conv.bias if conv.bias is not None else 0.0
        out.bias.copy_(bn.bias + (b - bn.running_mean) * scale)
    return out
