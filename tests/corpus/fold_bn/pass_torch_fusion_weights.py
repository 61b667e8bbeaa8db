# expect: pass
from torch.nn.utils.fusion import fuse_linear_bn_weights

def fold_batchnorm(linear, bn):
    gamma = bn.weight if bn.affine else torch.ones_like(bn.running_var)
    beta = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    weight, bias = fuse_linear_bn_weights(linear.weight, linear.bias, bn.running_mean, bn.running_var,
                                          bn.eps, gamma, beta)
    folded = nn.Linear(linear.in_features, linear.out_features, dtype=linear.weight.dtype)
    folded.weight, folded.bias = weight, bias
    return folded
