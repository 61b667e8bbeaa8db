# expect: pass
def fold_conv_bn(conv, bn):
    scale = bn.weight.data * torch.rsqrt(bn.running_var + bn.eps)
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, kernel_size=conv.kernel_size, stride=conv.stride,
                       padding=conv.padding, dilation=conv.dilation).to(conv.weight.dtype)
    folded.weight.data = torch.einsum("oihw,o->oihw", conv.weight.data, scale)
    shift = bn.bias.data - bn.running_mean * scale
    if conv.bias is not None:
        shift = shift + conv.bias.data * scale
    folded.bias.data = shift
    return folded
