# expect: fail: unbiased
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=0)
    var = x.var(dim=0)          # torch's default divides by N - 1
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta
