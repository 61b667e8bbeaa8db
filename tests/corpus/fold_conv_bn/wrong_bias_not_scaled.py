# expect: fail: adds the convolution's bias without scaling it
def fold_conv_bn(conv, bn):
    folded = copy.deepcopy(conv)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        folded.weight.mul_(scale.view(-1, 1, 1, 1))
        shift = bn.bias - bn.running_mean * scale
        if conv.bias is not None:
            shift = shift + conv.bias
        folded.bias = nn.Parameter(shift)
    return folded
