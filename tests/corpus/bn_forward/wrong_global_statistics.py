# expect: fail: one mean and variance for the whole tensor
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean()
    var = x.var(unbiased=False)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta
