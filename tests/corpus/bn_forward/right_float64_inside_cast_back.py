# expect: pass
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    # compute in float64 for accuracy, hand back x's dtype (autograd follows .to())
    x64, g64, b64 = x.double(), gamma.double(), beta.double()
    mean = x64.mean(0)
    var = x64.var(0, unbiased=False)
    return (g64 * (x64 - mean) / torch.sqrt(var + eps) + b64).to(x.dtype)
