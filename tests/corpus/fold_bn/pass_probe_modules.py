# expect: pass
def fold_batchnorm(linear, bn):
    # Both layers in eval mode form one affine map; read it off at 0 and at the unit vectors.
    lin, norm = copy.deepcopy(linear), copy.deepcopy(bn).eval()
    dtype = linear.weight.dtype
    with torch.no_grad():
        zero = torch.zeros(1, linear.in_features, dtype=dtype)
        eye = torch.eye(linear.in_features, dtype=dtype)
        bias = norm(lin(zero))[0]
        weight = (norm(lin(eye)) - bias).T
        folded = nn.Linear(linear.in_features, linear.out_features, dtype=dtype)
        folded.weight.copy_(weight)
        folded.bias.copy_(bias)
    return folded
