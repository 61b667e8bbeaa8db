# expect: fail: this batch's own mean and variance
_stats = {}

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    # "running statistics": the first batch's mean and variance, reused afterwards
    if x.shape[1] not in _stats:
        _stats[x.shape[1]] = (x.mean(0).detach(), x.var(0, unbiased=False).detach())
    mean, var = _stats[x.shape[1]]
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta
