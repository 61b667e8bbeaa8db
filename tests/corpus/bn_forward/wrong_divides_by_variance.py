# expect: fail: divided by the variance
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(0)) / (x.var(0, unbiased=False) + eps) + beta
