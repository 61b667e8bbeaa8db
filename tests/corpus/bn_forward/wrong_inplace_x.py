# expect: fail: changed its input x in place
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    x -= mean
    x /= torch.sqrt(var + eps)
    return gamma * x + beta
