# expect: pass
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    """Compact form of the backward pass."""
    mean = x.mean(dim=0)
    var = x.var(dim=0, unbiased=False)
    std = torch.sqrt(var + eps)
    x_hat = (x - mean) / std
    dbeta = dout.sum(dim=0)
    dgamma = (dout * x_hat).sum(dim=0)
    dx = gamma / std * (dout - dout.mean(dim=0) - x_hat * (dout * x_hat).mean(dim=0))
    return dx, dgamma, dbeta
