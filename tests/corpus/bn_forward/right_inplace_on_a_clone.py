# expect: pass
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    # statistics from x, then in-place arithmetic on a copy: x is left alone, autograd can follow
    mean = x.mean(dim=0)
    std = torch.sqrt(x.var(dim=0, unbiased=False) + eps)
    y = x.clone()
    y -= mean
    y /= std
    y *= gamma
    y += beta
    return y
