# expect: fail: modified by an inplace operation
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    # in-place arithmetic on a copy leaves x alone, but var was computed from y: autograd needs the old y
    y = x.clone()
    mean = y.mean(dim=0)
    var = y.var(dim=0, unbiased=False)
    y -= mean
    y /= torch.sqrt(var + eps)
    y *= gamma
    y += beta
    return y
