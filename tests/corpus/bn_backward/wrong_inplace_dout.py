# expect: fail: changed its input dout in place
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    mean = x.mean(0)
    std = torch.sqrt(x.var(0, unbiased=False) + eps)
    x_hat = (x - mean) / std
    dbeta = dout.sum(0)
    dgamma = (dout * x_hat).sum(0)
    dout -= dout.mean(0)
    dx = gamma / std * (dout - x_hat * (dout * x_hat).mean(0))
    return dx, dgamma, dbeta
