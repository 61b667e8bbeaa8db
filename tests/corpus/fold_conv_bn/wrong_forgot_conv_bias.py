# expect: fail: forgets the convolution's own bias
def fold_conv_bn(conv, bn):
    folded = copy.deepcopy(conv)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        folded.weight.mul_(scale.view(-1, 1, 1, 1))
        folded.bias = nn.Parameter(bn.bias - bn.running_mean * scale)
    return folded
