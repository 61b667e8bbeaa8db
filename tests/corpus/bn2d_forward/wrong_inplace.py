# expect: fail: changed its input x in place
def batchnorm2d_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    x -= mean
    return gamma.view(1, -1, 1, 1) * x / torch.sqrt(var + eps) + beta.view(1, -1, 1, 1)
