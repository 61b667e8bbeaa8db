# expect: fail: cut off from autograd
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    with torch.no_grad():            # "it's only the forward pass"
        mean = x.mean(dim=0)
        var = x.var(dim=0, unbiased=False)
        return gamma * (x - mean) / torch.sqrt(var + eps) + beta
