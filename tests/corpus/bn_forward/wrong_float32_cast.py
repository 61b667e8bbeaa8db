# expect: fail: keep x's dtype
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    x = x.float()
    mean = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    return (gamma * (x - mean) / torch.sqrt(var + eps) + beta).float()
