# expect: fail: ignored gamma and beta
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps)
