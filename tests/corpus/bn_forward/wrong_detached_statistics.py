# expect: fail: the batch mean and variance were treated as constants
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    # statistics as constants: Ioffe & Szegedy's section 2 warns about exactly this
    mean = x.mean(dim=0).detach()
    var = x.var(dim=0, unbiased=False).detach()
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta
