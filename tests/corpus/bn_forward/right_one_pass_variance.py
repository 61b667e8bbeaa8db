# expect: pass
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    # E[x^2] - E[x]^2: the textbook one-pass variance
    mean = x.mean(dim=0)
    var = (x * x).mean(dim=0) - mean * mean
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta
