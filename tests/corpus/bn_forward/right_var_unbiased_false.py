# expect: pass
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu = torch.mean(x, 0, keepdim=True)
    sigma2 = torch.var(x, 0, unbiased=False, keepdim=True)
    return gamma * (x - mu) * torch.rsqrt(sigma2 + eps) + beta
