# expect: fail: does not pass gradients back to gamma
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    return gamma.detach() * (x - mean) / torch.sqrt(var + eps) + beta
