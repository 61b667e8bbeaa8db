# expect: fail: ignored its eps argument
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    x_hat = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)
    return gamma * x_hat + beta
