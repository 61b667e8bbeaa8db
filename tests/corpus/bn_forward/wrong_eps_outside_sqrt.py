# expect: fail: eps outside the square root
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    return gamma * (x - mean) / (std + eps) + beta
