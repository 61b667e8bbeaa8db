# expect: fail: cut off from autograd
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    y = gamma * (x - mean) / torch.sqrt(var + eps) + beta
    return torch.tensor(y.tolist(), dtype=x.dtype)        # a fresh tensor: no history
