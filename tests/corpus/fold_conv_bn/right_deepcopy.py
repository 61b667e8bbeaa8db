# expect: pass
def fold_conv_bn(conv, bn):
    folded = copy.deepcopy(conv)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    folded.weight = nn.Parameter((conv.weight * scale[:, None, None, None]).detach())
    folded.bias = nn.Parameter(((bias - bn.running_mean) * scale + bn.bias).detach())
    return folded
