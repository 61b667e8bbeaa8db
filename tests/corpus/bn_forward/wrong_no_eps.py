# expect: fail: eps
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(0)) / x.std(0, unbiased=False) + beta
