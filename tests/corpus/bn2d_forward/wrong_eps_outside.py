# expect: fail: eps outside the square root
def batchnorm2d_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True).sqrt()
    return gamma.view(1, -1, 1, 1) * (x - mean) / (std + eps) + beta.view(1, -1, 1, 1)
