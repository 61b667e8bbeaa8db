# expect: fail: over the batch
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta
