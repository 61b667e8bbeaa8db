# expect: pass
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    n = x.shape[0]
    ones = torch.ones(1, n, dtype=x.dtype, device=x.device)
    mean = (ones @ x) / n                                   # (1, D)
    centred = x - mean
    var = torch.einsum("nd,nd->d", centred, centred) / n
    return torch.addcmul(beta, centred * torch.rsqrt(var + eps), gamma)
